"""The AST as plain data, for the cache of parsed files: compact JSON that a checking decoder
turns back into AST nodes.

Nothing read back can run code: the decoder builds only the node classes of `ast` (a closed
registry, looked up by class name), each field from the value kind its annotation declares
(a node of the declared base class, a tuple of them, a string, an integer, a boolean, a decimal,
a date or datetime, or one of the literal values of `Literal.value`), and rejects anything else
with `TreeDecodeError`. Spans are stored as six integers and rebuilt over the `Source` of the
file being loaded, so the cached entry does not even hold the policy text.

A node is written `[class name, span or null, field values...]`; a literal value is a JSON
scalar, or `["d", "1.5"]` (decimal), `["D", "2022-10-01"]` (date), `["T", "2022-10-01T00:00Z"]`
(datetime).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import types
import typing
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from . import ast as A
from .diagnostics import NO_SPAN, Source, Span

ENCODING = 2  # bump on any change to the encoding itself


class TreeDecodeError(ValueError):
    """A stored tree that is not one this module writes (damaged, or from another format)."""


Decoder = Callable[[Any, Source], Any]
Encoder = Callable[[Any], Any]

_CLASSES = [
    cls
    for cls in vars(A).values()
    if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == A.__name__
]
# the closed registry, by name: every node class of `ast` (the ones with a span; `Expr` and
# `Item` are only bases)
_NODES: dict[str, type] = {
    cls.__name__: cls for cls in _CLASSES if any(f.name == "span" for f in dataclasses.fields(cls))
}


def _bad(what: str) -> TreeDecodeError:
    return TreeDecodeError(f"not a stored policy tree: {what}")


# ---- literal values ----


def _encode_scalar(v: Any) -> Any:
    if v is None or type(v) in (bool, int, str):
        return v
    if type(v) is Decimal:
        return ["d", str(v)]
    if type(v) is dt.datetime:
        return ["T", v.isoformat()]
    if type(v) is dt.date:
        return ["D", v.isoformat()]
    raise TypeError(f"no encoding for a {type(v).__name__} in a policy tree")


def _decode_scalar(v: Any, _src: Source) -> Any:
    if v is None or type(v) in (bool, int, str):
        return v
    if type(v) is list and len(v) == 2 and type(v[1]) is str:
        tag, text = v
        try:
            if tag == "d":
                return Decimal(text)
            if tag == "D":
                return dt.date.fromisoformat(text)
            if tag == "T":
                return dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    raise _bad("a literal value")


# ---- field kinds, from the annotations of the AST classes ----


def _exact(kind: type) -> tuple[Encoder, Decoder]:
    def encode(v: Any) -> Any:
        if type(v) is not kind:
            raise TypeError(f"expected {kind.__name__}, found {type(v).__name__}")
        return v

    def decode(v: Any, _src: Source) -> Any:
        if type(v) is not kind:
            raise _bad(f"expected {kind.__name__}")
        return v

    return encode, decode


def _decimal() -> tuple[Encoder, Decoder]:
    def encode(v: Any) -> Any:
        if type(v) is not Decimal:
            raise TypeError("expected a Decimal")
        return str(v)

    def decode(v: Any, _src: Source) -> Any:
        if type(v) is not str:
            raise _bad("a decimal")
        try:
            return Decimal(v)
        except ArithmeticError:
            raise _bad("a decimal") from None

    return encode, decode


def _optional(inner: tuple[Encoder, Decoder]) -> tuple[Encoder, Decoder]:
    enc, dec = inner

    def encode(v: Any) -> Any:
        return None if v is None else enc(v)

    def decode(v: Any, src: Source) -> Any:
        return None if v is None else dec(v, src)

    return encode, decode


def _tuple_of(inner: tuple[Encoder, Decoder]) -> tuple[Encoder, Decoder]:
    enc, dec = inner

    def encode(v: Any) -> Any:
        if type(v) is not tuple:
            raise TypeError("expected a tuple")
        return [enc(x) for x in v]

    def decode(v: Any, src: Source) -> Any:
        if type(v) is not list:
            raise _bad("expected a list")
        return tuple([dec(x, src) for x in v])

    return encode, decode


def _fixed(parts: list[tuple[Encoder, Decoder]]) -> tuple[Encoder, Decoder]:
    encs = [p[0] for p in parts]
    decs = [p[1] for p in parts]

    def encode(v: Any) -> Any:
        if type(v) is not tuple or len(v) != len(encs):
            raise TypeError("expected a pair")
        return [e(x) for e, x in zip(encs, v, strict=True)]

    def decode(v: Any, src: Source) -> Any:
        if type(v) is not list or len(v) != len(decs):
            raise _bad("expected a pair")
        return tuple([d(x, src) for d, x in zip(decs, v, strict=True)])

    return encode, decode


def _node(base: type) -> tuple[Encoder, Decoder]:
    # late-bound: the per-class codecs are made after every kind is known
    def encode(v: Any) -> Any:
        if not isinstance(v, base):
            raise TypeError(f"expected a {base.__name__} node")
        return _encode_node(v)

    def decode(v: Any, src: Source) -> Any:
        node = _decode_node(v, src)
        if not isinstance(node, base):
            raise _bad(f"expected a {base.__name__} node")
        return node

    return encode, decode


_SCALAR = (_encode_scalar, _decode_scalar)


def _encode_span(span: Any) -> list[int] | None:
    if not isinstance(span, Span):
        raise TypeError("expected a span")
    if span.source is None:
        return None
    return [span.line, span.col, span.end_line, span.end_col, span.start_pos, span.end_pos]


def _decode_span(where: Any, src: Source) -> Span:
    if where is None:
        return NO_SPAN
    if type(where) is not list or len(where) != 6 or any(type(x) is not int for x in where):
        raise _bad("a span")
    line, col, end_line, end_col, start, end = where
    return Span(src, line, col, end_line, end_col, start, end)


def _kind(t: Any) -> tuple[Encoder, Decoder]:
    origin = typing.get_origin(t)
    args = typing.get_args(t)
    if t is object:
        return _SCALAR
    if t in (str, int, bool):
        return _exact(t)
    if t is Decimal:
        return _decimal()
    if t is Span:
        return _encode_span, _decode_span
    if isinstance(t, type) and t in _CLASSES:
        return _node(t)
    if origin in (types.UnionType, typing.Union):
        rest = [a for a in args if a is not type(None)]
        inner: tuple[Encoder, Decoder] | None = None
        if all(a in (dt.date, dt.datetime) for a in rest):
            inner = _SCALAR
        if inner is None and len(rest) == 1:
            inner = _kind(rest[0])
        if inner is None:
            raise TypeError(f"no field kind for {t}")
        return _optional(inner) if len(rest) < len(args) else inner
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _tuple_of(_kind(args[0]))
        return _fixed([_kind(a) for a in args])
    raise TypeError(f"no field kind for {t}")


_FieldCodecs = tuple[tuple[str, Encoder, Decoder], ...]
_CLASS_FIELDS: dict[type, _FieldCodecs] = {}
for _cls in _NODES.values():
    _hints = typing.get_type_hints(_cls, vars(A))
    _CLASS_FIELDS[_cls] = tuple(
        (f.name, *_kind(_hints[f.name])) for f in dataclasses.fields(_cls) if f.name != "span"
    )


# the stored format names the AST classes' fields, so a tree stored by a build whose nodes
# differ is another format and is parsed again
FORMAT = (
    f"{ENCODING}:"
    + hashlib.sha256(
        repr(
            sorted(
                (c.__name__, [(f.name, str(f.type)) for f in dataclasses.fields(c)])
                for c in _CLASS_FIELDS
            )
        ).encode()
    ).hexdigest()[:16]
)


def _encode_node(node: Any) -> list[Any]:
    cls = type(node)
    codecs = _CLASS_FIELDS.get(cls)
    if codecs is None:
        raise TypeError(f"{cls.__name__} is not an AST class")
    return [
        cls.__name__,
        _encode_span(node.span),
        *[enc(getattr(node, name)) for name, enc, _dec in codecs],
    ]


def _decode_node(v: Any, src: Source) -> Any:
    if type(v) is not list or len(v) < 2:
        raise _bad("expected a node")
    cls = _NODES.get(v[0]) if type(v[0]) is str else None
    if cls is None:
        raise _bad("an unknown node class")
    codecs = _CLASS_FIELDS[cls]
    if len(v) != len(codecs) + 2:
        raise _bad(f"the fields of {v[0]}")
    span = _decode_span(v[1], src)
    values = {name: dec(x, src) for (name, _enc, dec), x in zip(codecs, v[2:], strict=True)}
    return cls(**values, span=span)


def encode_tree(tree: A.PolicyFile) -> bytes:
    """The tree as compact UTF-8 JSON; raises `TypeError` for a value with no encoding, and
    `RecursionError` for a tree nested too deeply (such a tree is simply not cached)."""
    return json.dumps(
        [FORMAT, _encode_node(tree)], separators=(",", ":"), ensure_ascii=False
    ).encode()


def decode_tree(data: bytes, source: Source) -> A.PolicyFile:
    """The tree stored by `encode_tree`, with spans over `source`; raises `TreeDecodeError`
    for anything else."""
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        raise _bad("not JSON") from None
    if type(doc) is not list or len(doc) != 2 or doc[0] != FORMAT:
        raise _bad("another format")
    try:
        tree = _decode_node(doc[1], source)
    except RecursionError:
        raise _bad("nested too deeply") from None
    except TypeError:  # a field value a node class refuses
        raise _bad("a field value") from None
    if not isinstance(tree, A.PolicyFile):
        raise _bad("not a policy file")
    return tree
