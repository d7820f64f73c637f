"""The one printer of policy text: expressions, literals and the parts of items as source.

`clausewise fmt` lays whole files out with it (adding comments and line breaks), `clausewise
diff` shows changed expressions with it on one line, and diagnostics quote expressions with it;
so an expression reads the same wherever it is shown.

Literals are printed as the author wrote them: the parser keeps each number, percentage, date
and datetime token on its node (`2024-01-01T10:00:00+02:00` stays so, though its value is held
in UTC; `1.50` keeps its zero). Strings are re-escaped, one way everywhere: a quote, a
backslash, a newline, a tab and every control, line or paragraph separator character is
written as an escape, so no string shows a character that breaks or hides a line. A literal
made by the tools (with no token) is written from its value.

Expressions are built as documents (`Doc`) of a small Wadler/Prettier-style pretty printer:
`render` lays a document out within a width, `flat` writes it on one line. `ExprPrinter`
builds an expression's document with the fewest parentheses that keep its meaning; the
formatter extends it to attach comments.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import TypeAlias

from . import ast as A
from .diagnostics import PolicySyntaxError
from .parser import parse

__all__ = [
    "BREAK",
    "HARD",
    "LINE",
    "SOFT",
    "WIDTH",
    "Chain",
    "Doc",
    "ExprPrinter",
    "Group",
    "IfBroken",
    "Indent",
    "Prec",
    "Suffix",
    "bare_key",
    "cell_text",
    "cites_text",
    "effective_text",
    "expr_text",
    "flat",
    "forces_break",
    "group",
    "instant_text",
    "join",
    "literal_text",
    "params_text",
    "quote",
    "render",
    "type_text",
]

WIDTH = 100  # the longest line the layout aims for (long strings and comments may exceed it)
INDENT = 2


# ---- documents: a small Wadler/Prettier-style pretty printer ---------------------------------


@dataclass(frozen=True, slots=True)
class _Line:
    """A place to break: `flat` when its group fits on the line, else a newline."""

    flat: str
    hard: bool = False


LINE = _Line(" ")
SOFT = _Line("")
HARD = _Line("", hard=True)


@dataclass(frozen=True, slots=True)
class Indent:
    doc: Doc


@dataclass(frozen=True, slots=True)
class Group:
    """Printed on one line when it fits, else with every line of its own broken."""

    doc: Doc
    broken: bool  # forced: it holds a comment or a hard line (nested groups decide for themselves)


@dataclass(frozen=True, slots=True)
class IfBroken:
    text: str  # printed only when the enclosing group is broken (trailing commas)


@dataclass(frozen=True, slots=True)
class Suffix:
    text: str  # printed at the end of the current line (trailing comments)


@dataclass(frozen=True, slots=True)
class Chain:
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
    "str | list[Doc] | _Line | Indent | Group | Chain | IfBroken | Suffix | _BreakParent"
)

_FLAT, _BROKEN = 0, 1


def group(*parts: Doc) -> Group:
    doc = list(parts)
    return Group(doc, forces_break(doc))


def forces_break(doc: Doc) -> bool:
    stack: list[Doc] = [doc]
    while stack:
        d = stack.pop()
        if d is BREAK or (isinstance(d, _Line) and d.hard):
            return True
        if isinstance(d, list):
            stack.extend(d)
        elif isinstance(d, Indent):
            stack.append(d.doc)
    return False


def join(sep: Doc, docs: list[Doc]) -> list[Doc]:
    out: list[Doc] = []
    for i, d in enumerate(docs):
        if i:
            out.append(sep)
        out.append(d)
    return out


_Cmd: TypeAlias = tuple[int, int, Doc]


def render(doc: Doc, width: int = WIDTH) -> str:
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
        elif isinstance(d, Indent):
            stack.append((ind + INDENT, mode, d.doc))
        elif isinstance(d, Group):
            if d.broken:
                stack.append((ind, _BROKEN, d.doc))
            elif mode == _FLAT:
                stack.append((ind, _FLAT, d.doc))
            else:
                flat: _Cmd = (ind, _FLAT, d.doc)
                stack.append(flat if _fits(flat, stack, width - col) else (ind, _BROKEN, d.doc))
        elif isinstance(d, Chain):
            stack.extend(reversed(_chain_layout(d, ind, mode, col, stack, width)))
        elif isinstance(d, IfBroken):
            if mode == _BROKEN:
                out.append(d.text)
                col += len(d.text)
        elif isinstance(d, Suffix):
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
        elif isinstance(d, Indent):
            cmds.append((ind, mode, d.doc))
        elif isinstance(d, Group):
            cmds.append((ind, _BROKEN if d.broken else mode, d.doc))
        elif isinstance(d, Chain):
            cmds.append((ind, mode, d.flat()))
        elif isinstance(d, IfBroken):
            if mode == _BROKEN:
                width -= len(d.text)
        elif isinstance(d, _Line):
            if mode == _BROKEN or d.hard:
                return True
            width -= len(d.flat)
    return False


def _chain_layout(
    d: Chain, ind: int, mode: int, col: int, rest: list[_Cmd], width: int
) -> list[_Cmd]:
    """The commands that print a chain, in order (see `Chain`)."""
    flat: _Cmd = (ind, _FLAT, d.flat())
    if mode == _FLAT or _fits(flat, rest, width - col):
        return [flat]
    inner = ind + INDENT

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


def flat(doc: Doc) -> str:
    """A document written on one line (every optional break as its flat text)."""
    out: list[str] = []
    stack: list[Doc] = [doc]
    while stack:
        d = stack.pop()
        if isinstance(d, str):
            out.append(d)
        elif isinstance(d, list):
            stack.extend(reversed(d))
        elif isinstance(d, Indent | Group):
            stack.append(d.doc)
        elif isinstance(d, Chain):
            stack.extend(reversed(d.flat()))
        elif isinstance(d, Suffix):
            out.append(d.text)
        elif isinstance(d, _Line):
            out.append("\n" if d.hard else d.flat)
    return "".join(out)


# ---- literals --------------------------------------------------------------------------------


def quote(s: str) -> str:
    """A string literal: `"`, `\\`, newline, tab and control, line and paragraph separator
    characters escaped, everything else as it is."""
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


def instant_text(v: dt.date | dt.datetime) -> str:
    """A date or datetime written from its value (`Z` for UTC)."""
    if isinstance(v, dt.datetime) and v.tzinfo is not None:
        return v.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    return v.isoformat()


def literal_text(e: A.Literal | A.MoneyLit | A.DurationLit) -> str:
    """A literal as the author wrote it (from its value when it has no token)."""
    match e:
        case A.MoneyLit(amount=amount, currency=currency, text=text):
            return f"{text if text is not None else format(amount, 'f')} {currency}"
        case A.DurationLit(count=count, unit=unit, text=text):
            number = text if text is not None else str(count)
            return f"{number} {unit[:-1] if count == 1 else unit}"
    v = e.value
    if e.kind == "bool":
        return "true" if v else "false"
    if e.kind == "null" or v is None:
        return "null"
    if e.kind == "string" and isinstance(v, str):
        return quote(v)
    if e.text is not None:
        return e.text
    if e.kind == "percent" and isinstance(v, Decimal):
        return format((v * 100).normalize(), "f") + "%"
    if isinstance(v, Decimal):
        text = format(v, "f")
        return text if "." in text else text + ".0"
    if isinstance(v, dt.date):
        return instant_text(v)
    return str(v)


# ---- names, types, parameters, header parts -----------------------------------------------------

_NAME = re.compile(r"[a-z_][a-zA-Z0-9_]*")
_ONE = A.Literal(1, "int")


@functools.cache
def bare_key(key: str) -> bool:
    """Whether a record key can be written without quotes (a name that is no keyword there)."""
    if not _NAME.fullmatch(key):
        return False
    try:
        f = parse(f'policy "k"\nlet k = {{{key}: 1, {key}: 1}}\n')
    except PolicySyntaxError:
        return False
    body = f.items[0].body if f.items and isinstance(f.items[0], A.Let) else None
    return body == A.RecordLit(((key, _ONE), (key, _ONE)))


def type_text(t: A.TypeRef) -> str:
    text = t.name if t.arg is None else f"{t.name}[{type_text(t.arg)}]"
    return text + "?" if t.nullable else text


def params_text(params: tuple[A.Param, ...] | None) -> str:
    """`(a, b: Money)`; nothing for a definition without parameters."""
    if params is None:
        return ""
    shown = (p.name if p.type is None else f"{p.name}: {type_text(p.type)}" for p in params)
    return "(" + ", ".join(shown) + ")"


def cites_text(cites: tuple[str, ...]) -> str:
    """` cites A1, B2`; nothing when there are none."""
    return f" cites {', '.join(cites)}" if cites else ""


def effective_text(e: A.Effective) -> str:
    """`effective from ... until ... in "zone"`, the instants as written."""
    text = "effective"
    for word, value, written in (("from", e.start, e.start_text), ("until", e.until, e.until_text)):
        if value is not None:
            text += f" {word} {written if written is not None else instant_text(value)}"
    if e.zone is not None:
        text += f" in {quote(e.zone)}"
    return text


# ---- expressions -------------------------------------------------------------------------------


class Prec(IntEnum):
    """Binding strength: an operand weaker than its operator wants is parenthesised."""

    IF = 0
    IMPLIES = 1
    OR = 2
    AND = 3
    NOT = 4
    CMP = 5
    RANGE = 6
    COALESCE = 7
    SUM = 8
    PRODUCT = 9
    NEG = 10
    POSTFIX = 11
    ATOM = 12


_COMPARE = {"==", "!=", "<", "<=", ">", ">=", "in", "not in"}
_ARITH = {"??": Prec.COALESCE, "+": Prec.SUM, "-": Prec.SUM, "*": Prec.PRODUCT, "/": Prec.PRODUCT}
# What the left and right operands of a binary operator of each strength must bind at least.
_OPERANDS = {
    Prec.CMP: (Prec.RANGE, Prec.RANGE),
    Prec.RANGE: (Prec.COALESCE, Prec.COALESCE),
    Prec.COALESCE: (Prec.COALESCE, Prec.SUM),
    Prec.SUM: (Prec.SUM, Prec.PRODUCT),
    Prec.PRODUCT: (Prec.PRODUCT, Prec.NEG),
}


def precedence(e: A.Expr) -> Prec:
    """How strongly an expression binds."""
    match e:
        case A.If() | A.With():
            return Prec.IF
        case A.BoolOp(op="implies"):
            return Prec.IMPLIES
        case A.BoolOp(op="or"):
            return Prec.OR
        case A.BoolOp():
            return Prec.AND
        case A.Unary(op="not"):
            return Prec.NOT
        case A.Unary():
            return Prec.NEG
        case A.IsNull():
            return Prec.CMP
        case A.Binary(op=op):
            return Prec.CMP if op in _COMPARE else _ARITH[op]
        case A.RangeExpr():
            return Prec.RANGE
        case A.Field() | A.Index() | A.Call() | A.AggCall():
            return Prec.POSTFIX
    return Prec.ATOM


class ExprPrinter:
    """Builds the document of an expression. The bracketed forms (calls, lists, records) and
    the function of an aggregate are methods, so that the formatter can attach comments."""

    def expr(self, e: A.Expr, min_prec: int = Prec.IF) -> Doc:
        doc = self._expr(e)
        return ["(", doc, ")"] if precedence(e) < min_prec else doc

    def _expr(self, e: A.Expr) -> Doc:
        match e:
            case A.Literal() | A.MoneyLit() | A.DurationLit():
                return literal_text(e)
            case A.Name(id=name):
                return name
            case A.InputRef():
                return "input"
            case A.OutputRef():
                return "output"
            case A.Field(obj=obj, name=name):
                return [self.expr(obj, Prec.POSTFIX), ".", name]
            case A.Index(obj=obj, index=index):
                return [self.expr(obj, Prec.POSTFIX), "[", self.expr(index), "]"]
            case A.Call():
                return self._call(e)
            case A.AggCall(comp=comp):
                func = self._agg_func(e)
                return group(
                    func, "(", Indent([SOFT, self._comp(comp, self.expr(comp.elem))]), SOFT, ")"
                )
            case A.ListComp(comp=comp):
                return group("[", Indent([SOFT, self._comp(comp, self.expr(comp.elem))]), SOFT, "]")
            case A.MapComp(key=key, comp=comp):
                lead = [self.expr(key), " => ", self.expr(comp.elem)]
                return group("{", Indent([SOFT, self._comp(comp, lead)]), SOFT, "}")
            case A.ListLit():
                return self._list(e)
            case A.RecordLit():
                return self._record(e)
            case A.Unary(op="not", operand=x):
                return ["not ", self.expr(x, Prec.NOT)]
            case A.Unary(operand=x):
                return ["- " if isinstance(x, A.Unary) else "-", self.expr(x, Prec.NEG)]
            case A.IsNull(operand=x, negated=negated):
                return [self.expr(x, Prec.RANGE), " is not null" if negated else " is null"]
            case A.Binary() | A.RangeExpr():
                return self._chain(e)
            case A.BoolOp(op="implies", operands=(a, b)):
                # right-associative: `a implies b implies c` is `a implies (b implies c)`
                left, right = self.expr(a, Prec.OR), self.expr(b, Prec.IMPLIES)
                return group(Indent(left), Indent([LINE, "implies ", right]))
            case A.BoolOp(op=op, operands=operands):
                need = Prec.AND if op == "or" else Prec.NOT
                first, *rest = [self.expr(x, need) for x in operands]
                return group(Indent(first), Indent([[LINE, f"{op} ", d] for d in rest]))
            case A.If():
                return self._if(e)
            case A.With(bindings=bindings, body=body):
                heads: list[Doc] = []
                for i, (name, value) in enumerate(bindings):
                    heads += [", " if i else "", name, " = ", self.expr(value)]
                return group("with ", *heads, ":", Indent([LINE, self.expr(body)]))
        raise TypeError(f"unknown expression {type(e).__name__}")

    def _chain(self, e: A.Expr) -> Doc:
        level = precedence(e)
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
            if (
                level in _ARITH.values()
                and isinstance(left, A.Binary)
                and precedence(left) == level
            ):
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
        return Chain(first, rest, any(_bracketed(o) for o in operands))

    def _if(self, e: A.If) -> Doc:
        rest: list[Doc] = []
        orelse = e.orelse
        while isinstance(orelse, A.If):
            rest += [LINE, "else if ", self.expr(orelse.cond), " then ", self.expr(orelse.then)]
            orelse = orelse.orelse
        rest += [LINE, "else ", self.expr(orelse)]
        return group("if ", self.expr(e.cond), " then ", self.expr(e.then), Indent(rest))

    def _comp(self, c: A.Comprehension, lead: Doc) -> Doc:
        tail: list[Doc] = ["for ", c.var, " in ", self.expr(c.source)]
        if c.where is not None:
            tail += [LINE, "where ", self.expr(c.where)]
        if c.order is not None:
            tail += [LINE, "order by ", self.expr(c.order), " desc" if c.descending else ""]
        if c.by is not None:
            tail += [LINE, "by ", self.expr(c.by)]
        return [lead, LINE, group(*tail)]

    def comprehension(self, c: A.Comprehension) -> Doc:
        """`ELEM for VAR in SOURCE ...`: the inside of the brackets."""
        return self._comp(c, self.expr(c.elem))

    def _agg_func(self, e: A.AggCall) -> Doc:
        return e.func

    def _call(self, e: A.Call) -> Doc:
        args = [self.expr(a) for a in e.args]
        return [self.expr(e.func, Prec.POSTFIX), _brackets("(", ")", args, comma=False, pack=True)]

    def _list(self, e: A.ListLit) -> Doc:
        return _brackets("[", "]", [self.expr(x) for x in e.items], comma=True, pack=True)

    def _record(self, e: A.RecordLit) -> Doc:
        return _brackets("{", "}", [self.field(k, v) for k, v in e.fields], comma=True, pack=False)

    def field(self, key: str, value: A.Expr) -> Doc:
        """`key: value` in a record (the key quoted when it is not a plain name)."""
        return [key if bare_key(key) else quote(key), ": ", self.expr(value)]

    def cell(self, c: A.Cell) -> Doc:
        """One cell of a table row: `-`, `>= 10`, `1 .. 5`, `"a", "b"`."""
        if c.kind == "any":
            return "-"
        if c.kind == "cmp":
            return [str(c.op), " ", self.expr(c.values[0], Prec.SUM)]
        if c.kind == "range":
            op = " ..< " if c.half_open else " .. "
            return [self.expr(c.values[0], Prec.SUM), op, self.expr(c.values[1], Prec.SUM)]
        return join(", ", [self.expr(v, Prec.SUM) for v in c.values])


def _brackets(opening: str, closing: str, docs: list[Doc], *, comma: bool, pack: bool) -> Doc:
    """`[a, b]`, `{k: v}`, `(a, b)`: on one line if it fits, else one element per line (with
    `pack`, first all the elements together on a line of their own)."""
    if not docs:
        return opening + closing
    elems: list[Doc] = join([",", LINE], docs)
    if comma:
        elems.append(IfBroken(","))
    if pack:
        elems = [group(*elems)]
    return group(opening, Indent([SOFT, *elems]), SOFT, closing)


def _bracketed(e: A.Expr) -> bool:
    match e:
        case A.Call() | A.AggCall() | A.ListLit() | A.RecordLit() | A.ListComp() | A.MapComp():
            return True
        case A.Field(obj=inner) | A.Index(obj=inner) | A.Unary(operand=inner):
            return _bracketed(inner)
    return False


_PLAIN = ExprPrinter()


def expr_text(e: A.Expr | A.Comprehension, min_prec: int = Prec.IF) -> str:
    """An expression (or the inside of a comprehension) on one line, as `fmt` writes it when
    it fits."""
    if isinstance(e, A.Comprehension):
        return flat(_PLAIN.comprehension(e))
    return flat(_PLAIN.expr(e, min_prec))


def cell_text(c: A.Cell) -> str:
    """A table cell on one line, as `fmt` writes it."""
    return flat(_PLAIN.cell(c))
