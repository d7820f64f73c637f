"""The canonical layout of policy files: `format_source(text)`, used by `clausewise fmt`.

The layout is printed from the AST, so it cannot change what a policy means: header fields one
per line in a fixed order, a blank line between items, two spaces of indentation, rules as
`rule name cites A1 "reason"` with `when` and `then` on their own lines, minimal parentheses,
strings re-escaped, and lists, records, calls and long conditions broken over lines only when a
line would be longer than 100 characters. Numbers, percentages, money, durations and dates are
written as the author wrote their value.

Comments are not in the AST: they are collected from the token stream and attached to the line
they trail or to the item, rule, row, field or list element they precede. A comment inside an
expression moves to the start of the enclosing line; no comment is ever dropped.

The result is checked before it is returned: it must parse to the same AST and keep every
comment, or `FormatError` is raised and nothing should be written.
"""

from __future__ import annotations

import bisect
import contextvars
import datetime as dt
import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import TypeAlias

import lark
from lark import Token, Tree

from . import ast as A
from .diagnostics import PolicySyntaxError
from .parser import GRAMMAR, parse

__all__ = ["WIDTH", "FormatError", "format_source"]

WIDTH = 100  # the longest line the layout aims for (long strings and comments may exceed it)
_INDENT = 2


class FormatError(Exception):
    """The formatter could not lay a file out without changing it (a bug: nothing is written)."""


def format_source(text: str, path: str = "<policy>") -> str:
    """The canonical layout of a policy or module.

    Raises `PolicySyntaxError` (with the located diagnostic) when `text` does not parse, and
    `FormatError` if the layout would change the AST or lose a comment.
    """
    tree = parse(text, path)
    scan = _Scan(text)
    draft = _Printer(scan, None)
    draft.file_doc(tree)
    attached = _attach(draft.root, scan.comments)
    result = _finish(_render(_Printer(scan, attached).file_doc(tree)))
    if result != text:
        _verify(tree, scan, result, path)
    return result


# Strings are skipped so that a `#` in one is not taken for a comment (strings have no newline).
_STRING_OR_COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


def _verify(tree: A.PolicyFile, scan: _Scan, result: str, path: str) -> None:
    try:
        again = parse(result, path)
    except PolicySyntaxError as e:
        raise FormatError(f"{path}: the formatted text does not parse:\n{e}") from None
    if again != tree:
        raise FormatError(f"{path}: formatting would change the meaning of the policy")
    before = Counter(c.text for c in scan.comments)
    found = (m.group(1) for m in _STRING_OR_COMMENT.finditer(result))
    after = Counter(c.rstrip() for c in found if c is not None)
    if before != after:
        differ = sorted(((before - after) + (after - before)).elements())
        raise FormatError(f"{path}: formatting would lose or duplicate comments: {differ}")


# ---- documents: a small Wadler/Prettier-style pretty printer ------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A place to break: `flat` when its group fits on the line, else a newline."""

    flat: str
    hard: bool = False


LINE = _Line(" ")
SOFT = _Line("")
HARD = _Line("", hard=True)


@dataclass(frozen=True, slots=True)
class _Indent:
    doc: Doc


@dataclass(frozen=True, slots=True)
class _Group:
    """Printed on one line when it fits, else with every line of its own broken."""

    doc: Doc
    broken: bool  # forced: it holds a comment or a hard line (nested groups decide for themselves)


@dataclass(frozen=True, slots=True)
class _IfBroken:
    text: str  # printed only when the enclosing group is broken (trailing commas)


@dataclass(frozen=True, slots=True)
class _Suffix:
    text: str  # printed at the end of the current line (trailing comments)


@dataclass(frozen=True, slots=True)
class _Chain:
    """`a + b - c`, `x == y`, `s ..< e`: operands joined by binary operators.

    Laid out as the first of: on one line; broken before every operator with each operand on
    one line; bracketed operands broken (`count(` ... `) > 0`); broken before every operator
    with the operands laying themselves out.
    """

    first: Doc
    rest: tuple[tuple[str, Doc], ...]
    bracketed: bool  # an operand is a call, list, record or comprehension

    def flat(self) -> list[Doc]:
        return [self.first, *([f" {op} ", d] for op, d in self.rest)]


class _BreakParent:
    """Forces the enclosing group to break (it comes with a trailing comment)."""


BREAK = _BreakParent()

Doc: TypeAlias = (
    "str | list[Doc] | _Line | _Indent | _Group | _Chain | _IfBroken | _Suffix | _BreakParent"
)

_FLAT, _BROKEN = 0, 1


def _group(*parts: Doc) -> _Group:
    doc = list(parts)
    return _Group(doc, _forces_break(doc))


def _forces_break(doc: Doc) -> bool:
    stack: list[Doc] = [doc]
    while stack:
        d = stack.pop()
        if d is BREAK or (isinstance(d, _Line) and d.hard):
            return True
        if isinstance(d, list):
            stack.extend(d)
        elif isinstance(d, _Indent):
            stack.append(d.doc)
    return False


def _join(sep: Doc, docs: list[Doc]) -> list[Doc]:
    out: list[Doc] = []
    for i, d in enumerate(docs):
        if i:
            out.append(sep)
        out.append(d)
    return out


_Cmd: TypeAlias = tuple[int, int, Doc]


def _render(doc: Doc, width: int = WIDTH) -> str:
    out: list[str] = []
    col = 0
    suffix: list[str] = []
    stack: list[_Cmd] = [(0, _BROKEN, doc)]
    while stack:
        ind, mode, d = stack.pop()
        if isinstance(d, str):
            out.append(d)
            col += len(d)
        elif isinstance(d, list):
            stack.extend((ind, mode, x) for x in reversed(d))
        elif isinstance(d, _Indent):
            stack.append((ind + _INDENT, mode, d.doc))
        elif isinstance(d, _Group):
            if d.broken:
                stack.append((ind, _BROKEN, d.doc))
            elif mode == _FLAT:
                stack.append((ind, _FLAT, d.doc))
            else:
                flat: _Cmd = (ind, _FLAT, d.doc)
                stack.append(flat if _fits(flat, stack, width - col) else (ind, _BROKEN, d.doc))
        elif isinstance(d, _Chain):
            stack.extend(reversed(_chain_layout(d, ind, mode, col, stack, width)))
        elif isinstance(d, _IfBroken):
            if mode == _BROKEN:
                out.append(d.text)
                col += len(d.text)
        elif isinstance(d, _Suffix):
            suffix.append(d.text)
        elif isinstance(d, _Line):
            if mode == _FLAT and not d.hard:
                out.append(d.flat)
                col += len(d.flat)
            else:
                out.extend(suffix)
                suffix.clear()
                out.append("\n" + " " * ind)
                col = ind
    out.extend(suffix)
    return "".join(out)


def _fits(first: _Cmd, rest: list[_Cmd], width: int) -> bool:
    """Whether `first` (flat) and what follows it up to the next line break fit in `width`."""
    cmds = [first]
    ri = len(rest)
    while width >= 0:
        if not cmds:
            if ri == 0:
                return True
            ri -= 1
            cmds.append(rest[ri])
            continue
        ind, mode, d = cmds.pop()
        if isinstance(d, str):
            width -= len(d)
        elif isinstance(d, list):
            cmds.extend((ind, mode, x) for x in reversed(d))
        elif isinstance(d, _Indent):
            cmds.append((ind, mode, d.doc))
        elif isinstance(d, _Group):
            cmds.append((ind, _BROKEN if d.broken else mode, d.doc))
        elif isinstance(d, _Chain):
            cmds.append((ind, mode, d.flat()))
        elif isinstance(d, _IfBroken):
            if mode == _BROKEN:
                width -= len(d.text)
        elif isinstance(d, _Line):
            if mode == _BROKEN or d.hard:
                return True
            width -= len(d.flat)
    return False


def _chain_layout(
    d: _Chain, ind: int, mode: int, col: int, rest: list[_Cmd], width: int
) -> list[_Cmd]:
    """The commands that print a chain, in order (see `_Chain`)."""
    flat: _Cmd = (ind, _FLAT, d.flat())
    if mode == _FLAT or _fits(flat, rest, width - col):
        return [flat]
    inner = ind + _INDENT

    def broken(operands: int) -> list[_Cmd]:
        # the first operand, if it breaks too, goes one level deeper than these operators
        cmds: list[_Cmd] = [(inner, operands, d.first)]
        for op, x in d.rest:
            cmds += [(inner, _BROKEN, HARD), (inner, operands, [f"{op} ", x])]
        return cmds

    one_line_each = _fits((ind, _FLAT, d.first), [], width - col) and all(
        _fits((inner, _FLAT, [f"{op} ", x]), rest if k == len(d.rest) - 1 else [], width - inner)
        for k, (op, x) in enumerate(d.rest)
    )
    if one_line_each:
        return broken(_FLAT)
    if d.bracketed:
        return [(ind, _BROKEN, d.flat())]
    return broken(_BROKEN)


def _finish(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.split("\n")).strip("\n") + "\n"


# ---- the token stream: positions of every token, and the comments ------------------------

_COMMENT_SINK: contextvars.ContextVar[list[Token]] = contextvars.ContextVar("_COMMENT_SINK")


def _on_comment(tok: Token) -> Token:
    _COMMENT_SINK.get().append(tok)
    return tok


@functools.cache
def _lossless() -> lark.Lark:
    # The same grammar, keeping every token (keywords and punctuation too) and handing comments
    # to a callback: the AST parser drops both.
    return lark.Lark(
        GRAMMAR.read_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        keep_all_tokens=True,
        lexer_callbacks={"COMMENT": _on_comment},
        cache=True,
    )


@dataclass(frozen=True, slots=True)
class _Comment:
    text: str
    pos: int
    trailing: bool  # code precedes it on its line
    prev_start: int  # start of the token before it (-1: none)
    blank_before: bool
    blank_after: bool


class _Scan:
    """A lossless parse of the text: every token with its position, and every comment."""

    def __init__(self, text: str):
        sink: list[Token] = []
        reset = _COMMENT_SINK.set(sink)
        try:
            self.tree = _lossless().parse(text)
        finally:
            _COMMENT_SINK.reset(reset)
        self.text = text
        toks = self.tree.scan_values(lambda v: isinstance(v, Token))
        self.tokens: list[Token] = sorted(toks, key=lambda t: t.start_pos or 0)
        self._by_start = {t.start_pos: i for i, t in enumerate(self.tokens)}
        self._by_end = {t.end_pos: i for i, t in enumerate(self.tokens)}
        self._ends = [t.end_pos or 0 for t in self.tokens]
        self.comments = self._comments(sink)

    def _comments(self, raw: list[Token]) -> list[_Comment]:
        marks = [(t.start_pos or 0, t.line or 0, t.end_line or 0, -1) for t in self.tokens]
        marks += [(c.start_pos or 0, c.line or 0, c.end_line or 0, i) for i, c in enumerate(raw)]
        marks.sort()
        out: list[_Comment] = []
        for k, (pos, line, _, ci) in enumerate(marks):
            if ci < 0:
                continue
            prev = marks[k - 1] if k else None
            nxt = marks[k + 1] if k + 1 < len(marks) else None
            prev_tok = self.prev_token(pos)
            out.append(
                _Comment(
                    text=str(raw[ci]).rstrip(),
                    pos=pos,
                    trailing=prev is not None and prev[3] < 0 and prev[2] == line,
                    prev_start=prev_tok.start_pos or 0 if prev_tok is not None else -1,
                    blank_before=prev is not None and line - prev[2] >= 2,
                    blank_after=nxt is not None and nxt[1] - line >= 2,
                )
            )
        return out

    def prev_token(self, pos: int) -> Token | None:
        i = bisect.bisect_right(self._ends, pos)
        return self.tokens[i - 1] if i else None

    def at(self, pos: int) -> int:
        """The index of the token starting at `pos`."""
        return self._by_start[pos]

    def ending(self, pos: int) -> int:
        """The index of the token ending at `pos`."""
        return self._by_end[pos]

    def start(self, i: int) -> int:
        return self.tokens[i].start_pos or 0

    def end(self, i: int) -> int:
        return self.tokens[i].end_pos or 0

    def bounds(self, node: object) -> tuple[int, int]:
        """The first and last token indexes of a node."""
        span = A.span_of(node)
        return self.at(span.start_pos), self.ending(span.end_pos)

    def extent(self, node: object, lo: int, hi: int) -> tuple[int, int]:
        """A node's first and last token indexes, with the parentheses around it (within lo..hi)."""
        i, j = self.bounds(node)
        while (
            i - 1 >= lo and j + 1 <= hi and self.tokens[i - 1] == "(" and self.tokens[j + 1] == ")"
        ):
            i, j = i - 1, j + 1
        return i, j

    def find(self, value: str, lo: int) -> int:
        """The first token equal to `value` from index `lo` on."""
        i = lo
        while self.tokens[i] != value:
            i += 1
        return i

    def match_open(self, close: int) -> int:
        """The index of the bracket that the bracket at `close` closes."""
        depth = 0
        for i in range(close, -1, -1):
            tok = self.tokens[i]
            if tok in (")", "]", "}"):
                depth += 1
            elif tok in ("(", "[", "{"):
                depth -= 1
                if depth == 0:
                    return i
        raise ValueError("unbalanced brackets")

    def literal(self, node: object, kinds: tuple[str, ...]) -> str | None:
        """The text of the literal token a node starts with, if it is of one of `kinds`."""
        span = A.span_of(node)
        if span.source is None or span.source.text != self.text:
            return None
        i = self._by_start.get(span.start_pos)
        if i is None or self.tokens[i].type not in kinds:
            return None
        return str(self.tokens[i])

    @functools.cached_property
    def header_fields(self) -> dict[str, list[tuple[int, int]]]:
        """Header field kind (`h_version`...) -> the token ranges of its occurrences."""
        out: dict[str, list[tuple[int, int]]] = {}
        head = self.tree.children[0]
        if isinstance(head, Tree):
            for child in head.children:
                if isinstance(child, Tree) and child.meta.end_pos > child.meta.start_pos:
                    rng = (self.at(child.meta.start_pos), self.ending(child.meta.end_pos))
                    out.setdefault(str(child.data), []).append(rng)
        return out

    @functools.cached_property
    def agg_funcs(self) -> dict[int, str]:
        """Start of an aggregate call -> the source text of what is called."""
        out: dict[int, str] = {}
        for t in self.tree.find_data("agg_call"):
            func = t.children[0]
            if isinstance(func, Token):
                out[t.meta.start_pos] = str(func)
            elif isinstance(func, Tree):
                out[t.meta.start_pos] = self.text[func.meta.start_pos : func.meta.end_pos]
        return out


# ---- where comments go ---------------------------------------------------------------------


@dataclass(eq=False)
class _Anchor:
    """A place comments can be attached to.

    A line anchor (an item, a header field, a rule, a part of a rule, a table row, a list
    element, a record field...) always starts a line of the output: comments go before it
    (`leading`) or at the end of its last line (`trailing`). A block (a bracketed list, record,
    call or body) keeps comments right after its opening bracket and before its closing one.
    """

    key: tuple[object, ...]
    start: int
    end: int
    line: bool
    open_pos: int = -1
    children: list[_Anchor] = field(default_factory=list)


@dataclass
class _Attached:
    leading: list[_Comment] = field(default_factory=list)
    trailing: list[_Comment] = field(default_factory=list)
    open: list[_Comment] = field(default_factory=list)
    end: list[_Comment] = field(default_factory=list)


_NONE = _Attached()
_ROOT = ("file",)


def _attach(root: _Anchor, comments: list[_Comment]) -> dict[tuple[object, ...], _Attached]:
    """Where each comment goes, within the innermost anchor around it: a comment after code on
    its line trails the last line anchor before it (or the opening bracket of a block); any
    other comment goes before the next line anchor, else before the closing bracket, else (in
    a line anchor: inside an expression) before the line anchor itself."""
    out: dict[tuple[object, ...], _Attached] = {}

    def get(a: _Anchor) -> _Attached:
        return out.setdefault(a.key, _Attached())

    for c in comments:
        path = [root]
        while True:
            inner = next((a for a in path[-1].children if a.start < c.pos < a.end), None)
            if inner is None:
                break
            path.append(inner)
        scope = path[-1]
        lines = sorted((a for a in scope.children if a.line), key=lambda a: a.start)
        if c.trailing:
            before = [a for a in lines if a.end <= c.pos]
            if before and not get(before[-1]).trailing:
                get(before[-1]).trailing.append(c)
                continue
            after_open = not scope.line and c.prev_start == scope.open_pos
            if not before and after_open and not get(scope).open:
                get(scope).open.append(c)
                continue
        after = [a for a in lines if a.start > c.pos]
        if after:
            get(after[0]).leading.append(c)
        elif not scope.line:
            get(scope).end.append(c)
        else:
            get(scope).leading.append(c)
    return out


# ---- printing ------------------------------------------------------------------------------

_NAME = re.compile(r"[a-z_][a-zA-Z0-9_]*")
_ONE = A.Literal(1, "int")


@functools.cache
def _bare_key(key: str) -> bool:
    """Whether a record key can be written without quotes (a name that is no keyword there)."""
    if not _NAME.fullmatch(key):
        return False
    try:
        f = parse(f'policy "k"\nlet k = {{{key}: 1, {key}: 1}}\n')
    except PolicySyntaxError:
        return False
    body = f.items[0].body if f.items and isinstance(f.items[0], A.Let) else None
    return body == A.RecordLit(((key, _ONE), (key, _ONE)))


def _quote(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _decimal_text(d: Decimal) -> str:
    text = format(d, "f")
    return text if "." in text else text + ".0"


def _literal_value(e: A.Literal) -> str:
    """A literal written from its value (when the source token is not at hand)."""
    v = e.value
    if e.kind == "percent" and isinstance(v, Decimal):
        text = format((v * 100).normalize(), "f")
        return text + "%"
    if e.kind == "decimal" and isinstance(v, Decimal):
        return _decimal_text(v)
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


# Binding strength: an operand weaker than its operator wants is parenthesised.
_IF, _IMPLIES, _OR, _AND, _NOT, _CMP, _RANGE, _COALESCE, _SUM, _PRODUCT, _NEG, _POSTFIX, _ATOM = (
    range(13)
)
_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
_ARITH = {"??": _COALESCE, "+": _SUM, "-": _SUM, "*": _PRODUCT, "/": _PRODUCT}
# What the left and right operands of a binary operator of each strength must bind at least.
_OPERANDS = {
    _CMP: (_RANGE, _RANGE),
    _RANGE: (_COALESCE, _COALESCE),
    _COALESCE: (_COALESCE, _SUM),
    _SUM: (_SUM, _PRODUCT),
    _PRODUCT: (_PRODUCT, _NEG),
}


def _prec(e: A.Expr) -> int:
    match e:
        case A.If() | A.With():
            return _IF
        case A.BoolOp(op="implies"):
            return _IMPLIES
        case A.BoolOp(op="or"):
            return _OR
        case A.BoolOp():
            return _AND
        case A.Unary(op="not"):
            return _NOT
        case A.Unary():
            return _NEG
        case A.IsNull():
            return _CMP
        case A.Binary(op=op):
            return _CMP if op in _COMPARE else _ARITH[op]
        case A.RangeExpr():
            return _RANGE
        case A.Field() | A.Index() | A.Call() | A.AggCall():
            return _POSTFIX
    return _ATOM


_Key: TypeAlias = tuple[object, ...]
_Item: TypeAlias = tuple[int, int, Callable[[], Doc]]


class _Printer:
    """Builds the document of a file. Run twice: first without comments, to register the
    anchors, then with the comments attached to them."""

    def __init__(self, scan: _Scan, attached: dict[_Key, _Attached] | None):
        self.scan = scan
        self.attached = attached
        self.root = _Anchor(_ROOT, -1, len(scan.text) + 1, line=False)
        self._stack = [self.root]
        self._quiet = 0

    # ---- anchors ----
    @contextmanager
    def _anchor(
        self, key: _Key, start: int, end: int, *, line: bool = True, open_pos: int = -1
    ) -> Iterator[None]:
        if self.attached is not None or self._quiet:
            yield
            return
        a = _Anchor(key, start, end, line, open_pos)
        self._stack[-1].children.append(a)
        self._stack.append(a)
        try:
            yield
        finally:
            self._stack.pop()

    @contextmanager
    def _no_anchors(self) -> Iterator[None]:
        self._quiet += 1
        try:
            yield
        finally:
            self._quiet -= 1

    def _att(self, key: _Key) -> _Attached:
        if self.attached is None or self._quiet:
            return _NONE
        return self.attached.get(key, _NONE)

    def _line(self, tag: str, i: int, j: int, build: Callable[[], Doc]) -> Doc:
        """A line anchor over tokens i..j: its leading comments, itself, its trailing comment."""
        key = (tag, self.scan.start(i), self.scan.end(j))
        with self._anchor(key, self.scan.start(i), self.scan.end(j)):
            body = build()
        att = self._att(key)
        return [*_leading(att.leading), body, *_trailing(att.trailing)]

    def _bracketed(
        self,
        open_i: int,
        close_i: int,
        items: list[_Item],
        *,
        comma: bool,
        pack: bool,
        hug: bool = False,
    ) -> Doc:
        """`[a, b]`, `{k: v}`, `f(a, b)`: on one line if it fits, else one element per line (with
        `pack`, first all the elements together on a line of their own)."""
        scan = self.scan
        key = ("brackets", scan.start(open_i), scan.end(close_i))
        with self._anchor(
            key, scan.start(open_i), scan.end(close_i), line=False, open_pos=scan.start(open_i)
        ):
            docs = [self._line("elem", i, j, b) for i, j, b in items]
        att = self._att(key)
        opening, closing = str(scan.tokens[open_i]), str(scan.tokens[close_i])
        if not docs and not att.open and not att.end:
            return opening + closing
        if hug and len(docs) == 1 and not att.open and not att.end:
            only = self._att(("elem", scan.start(items[0][0]), scan.end(items[0][1])))
            if not only.leading and not only.trailing:
                return [opening, docs[0], closing]  # `f([` ... `])`: the argument breaks instead
        elems: list[Doc] = _join([",", LINE], docs)
        if docs and comma:
            elems.append(_IfBroken(","))
        if pack:
            inner = _group(*elems)
            elems = [inner]
        body: list[Doc] = [SOFT, *elems] if docs else []
        body += _ending(att.end)
        outer = [opening, *_trailing(att.open), _Indent(body), SOFT, closing]
        return _Group(outer, _forces_break(outer) or (pack and inner.broken))

    def _block(self, open_i: int, close_i: int, items: list[Doc]) -> Doc:
        """A `{ ... }` body of a decision or table: one element per line."""
        scan = self.scan
        key = ("block", scan.start(open_i), scan.end(close_i))
        att = self._att(key)
        body: list[Doc] = []
        for d in items:
            body += [HARD, d]
        body += _ending(att.end)
        if not body and not att.open:
            return "{}"
        return ["{", *_trailing(att.open), _Indent(body), HARD, "}"]

    @contextmanager
    def _block_anchor(self, open_i: int, close_i: int) -> Iterator[None]:
        s, e = self.scan.start(open_i), self.scan.end(close_i)
        with self._anchor(("block", s, e), s, e, line=False, open_pos=s):
            yield

    # ---- the file ----
    def file_doc(self, f: A.PolicyFile) -> Doc:
        parts: list[Doc] = [self._header(f.header)]
        if f.imports:
            parts.append(HARD)
            for imp in f.imports:
                i, j = self.scan.bounds(imp)
                text = f"import {_quote(imp.path)} as {imp.alias}"
                parts += [HARD, self._line("import", i, j, partial(str, text))]
        for item in f.items:
            i, j = self.scan.bounds(item)
            parts += [HARD, HARD, self._line("item", i, j, partial(self._item, item))]
        for c in self._att(_ROOT).end:
            parts += [HARD, HARD, c.text] if c.blank_before else [HARD, c.text]
        return parts

    def _header(self, h: A.Header) -> Doc:
        scan = self.scan
        fields = scan.header_fields
        out: list[Doc] = [self._line("head", 0, 1, lambda: f"{h.kind} {_quote(h.id)}")]

        def add(kind: str, text: str, rng: tuple[int, int] | None = None) -> None:
            occurrences = fields.get(kind)
            if rng is None and occurrences:
                rng = occurrences[-1]  # a repeated field: the last one counts
            if rng is None:
                out.extend([HARD, text])
            else:
                out.extend([HARD, self._line(kind, rng[0], rng[1], lambda: text)])

        if h.version is not None:
            add("h_version", f"version {_quote(h.version)}")
        if h.title is not None:
            add("h_title", f"title {_quote(h.title)}")
        if h.source_doc is not None:
            add("h_source", f"source {_quote(h.source_doc)}")
        if h.input_schema is not None:
            add("h_input", f"input schema {_quote(h.input_schema)}")
        if h.output_schema is not None:
            add("h_output", f"output schema {_quote(h.output_schema)}")
        if h.effective is not None:
            add("h_effective", self._effective(h.effective, fields.get("h_effective")))
        for oos in h.out_of_scope:
            add(
                "h_out_of_scope",
                f"out of scope {oos.clause} {_quote(oos.reason)}",
                scan.bounds(oos),
            )
        if h.cost is not None:
            add("h_cost", f"cost {_quote(h.cost.cost_class)} {_quote(h.cost.reason)}")
        return out

    def _effective(self, e: A.Effective, occurrences: list[tuple[int, int]] | None) -> str:
        instants: list[str] = []
        if occurrences:
            i, j = occurrences[-1]
            instants = [
                str(t) for t in self.scan.tokens[i : j + 1] if t.type in ("DATE", "DATETIME")
            ]
        text = "effective"
        for word, value, pick in (("from", e.start, 0), ("until", e.until, -1)):
            if value is not None:
                written = instants[pick] if instants else _instant_value(value)
                text += f" {word} {written}"
        if e.zone is not None:
            text += f" in {_quote(e.zone)}"
        return text

    # ---- items ----
    def _item(self, item: A.Item) -> Doc:
        match item:
            case A.Let():
                return self._let(item)
            case A.Rule():
                return self._rule(item)
            case A.Decision():
                return self._decision(item)
            case A.Table():
                return self._table(item)
            case A.Invariant():
                return self._invariant(item)
            case A.Require():
                return self._require(item)
            case A.Output():
                return ["output ", self.expr(item.body)]
        raise TypeError(f"unknown item {type(item).__name__}")

    def _let(self, x: A.Let) -> Doc:
        return ["let ", x.name, _params(x.params), " = ", self.expr(x.body)]

    def _rule(self, r: A.Rule) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(r)
        wi, wj = scan.extent(r.when, lo, hi)
        head = f"rule {r.name}{_params(r.params)}{_cites(r.cites)}"
        if r.priority is not None:
            head += f" priority {r.priority}"
        reason = _quote(r.reason)
        parts: list[Doc] = [
            HARD,
            self._line("when", wi - 1, wj, lambda: ["when ", self.expr(r.when)]),
        ]
        if r.then is not None:
            then = r.then
            ti, tj = scan.extent(then, lo, hi)
            parts += [HARD, self._line("then", ti - 1, tj, lambda: ["then ", self.expr(then)])]
        # A head too long for one line puts its reason on the next.
        head_doc = self._line(
            "rule-head", lo, wi - 2, lambda: _group(head, _Indent([LINE, reason]))
        )
        return [head_doc, _Indent(parts)]

    def _decision(self, d: A.Decision) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(d)
        brace = scan.find("{", lo)
        head = f"decision {d.name}{_params(d.params)} {d.strategy}{_cites(d.cites)}"
        items: list[Doc] = []
        with self._block_anchor(brace, hi):
            for r in d.rules:
                i, j = scan.bounds(r)
                items.append(self._line("rule", i, j, partial(self._rule, r)))
            if d.default is not None:
                default = d.default
                di, dj = scan.extent(default, brace + 1, hi - 1)
                items.append(self._line("else", di - 1, dj, lambda: ["else ", self.expr(default)]))
        return [self._line("head", lo, brace, lambda: head), " ", self._block(brace, hi, items)]

    def _table(self, t: A.Table) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(t)
        brace = scan.find("{", lo)
        head = f"table {t.name}{_params(t.params or None)}"
        if t.hit != "unique":
            head += f" {t.hit}"
        head += _cites(t.cites)
        cells = [None if r.cells is None else [self._cell(c) for c in r.cells] for r in t.rows]
        widths: dict[int, int] = {}
        for row in cells:
            for k, text in enumerate(row or ()):
                widths[k] = max(widths.get(k, 0), len(text))
        items: list[Doc] = []
        with self._block_anchor(brace, hi):
            for r, row in zip(t.rows, cells, strict=True):
                i, j = scan.bounds(r)
                if row is None:
                    lead = "else => "
                else:
                    padded = [text.ljust(widths[k]) for k, text in enumerate(row)]
                    lead = "| " + " | ".join(padded) + " => "
                items.append(self._line("row", i, j, partial(self._row, lead, r.result)))
        return [self._line("head", lo, brace, lambda: head), " ", self._block(brace, hi, items)]

    def _row(self, lead: str, result: A.Expr) -> Doc:
        return [lead, self.expr(result)]

    def _cell(self, c: A.Cell) -> str:
        with self._no_anchors():
            if c.kind == "any":
                return "-"
            if c.kind == "cmp":
                doc: Doc = [str(c.op), " ", self.expr(c.values[0], _SUM)]
            elif c.kind == "range":
                op = " ..< " if c.half_open else " .. "
                doc = [self.expr(c.values[0], _SUM), op, self.expr(c.values[1], _SUM)]
            else:
                doc = _join(", ", [self.expr(v, _SUM) for v in c.values])
            return _render(doc, 10**9)

    def _invariant(self, inv: A.Invariant) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(inv)
        bi, bj = scan.extent(inv.body, lo, hi)
        head = f"invariant {inv.name}{_cites(inv.cites)}"
        description = _quote(inv.description) + ":"
        body = self._line("body", bi, bj, lambda: self.expr(inv.body))
        head_doc = self._line(
            "head", lo, bi - 1, lambda: _group(head, _Indent([LINE, description]))
        )
        return [head_doc, _Indent([HARD, body])]

    def _require(self, req: A.Require) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(req)
        ci, cj = scan.extent(req.cond, lo, hi)
        ai, _ = scan.extent(req.at, lo, hi)

        def head() -> Doc:
            out: list[Doc] = ["require ", req.code, _cites(req.cites)]
            for fc in req.fors:
                out += [" for ", fc.var, " in ", self.expr(fc.source)]
                if fc.where is not None:
                    out += [" where ", self.expr(fc.where)]
            out.append(":")
            return out

        cond = self._line("cond", ci, cj, lambda: self.expr(req.cond))
        at = self._line(
            "at", ai - 1, hi, lambda: ["at ", self.expr(req.at), " ", _quote(req.message)]
        )
        return [self._line("head", lo, ci - 1, head), _Indent([HARD, cond, HARD, at])]

    # ---- expressions ----
    def expr(self, e: A.Expr, min_prec: int = _IF) -> Doc:
        doc = self._expr(e)
        return ["(", doc, ")"] if _prec(e) < min_prec else doc

    def _expr(self, e: A.Expr) -> Doc:
        match e:
            case A.Literal():
                return self._literal(e)
            case A.MoneyLit(amount=amount, currency=currency):
                number = self.scan.literal(e, ("NUMBER",)) or format(amount, "f")
                return f"{number} {currency}"
            case A.DurationLit(count=count, unit=unit):
                number = self.scan.literal(e, ("NUMBER",)) or str(count)
                return f"{number} {unit[:-1] if count == 1 else unit}"
            case A.Name(id=name):
                return name
            case A.InputRef():
                return "input"
            case A.OutputRef():
                return "output"
            case A.Field(obj=obj, name=name):
                return [self.expr(obj, _POSTFIX), ".", name]
            case A.Index(obj=obj, index=index):
                return [self.expr(obj, _POSTFIX), "[", self.expr(index), "]"]
            case A.Call():
                return self._call(e)
            case A.AggCall(comp=comp):
                func = self._agg_func(e)
                return _group(
                    func, "(", _Indent([SOFT, self._comp(comp, self.expr(comp.elem))]), SOFT, ")"
                )
            case A.ListComp(comp=comp):
                return _group(
                    "[", _Indent([SOFT, self._comp(comp, self.expr(comp.elem))]), SOFT, "]"
                )
            case A.MapComp(key=key, comp=comp):
                lead = [self.expr(key), " => ", self.expr(comp.elem)]
                return _group("{", _Indent([SOFT, self._comp(comp, lead)]), SOFT, "}")
            case A.ListLit():
                return self._list(e)
            case A.RecordLit():
                return self._record(e)
            case A.Unary(op="not", operand=x):
                return ["not ", self.expr(x, _NOT)]
            case A.Unary(operand=x):
                return ["- " if isinstance(x, A.Unary) else "-", self.expr(x, _NEG)]
            case A.IsNull(operand=x, negated=negated):
                return [self.expr(x, _RANGE), " is not null" if negated else " is null"]
            case A.Binary() | A.RangeExpr():
                return self._chain(e)
            case A.BoolOp(op="implies", operands=(a, b)):
                # right-associative: `a implies b implies c` is `a implies (b implies c)`
                left, right = self.expr(a, _OR), self.expr(b, _IMPLIES)
                return _group(_Indent(left), _Indent([LINE, "implies ", right]))
            case A.BoolOp(op=op, operands=operands):
                need = _AND if op == "or" else _NOT
                first, *rest = [self.expr(x, need) for x in operands]
                return _group(_Indent(first), _Indent([[LINE, f"{op} ", d] for d in rest]))
            case A.If():
                return self._if(e)
            case A.With(bindings=bindings, body=body):
                heads: list[Doc] = []
                for i, (name, value) in enumerate(bindings):
                    heads += [", " if i else "", name, " = ", self.expr(value)]
                return _group("with ", *heads, ":", _Indent([LINE, self.expr(body)]))
        raise TypeError(f"unknown expression {type(e).__name__}")

    def _literal(self, e: A.Literal) -> str:
        if e.kind == "bool":
            return "true" if e.value else "false"
        if e.kind == "null":
            return "null"
        if e.kind == "string" and isinstance(e.value, str):
            return _quote(e.value)
        token = {"percent": "PERCENT", "date": "DATE", "datetime": "DATETIME"}
        token["local_datetime"] = "DATETIME"
        written = self.scan.literal(e, (token.get(e.kind, "NUMBER"),))
        return written if written is not None else _literal_value(e)

    def _chain(self, e: A.Expr) -> Doc:
        level = _prec(e)
        ops: list[str] = []
        operands: list[A.Expr] = []
        x = e
        while True:
            if isinstance(x, A.RangeExpr):
                op, left, right = ("..<" if x.half_open else ".."), x.start, x.end
            else:
                assert isinstance(x, A.Binary)
                op, left, right = x.op, x.left, x.right
            ops.append(op)
            operands.append(right)
            if level in _ARITH.values() and isinstance(left, A.Binary) and _prec(left) == level:
                x = left  # `a + b - c`: one chain of left-associative operators
                continue
            operands.append(left)
            break
        operands.reverse()
        ops.reverse()
        need_left, need_right = _OPERANDS[level]
        first = self.expr(operands[0], need_left)
        rest = tuple(
            (op, self.expr(o, need_right)) for op, o in zip(ops, operands[1:], strict=True)
        )
        return _Chain(first, rest, any(_bracketed(o) for o in operands))

    def _if(self, e: A.If) -> Doc:
        rest: list[Doc] = []
        orelse = e.orelse
        while isinstance(orelse, A.If):
            rest += [LINE, "else if ", self.expr(orelse.cond), " then ", self.expr(orelse.then)]
            orelse = orelse.orelse
        rest += [LINE, "else ", self.expr(orelse)]
        return _group("if ", self.expr(e.cond), " then ", self.expr(e.then), _Indent(rest))

    def _comp(self, c: A.Comprehension, lead: Doc) -> Doc:
        tail: list[Doc] = ["for ", c.var, " in ", self.expr(c.source)]
        if c.where is not None:
            tail += [LINE, "where ", self.expr(c.where)]
        if c.order is not None:
            tail += [LINE, "order by ", self.expr(c.order), " desc" if c.descending else ""]
        if c.by is not None:
            tail += [LINE, "by ", self.expr(c.by)]
        return [lead, LINE, _group(*tail)]

    def _agg_func(self, e: A.AggCall) -> Doc:
        if e.func:
            return e.func
        # Something other than a plain name is called (a check error): keep what was written.
        text = self.scan.agg_funcs.get(A.span_of(e).start_pos, "input")
        wrapped = f'policy "f"\nlet f = {text}\n'
        sub = parse(wrapped)
        let = sub.items[0]
        assert isinstance(let, A.Let)
        return _Printer(_Scan(wrapped), {}).expr(let.body, _POSTFIX)

    def _call(self, e: A.Call) -> Doc:
        scan = self.scan
        func = self.expr(e.func, _POSTFIX)
        close = scan.ending(A.span_of(e).end_pos)
        open_ = scan.match_open(close)
        items: list[_Item] = [
            (*scan.extent(a, open_ + 1, close - 1), partial(self.expr, a)) for a in e.args
        ]
        hug = len(e.args) == 1 and _hugs(e.args[0])
        return [func, self._bracketed(open_, close, items, comma=False, pack=True, hug=hug)]

    def _list(self, e: A.ListLit) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(e)
        items: list[_Item] = [
            (*scan.extent(x, lo + 1, hi - 1), partial(self.expr, x)) for x in e.items
        ]
        return self._bracketed(lo, hi, items, comma=True, pack=True)

    def _record(self, e: A.RecordLit) -> Doc:
        scan = self.scan

        def field_doc(key: str, value: A.Expr) -> Doc:
            written = key if _bare_key(key) else _quote(key)
            return [written, ": ", self.expr(value)]

        lo, hi = scan.bounds(e)
        items: list[_Item] = []
        for key, value in e.fields:
            vi, vj = scan.extent(value, lo + 1, hi - 1)
            items.append((vi - 2, vj, partial(field_doc, key, value)))
        return self._bracketed(lo, hi, items, comma=True, pack=False)


def _hugs(e: A.Expr) -> bool:
    """A lone argument that can open on the line of the call: `f([`, `f({`."""
    match e:
        case A.ListLit(items=items):
            return bool(items)
        case A.RecordLit(fields=fields):
            return bool(fields)
        case A.ListComp() | A.MapComp():
            return True
    return False


def _bracketed(e: A.Expr) -> bool:
    match e:
        case A.Call() | A.AggCall() | A.ListLit() | A.RecordLit() | A.ListComp() | A.MapComp():
            return True
        case A.Field(obj=inner) | A.Index(obj=inner) | A.Unary(operand=inner):
            return _bracketed(inner)
    return False


def _instant_value(v: dt.date | dt.datetime) -> str:
    if isinstance(v, dt.datetime) and v.tzinfo is not None and v.utcoffset() == dt.timedelta(0):
        return v.isoformat().replace("+00:00", "Z")
    return v.isoformat()


def _params(params: tuple[A.Param, ...] | None) -> str:
    if params is None:
        return ""
    return "(" + ", ".join(_param(p) for p in params) + ")"


def _param(p: A.Param) -> str:
    return p.name if p.type is None else f"{p.name}: {_type(p.type)}"


def _type(t: A.TypeRef) -> str:
    text = t.name if t.arg is None else f"{t.name}[{_type(t.arg)}]"
    return text + "?" if t.nullable else text


def _cites(cites: tuple[str, ...]) -> str:
    return f" cites {', '.join(cites)}" if cites else ""


def _leading(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [c.text, HARD, HARD] if c.blank_after else [c.text, HARD]
    return out


def _trailing(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [_Suffix("  " + c.text), BREAK]
    return out


def _ending(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [HARD, HARD, c.text] if c.blank_before else [HARD, c.text]
    return out
