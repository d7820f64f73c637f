"""Columnar plans: a policy over scalar input fields, decided over whole columns with Arrow compute.

`compile_plan(program)` reads the checker's typed program and returns a plan when every part the
output reaches is one the plan computes exactly as the row engine does, else None (the policy is
then decided row by row). What a plan computes:

- input fields: top-level required fields of type decimal (`format: decimal` or `rate`), integer,
  boolean, string or enum, and date;
- constants; comparisons (`<`, `<=`, `>`, `>=`, `==`, `!=`) of decimals and integers (as
  decimal128(38, 18), exact for the values a plan accepts), strings, booleans and dates;
  `and`, `or`, `not`, `if`; `in` / `not in` a list of constants; integer `+`, `-`, `*` (checked);
- rules (their condition), decisions and tables with `first` (and a default) or `collect` whose
  values are constants, and `count` of a collected list;
- an output record of booleans, integers, strings and lists of strings.

Rows are validated column by column, conservatively: a row is decided by the plan only when its
every field is one the row engine accepts (the same pattern, range and format checks, and a
decimal of at most 18 digits before and after the point); every other row, including every bad
row, goes to the row engine, which decides it or gives its error. So the plan never has to
reproduce an error: it only leaves the row to the engine. Nothing is a float at any step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..dsl import types as T
from ..dsl.typed import Arith as ArithNode
from ..dsl.typed import (
    BoolOp,
    Call,
    Comp,
    Compare,
    Const,
    Decision,
    Field,
    Global,
    If,
    InputRef,
    ListLit,
    Local,
    Member,
    Node,
    Not,
    Program,
    RecordLit,
    Rule,
    Test,
)

DEC = pa.decimal128(38, 18)
_DIGITS = 18
# a decimal a plan reads exactly: at most 18 digits either side of the point (the row engine
# also refuses longer than 100 characters, negative unless allowed, and `.5` or `5.`)
_DECIMAL_TEXT = r"^[0-9]{1,18}(\.[0-9]{1,18})?$"
_DATE_TEXT = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
# schema patterns that every text `_DECIMAL_TEXT` accepts also matches
_IMPLIED_PATTERNS = {r"^[0-9]+(\.[0-9]+)?$", r"^\d+(\.\d+)?$", r"^[0-9]+(?:\.[0-9]+)?$"}
# schema keywords a field's validation here covers (the others send the policy row by row)
_FIELD_KEYWORDS = T.ANNOTATIONS | {
    "type",
    "format",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "enum",
    "minLength",
    "maxLength",
}
_ROOT_KEYWORDS = T.ANNOTATIONS | {"type", "properties", "required"}
_CMP = {
    "<": pc.less,
    "<=": pc.less_equal,
    ">": pc.greater,
    ">=": pc.greater_equal,
    "==": pc.equal,
    "!=": pc.not_equal,
}
_INT_ARITH = {"+": pc.add_checked, "-": pc.subtract_checked, "*": pc.multiply_checked}


class Unsupported(Exception):
    """A part of a policy a plan does not compute: the policy is decided row by row."""


@dataclass
class Collected:
    """A collected list, kept as one mask per case (its value, in case order)."""

    masks: list[Any]
    values: list[Any]


@dataclass(frozen=True)
class FieldCheck:
    """How one input field is read and validated."""

    name: str
    kind: str  # 'decimal', 'int', 'bool', 'string', 'date'
    schema: dict[str, Any]
    required: bool
    integer_ok: bool  # a decimal field that also takes JSON integers


Value = Any  # an Arrow array or scalar, or a Collected
Step = Callable[["_Env"], Value]


class _Env:
    """One chunk being decided: the columns read so far and the definitions computed."""

    __slots__ = ("batch", "columns", "globals", "n")

    def __init__(self, batch: pa.RecordBatch, columns: dict[str, Any]):
        self.batch = batch
        self.columns = columns
        self.globals: dict[str, Value] = {}
        self.n = batch.num_rows


class Plan:
    """A compiled columnar plan: `run(batch)` gives (the rows decided, or None for all of them;
    the output columns, one array per output field, meaningful on the decided rows)."""

    def __init__(
        self, fields: list[FieldCheck], outputs: list[tuple[str, Step, pa.DataType]]
    ) -> None:
        self.fields = fields
        self.outputs = outputs

    def run(self, batch: pa.RecordBatch) -> tuple[Any, list[pa.Array]]:
        columns: dict[str, Any] = {}
        ok: Any = None
        for f in self.fields:
            idx = batch.schema.get_field_index(f.name)
            if idx < 0:
                if f.required:
                    return pa.repeat(pa.scalar(False), batch.num_rows), []
                continue
            try:
                value, good = _read_field(f, batch.column(idx))
            except _Refuse:
                return pa.repeat(pa.scalar(False), batch.num_rows), []
            columns[f.name] = value
            if good is not None and not f.required:  # null: absent, which is fine
                good = pc.or_(good, pc.is_null(batch.column(idx)))
            if good is not None:
                ok = good if ok is None else pc.and_(ok, good)
        env = _Env(batch, columns)
        try:
            outs = [_materialise(step(env), t, env.n) for _name, step, t in self.outputs]
        except pa.ArrowInvalid:  # an integer past 64 bits: the row engine decides the chunk
            return pa.repeat(pa.scalar(False), batch.num_rows), []
        if ok is not None and ok.false_count == 0 and ok.null_count == 0:
            ok = None
        return ok, outs


def compile_plan(program: Program) -> Plan | None:
    """The columnar plan of `program`, or None when a part it reaches is not supported."""
    try:
        return _Compiler(program).plan()
    except Unsupported:
        return None


def _read_field(f: FieldCheck, col: pa.ChunkedArray | pa.Array) -> tuple[Any, Any]:
    """The field's values as the plan computes with them, and which rows are valid (None: all;
    rows that are not are left to the row engine)."""
    t = col.type
    s = f.schema
    good: Any
    if f.kind == "decimal":
        if pa.types.is_string(t) or pa.types.is_large_string(t):
            good = pc.match_substring_regex(col, _DECIMAL_TEXT)
            pattern = s.get("pattern")
            if pattern is not None and pattern not in _IMPLIED_PATTERNS:
                good = pc.and_(good, pc.match_substring_regex(col, pattern))
            good = pc.fill_null(good, False)
            safe = pc.if_else(good, col, "0") if good.false_count else col
            value = pc.cast(safe, DEC)
        elif f.integer_ok and pa.types.is_integer(t):
            # negative integers are left to the row engine (which refuses them unless the
            # schema allows them), as negative texts are
            good = pc.fill_null(pc.greater_equal(col, 0), False)
            value = pc.cast(pc.fill_null(col, 0), DEC)
        else:
            raise _Refuse
        good = _and(good, _range(value, s, Decimal))
    elif f.kind == "int":
        if not pa.types.is_integer(t) or "format" in s:
            raise _Refuse
        value = pc.cast(pc.fill_null(col, 0), pa.int64())
        good = _and(pc.is_valid(col), _range(value, s, int))
    elif f.kind == "bool":
        if not pa.types.is_boolean(t):
            raise _Refuse
        value, good = pc.fill_null(col, False), pc.is_valid(col)
    elif f.kind == "string":
        if not (pa.types.is_string(t) or pa.types.is_large_string(t)):
            raise _Refuse
        good = pc.is_valid(col)
        if "enum" in s:
            good = _and(good, pc.is_in(col, pa.array([v for v in s["enum"] if isinstance(v, str)])))
        if "pattern" in s:
            good = _and(good, pc.match_substring_regex(col, s["pattern"]))
        if "minLength" in s:
            good = _and(good, pc.greater_equal(pc.utf8_length(col), s["minLength"]))
        if "maxLength" in s:
            good = _and(good, pc.less_equal(pc.utf8_length(col), s["maxLength"]))
        value, good = pc.fill_null(col, ""), pc.fill_null(good, False)
    else:  # date
        if pa.types.is_date32(t):
            value, good = col, pc.is_valid(col)
        elif pa.types.is_string(t) or pa.types.is_large_string(t):
            good = pc.fill_null(pc.match_substring_regex(col, _DATE_TEXT), False)
            if "pattern" in s:
                good = pc.and_(
                    good, pc.fill_null(pc.match_substring_regex(col, s["pattern"]), False)
                )
            stamp = pc.strptime(
                pc.if_else(good, col, "2000-01-01"), "%Y-%m-%d", "s", error_is_null=True
            )
            good = pc.and_(good, pc.is_valid(stamp))
            # year 0000 and days past the month's end (2024-02-30) read in Arrow, not in the
            # row engine: a date is taken only when it writes back as the same text
            good = pc.and_(good, pc.fill_null(pc.greater_equal(pc.year(stamp), 1), False))
            back = pc.strftime(pc.fill_null(stamp, 0), "%Y-%m-%d")
            good = pc.and_(good, pc.fill_null(pc.equal(back, col), False))
            value = pc.cast(
                pc.fill_null(stamp, pa.scalar(dt.datetime(2000, 1, 1), pa.timestamp("s"))),
                pa.date32(),
            )
        else:
            raise _Refuse
    return value, good


class _Refuse(Exception):
    """A column of a type the plan does not read: every row goes to the row engine."""


def _and(a: Any, b: Any) -> Any:
    if b is None:
        return a
    return pc.and_(a, b)


def _range(value: Any, s: dict[str, Any], num: Callable[[Any], Any]) -> Any:
    good = None
    for key, op in (
        ("minimum", pc.greater_equal),
        ("maximum", pc.less_equal),
        ("exclusiveMinimum", pc.greater),
        ("exclusiveMaximum", pc.less),
    ):
        if key in s:
            bound = s[key]
            if key == "minimum" and bound <= 0 and num is Decimal:
                continue  # a decimal the plan reads is never negative
            scalar = _dec_scalar(Decimal(str(bound))) if num is Decimal else pa.scalar(int(bound))
            good = _and(op(value, scalar), good) if good is not None else op(value, scalar)
    return good


def _dec_scalar(d: Decimal) -> pa.Scalar:
    if not d.is_finite() or d.as_tuple().exponent < -_DIGITS or d.adjusted() >= 38 - _DIGITS:  # type: ignore[operator]
        raise Unsupported(f"the constant {d} has more digits than the plan reads")
    return pa.scalar(d, DEC)


def _materialise(v: Value, t: pa.DataType, n: int) -> pa.Array:
    if isinstance(v, Collected):
        return _collected_array(v, n)
    if isinstance(v, pa.Scalar):
        return pa.repeat(pa.scalar(v.as_py(), t), n)
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    return v if v.type == t else pc.cast(v, t)


def _collected_array(v: Collected, n: int) -> pa.Array:
    import numpy as np

    if not v.masks:
        return pa.ListArray.from_arrays(
            pa.array(np.zeros(n + 1, np.int32)), pa.array([], pa.string())
        )
    m = np.column_stack([_np_mask(x, n) for x in v.masks])
    counts = m.sum(axis=1, dtype=np.int32)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(counts, out=offsets[1:])
    which = np.nonzero(m.ravel())[0] % len(v.masks)
    values = pa.array(v.values, pa.string()).take(pa.array(which.astype(np.int32)))
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _np_mask(x: Any, n: int) -> Any:
    import numpy as np

    if isinstance(x, pa.Scalar):
        return np.full(n, bool(x.as_py()))
    if isinstance(x, pa.ChunkedArray):
        x = x.combine_chunks()
    return x.to_numpy(zero_copy_only=False)


def _count(v: Value) -> Any:
    if not isinstance(v, Collected):
        raise Unsupported("count of a list that is not collected")
    total: Any = pa.scalar(0, pa.int64())
    for m in v.masks:
        total = pc.add(total, pc.cast(m, pa.int64()))
    return total


class _Compiler:
    def __init__(self, program: Program):
        self.p = program
        self.fields: dict[str, FieldCheck] = {}
        self.globals: dict[str, Step] = {}
        self.locals: dict[str, Step] = {}  # the parameters of the call being inlined

    def plan(self) -> Plan:
        p = self.p
        if p.requirements or p.invariants or p.output is None:
            raise Unsupported("requirements and invariants go row by row")
        self._input_fields()
        out = p.output
        if not isinstance(out, RecordLit):
            raise Unsupported("an output that is not a record")
        props = (p.output_schema or {}).get("properties") or {}
        if list(props) != [k for k, _v in out.fields]:
            raise Unsupported("output fields other than the schema's")
        outputs = []
        for name, node in out.fields:
            outputs.append((name, self.expr(node), self._output_type(node.type, props[name])))
        return Plan(list(self.fields.values()), outputs)

    def _output_type(self, t: T.Type, schema: Any) -> pa.DataType:
        if not isinstance(schema, dict) or "format" in schema or "$ref" in schema:
            raise Unsupported("an output field with a format")
        kind = schema.get("type")
        if t == T.BOOL and kind == "boolean":
            return pa.bool_()
        if t == T.INT and kind == "integer":
            return pa.int64()
        if (t == T.STRING or isinstance(t, T.EnumT)) and kind == "string":
            return pa.string()
        if isinstance(t, T.ListT) and kind == "array":
            items = schema.get("items", {})
            e = t.elem
            is_text = e == T.STRING or isinstance(e, T.EnumT)
            if is_text and items.get("type") == "string" and "format" not in items:
                return pa.list_(pa.string())
        raise Unsupported(f"an output of type {t}")

    def _input_fields(self) -> None:
        root = self.p.input_schema
        if not isinstance(root, dict) or set(root) - _ROOT_KEYWORDS or root.get("type") != "object":
            raise Unsupported("an input schema with more than properties")
        required = set(root.get("required", ()))
        for name, sub in (root.get("properties") or {}).items():
            s, nullable = T.split_nullable(sub, root, f"/properties/{name}")
            if nullable or set(s) - _FIELD_KEYWORDS:
                raise Unsupported(f"the input field {name}")
            t = T.strip(T.schema_type(sub, root, f"/properties/{name}"))
            types = s.get("type")
            type_list = types if isinstance(types, list) else [types]
            if t == T.DECIMAL:
                kind = "decimal"  # non-negative texts only are read here: always a subset
            elif t == T.INT:
                kind = "int"
            elif t == T.BOOL:
                kind = "bool"
            elif (t == T.STRING or isinstance(t, T.EnumT)) and "format" not in s:
                kind = "string"
            elif t == T.DATE:
                kind = "date"
            else:
                raise Unsupported(f"the input field {name} of type {t}")
            self.fields[name] = FieldCheck(name, kind, s, name in required, "integer" in type_list)

    # ---- expressions ----
    def expr(self, node: Node) -> Step:
        match node:
            case Const(value=v):
                scalar = self._const(v, node.type)
                return lambda env: scalar
            case Field(obj=InputRef(), name=name):
                f = self.fields.get(name)
                if f is None or not f.required:
                    raise Unsupported(f"input.{name}")
                return lambda env: env.columns[name]
            case Global(key=key):
                return self._global(key)
            case Local(name=name) if name in self.locals:
                return self.locals[name]
            case Call(key=key, args=args):
                return self._call(key, args)
            case Test(operand=x):
                return self.expr(x)
            case Not(operand=x):
                inner = self.expr(x)
                return lambda env: pc.invert(inner(env))
            case BoolOp(op=op, operands=xs):
                steps = [self.expr(x) for x in xs]
                fn = pc.and_ if op == "and" else pc.or_

                def boolop(env: _Env) -> Any:
                    acc = steps[0](env)
                    for s in steps[1:]:
                        acc = fn(acc, s(env))
                    return acc

                return boolop
            case If(cond=c, then=a, orelse=b):
                cs, as_, bs = self.expr(c), self.expr(a), self.expr(b)
                self._plain(node.type)
                return lambda env: pc.if_else(cs(env), as_(env), bs(env))
            case Compare(op=op, left=a, right=b):
                return self._compare(op, a, b)
            case Member(item=item, container=container, negated=neg, mode="list"):
                values = self._const_list(container)
                its = self.expr(item)
                arr = pa.array(values)

                def member(env: _Env) -> Any:
                    got = pc.is_in(its(env), value_set=arr)
                    return pc.invert(got) if neg else got

                return member
            case ArithNode(op=op, left=a, right=b, mode="int") if op in _INT_ARITH:
                fn2 = _INT_ARITH[op]
                ls, rs = self.expr(a), self.expr(b)
                return lambda env: fn2(ls(env), rs(env))
            case Comp(agg="count", where=None, source=source, elem=elem, var=var) if (
                getattr(elem, "name", None) == var
            ):
                src = self.expr(source)
                return lambda env: _count(src(env))
            case _:
                raise Unsupported(type(node).__name__)

    def _plain(self, t: T.Type) -> None:
        if T.strip(t) not in (T.BOOL, T.INT, T.STRING, T.DATE) and not isinstance(t, T.EnumT):
            raise Unsupported(f"a value of type {t}")

    def _const(self, v: Any, t: T.Type) -> pa.Scalar:
        if v is None or isinstance(v, float):
            raise Unsupported("a null or float constant")
        if isinstance(v, bool):
            return pa.scalar(v)
        if isinstance(v, int):
            if t == T.DECIMAL:
                return _dec_scalar(Decimal(v))
            if not -(2**63) <= v < 2**63:
                raise Unsupported("an integer past 64 bits")
            return pa.scalar(v, pa.int64())
        if isinstance(v, Decimal):
            return _dec_scalar(v)
        if isinstance(v, str):
            return pa.scalar(v, pa.string())
        if isinstance(v, dt.date) and not isinstance(v, dt.datetime):
            return pa.scalar(v, pa.date32())
        raise Unsupported(f"a constant {v!r}")

    def _const_list(self, node: Node) -> list[Any]:
        if isinstance(node, Global):
            node = self.p.definitions[node.key].body
        if not isinstance(node, ListLit) or not all(isinstance(x, Const) for x in node.items):
            raise Unsupported("`in` a list that is not constant")
        values = [x.value for x in node.items if isinstance(x, Const)]
        if not values or not all(isinstance(v, str) for v in values):
            raise Unsupported("`in` a list of other than strings")
        return values

    def _compare(self, op: str, a: Node, b: Node) -> Step:
        ta, tb = T.strip(a.type), T.strip(b.type)
        numeric = {T.INT, T.DECIMAL}
        ls, rs = self.expr(a), self.expr(b)
        fn = _CMP[op]
        if ta in numeric and tb in numeric:
            if ta == tb == T.INT:
                return lambda env: fn(ls(env), rs(env))
            return lambda env: fn(_as_dec(ls(env)), _as_dec(rs(env)))
        strings = (T.STRING,)
        if (ta in strings or isinstance(ta, T.EnumT)) and (
            tb in strings or isinstance(tb, T.EnumT)
        ):
            return lambda env: fn(ls(env), rs(env))
        if ta == tb and ta in (T.BOOL, T.DATE) and (ta != T.BOOL or op in ("==", "!=")):
            return lambda env: fn(ls(env), rs(env))
        raise Unsupported(f"a comparison of {ta} and {tb}")

    def _call(self, key: str, args: tuple[Node, ...]) -> Step:
        """A call of a function (a parameterised rule, decision or table), inlined: its
        parameters stand for the argument columns."""
        fn = self.p.functions[key]
        if len(self.locals) > 64:
            raise Unsupported("calls nested too deep")
        bound = {p: self.expr(a) for p, a in zip(fn.params, args, strict=True)}
        saved, self.locals = self.locals, {**self.locals, **bound}
        try:
            return self._body(fn.body)
        finally:
            self.locals = saved

    def _body(self, body: Node) -> Step:
        if isinstance(body, Rule):
            if body.then is not None:
                raise Unsupported("a rule with a value")
            return self.expr(body.when)
        if isinstance(body, Decision):
            return self._decision(body)
        return self.expr(body)

    def _global(self, key: str) -> Step:
        got = self.globals.get(key)
        if got is not None:
            return got
        saved, self.locals = self.locals, {}
        try:
            inner = self._body(self.p.definitions[key].body)
        finally:
            self.locals = saved

        def step(env: _Env) -> Value:
            v = env.globals.get(key)
            if v is None:
                v = env.globals[key] = inner(env)
            return v

        self.globals[key] = step
        return step

    def _decision(self, d: Decision) -> Step:
        whens = [self.expr(w) for _rid, w, _then in d.cases]
        thens = [t for _rid, _w, t in d.cases]
        if d.strategy == "collect":
            if d.default is not None or not all(
                isinstance(t, Const) and isinstance(t.value, str) for t in thens
            ):
                raise Unsupported("a collect of other than names")
            names = [t.value for t in thens if isinstance(t, Const)]
            return lambda env: Collected([w(env) for w in whens], names)
        if d.strategy != "first" or d.default is None:
            raise Unsupported("a first-match decision without a default")
        self._plain(d.type)
        then_steps = [self.expr(t) for t in thens]
        default = self.expr(d.default)

        def first(env: _Env) -> Any:
            acc = default(env)
            for w, t in zip(reversed(whens), reversed(then_steps), strict=True):
                acc = pc.if_else(w(env), t(env), acc)
            return acc

        return first


def _as_dec(v: Any) -> Any:
    t = v.type
    if t == DEC:
        return v
    return pc.cast(v, DEC)
