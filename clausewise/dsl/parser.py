"""Text -> AST: one shared LALR parser built from `grammar.lark` that builds the AST as it parses,
errors turned into our own."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
import re
import threading
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import lark
from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from .diagnostics import ERROR, Diagnostic, PolicySyntaxError, Source, Span, did_you_mean
from .limits import MAX_LITERAL_DIGITS
from .runtime import parse_datetime
from .tablecodec import decode_tables, encode_tables

GRAMMAR = Path(__file__).with_name("grammar.lark")
_EXACT = decimal.Context(prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)

# Terminal names shown to authors in "expected ..." lists.
_TOKEN_NAMES = {
    "NAME": "a name",
    "STRING": "a string",
    "NUMBER": "a number",
    "CLAUSE": "a clause id like `A7`",
    "DATE": "a date",
    "DATETIME": "a datetime",
    "COMP_OP": "a comparison",
    "RANGE_OP": "`..` or `..<`",
    "CURRENCY": "a currency code",
    "UNIT": "a unit (`days`, `hours`...)",
    "PERCENT": "a percentage",
    "SIGNED_INT": "an integer",
    "$END": "the end of the file",
}


@functools.cache
def _parser() -> lark.Lark:
    # Built once per process. Building the LALR tables is most of a cold start, so they are
    # kept: shipped with clausewise for the grammar, lark and Python the project is tested
    # with, and else in the user's cache. Both are kept as data (see `tablecodec`), never as
    # lark's own pickled cache file, so reading them runs no code.
    import sys

    from . import cache as _cache

    text = GRAMMAR.read_text(encoding="utf-8")
    shipped = _shipped_parser(text)
    if shipped is not None:
        return shipped
    key = _cache.digest("parser-tables", text, lark.__version__, sys.version)
    kept = _cache.load_tables(key)
    if kept is not None:
        loaded = _parser_from_tables(kept)
        if loaded is not None:
            return loaded
    built = _ASTLark(text, parser="lalr", maybe_placeholders=True)
    _cache.store_tables(key, encode_tables(_tables_of(built)))
    return built


# The shipped tables: a JSON line saying what they were built from, then the tables as JSON.
SHIPPED_TABLES = GRAMMAR.with_name("grammar.tables")


def _tables_header(text: str) -> dict[str, str]:
    import hashlib
    import sys

    return {
        "grammar": hashlib.sha256(text.encode()).hexdigest(),
        "lark": lark.__version__,
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "format": "json-1",
    }


def _tables_of(parser: lark.Lark) -> dict[str, Any]:
    data, memo = parser.memo_serialize([lark.lexer.TerminalDef, lark.grammar.Rule])
    return {"data": data, "memo": memo}


def _parser_from_tables(raw: bytes) -> lark.Lark | None:
    """The parser of saved tables; None when they are not tables `tablecodec` reads."""
    try:
        tables = decode_tables(raw)
        return _ASTLark._load_from_dict(tables["data"], tables["memo"])
    except Exception:  # damaged or from another lark: the caller builds the tables
        return None


def _shipped_parser(text: str) -> lark.Lark | None:
    try:
        with SHIPPED_TABLES.open("rb") as f:
            if json.loads(f.readline()) != _tables_header(text):
                return None  # built for another grammar, lark or Python
            return _parser_from_tables(f.read())
    except (OSError, ValueError):  # absent or unreadable: lark builds the tables
        return None


def write_shipped_tables(target: Path = SHIPPED_TABLES) -> None:
    """Build the LALR tables of the grammar and write them where `_parser` looks first
    (`make tables`, after a change to the grammar or to the lark version tested with)."""
    text = GRAMMAR.read_text(encoding="utf-8")
    built = _ASTLark(text, parser="lalr", maybe_placeholders=True)
    data = encode_tables(_tables_of(built))
    target.write_bytes(json.dumps(_tables_header(text)).encode() + b"\n" + data)


# ---- building the AST during the parse ----
# lark drives the LALR parse and calls one callback per reduction with the rule's children, all
# of them: keywords and punctuation too. The callbacks made here (one per grammar rule, from the
# rule's shape) pick the children that the rule keeps, exactly as lark's tree builder does
# (anonymous tokens dropped, `None` for each absent `[optional]` part, `?rule`s with one child
# inlined), and call the `_Builder` method named after the rule (or its alias) with the span of
# the text the rule matched and those children. No parse tree is built and walked afterwards.
#
# Spans are what lark's `propagate_positions` gives: a rule's text runs from the start of its
# first child to the end of its last, keywords and brackets included; a child inlined from a
# `?rule` (`( expr )`) keeps its own span but lends its parent the extent of the brackets. The
# extent of every reduced child is kept on a stack beside lark's value stack: the non-terminal
# children of a reduction are always the newest entries there, in order.

_Extent = tuple[int, int, int, int, int, int]  # line, col, start, end_line, end_col, end


class _LiteralError(Exception):
    def __init__(self, span: Span, orig: Exception):
        super().__init__(str(orig))
        self.span = span
        self.orig = orig


def _rule_callback(rule: Any, builder: _Builder, placeholders: bool) -> Any:
    expansion = rule.expansion
    name = rule.alias or rule.options.template_source or rule.origin.name
    method = getattr(builder, name, None)
    expand1 = bool(rule.options.expand1) and not rule.alias
    keep_all = rule.options.keep_all_tokens
    terms = tuple(sym.is_term for sym in expansion)
    nonterms = terms.count(False)
    size = len(expansion)
    # `_rule`s (lark's own for `x*`, `x+` among them) are spliced into the rule using them
    spliced = tuple(not sym.is_term and sym.name.startswith("_") for sym in expansion)
    inline = rule.origin.name.startswith("_")

    # which children the rule keeps, and how many `None`s stand before each (lark's layout)
    empty = rule.options.empty_indices if placeholders else None
    if empty:
        runs = [len(ones) for ones in "".join(str(int(b)) for b in empty).split("0")]
    else:
        runs = [0] * (size + 1)
    keep: list[tuple[int, int, bool]] = []
    nones = 0
    for i, sym in enumerate(expansion):
        nones += runs[i]
        if keep_all or not (sym.is_term and sym.filter_out):
            keep.append((i, nones, spliced[i]))
            nones = 0
    trailing = nones + runs[size]
    plain = not any(n or s for _i, n, s in keep) and trailing == 0
    picks = tuple(i for i, _n, _s in keep)

    if method is None and not inline and not (expand1 and len(keep) == 1 and plain):
        raise lark.exceptions.GrammarError(f"no AST builder for the grammar rule `{name}`")

    if expand1 and size == 1 and nonterms == 1 and plain:
        # `?a: b`: the child, its value and its extent, is the result
        def passthrough(children: list[Any]) -> Any:
            return children[0]

        return passthrough

    def pick(children: list[Any]) -> list[Any]:
        if plain:
            return [children[i] for i in picks]
        out: list[Any] = []
        for i, n, splice in keep:
            if n:
                out += [None] * n
            if not splice:
                out.append(children[i])
            elif out:
                out += children[i]
            else:  # the list of a left-recursive `_rule`, taken over rather than copied
                out = children[i]
        if trailing:
            out += [None] * trailing
        return out

    extents = builder.extents

    def callback(children: list[Any]) -> Any:
        if nonterms:
            kids = extents[-nonterms:]
            del extents[-nonterms:]
        else:
            kids = []
        # the first and the last child that has a place in the text
        first = last = None
        forward = iter(kids)
        for i in range(size):
            if terms[i]:
                tok = children[i]
                first = (tok.line, tok.column, tok.start_pos)
                break
            e = next(forward)
            if e is not None:
                first = e[:3]
                break
        if first is not None:
            backward = reversed(kids)
            for i in range(size - 1, -1, -1):
                if terms[i]:
                    tok = children[i]
                    last = (tok.end_line, tok.end_column, tok.end_pos)
                    break
                e = next(backward)
                if e is not None:
                    last = e[3:]
                    break
        extent = (*first, *last) if first and last else None
        extents.append(extent)
        kept = pick(children)
        if inline and method is None:
            return kept
        if method is None or (expand1 and len(kept) == 1):
            return kept[0]
        if extent is None:
            span = Span(builder.src, 1, 1, 1, 1, 0, 0)
        else:
            span = Span(
                builder.src, extent[0], extent[1], extent[3], extent[4], extent[2], extent[5]
            )
        try:
            return method(span, *kept)
        except (ValueError, InvalidOperation, OverflowError) as err:
            raise _LiteralError(span, err) from None

    return callback


class _ASTLark(lark.Lark):
    """lark's LALR parser whose reductions build the AST with `_BUILDER` (see `_rule_callback`),
    however it was made: from the grammar, from lark's cache or from saved tables."""

    def _prepare_callbacks(self) -> None:
        placeholders = bool(self.options.maybe_placeholders)
        self._callbacks = {
            rule: _rule_callback(rule, _BUILDER, placeholders) for rule in self.rules
        }


def _string(tok: Token) -> str:
    return str(json.loads(str(tok)))


def _parse_datetime(text: str) -> dt.datetime:
    """A datetime literal: RFC 3339, the offset optional (a local datetime without one)."""
    return parse_datetime(text, "optional")


def _digits(tok: Token) -> str:
    """The text of a number token, refused past `MAX_LITERAL_DIGITS` digits (before any
    conversion: Python's own limit on integer text would name its internals instead)."""
    text = str(tok)
    if sum(c.isdigit() for c in text) > MAX_LITERAL_DIGITS:
        raise ValueError(f"a number literal has more than {MAX_LITERAL_DIGITS} digits")
    return text


_UNITS = {
    "day": "days",
    "days": "days",
    "week": "weeks",
    "weeks": "weeks",
    "hour": "hours",
    "hours": "hours",
    "minute": "minutes",
    "minutes": "minutes",
    "second": "seconds",
    "seconds": "seconds",
    "month": "months",
    "months": "months",
    "year": "years",
    "years": "years",
}


@dataclass(frozen=True, slots=True)
class _Citations:
    """`cites A1, A2`: the clause ids and where each is written."""

    ids: tuple[str, ...]
    spans: tuple[Span, ...]


_NO_CITATIONS = _Citations((), ())


class _Builder:
    """Builds the AST node of each rule from its span and the children it keeps. One builder
    serves the one parser; `parse` sets the file being read."""

    def __init__(self) -> None:
        self.src = Source("<policy>", "")
        self.extents: list[_Extent | None] = []

    # ---- file structure ----
    def start(self, span: Span, header: A.Header, *rest: Any) -> A.PolicyFile:
        imports = tuple(x for x in rest if isinstance(x, A.Import))
        items = tuple(x for x in rest if isinstance(x, A.Item))
        return A.PolicyFile(header, imports, items, span)

    def policy_header(self, span: Span, pid: Token, *fields: tuple[str, Any]) -> A.Header:
        kw: dict[str, Any] = {}
        oos: list[A.OutOfScope] = []
        for key, value in fields:
            if key == "out_of_scope":
                oos.append(value)
            else:
                kw[key] = value
        return A.Header("policy", _string(pid), out_of_scope=tuple(oos), span=span, **kw)

    def module_header(self, span: Span, mid: Token) -> A.Header:
        return A.Header("module", _string(mid), span=span)

    def h_version(self, span: Span, s: Token) -> tuple[str, Any]:
        return ("version", _string(s))

    def h_title(self, span: Span, s: Token) -> tuple[str, Any]:
        return ("title", _string(s))

    def h_source(self, span: Span, s: Token) -> tuple[str, Any]:
        return ("source_doc", _string(s))

    def h_input(self, span: Span, s: Token) -> tuple[str, Any]:
        return ("input_schema", _string(s))

    def h_output(self, span: Span, s: Token) -> tuple[str, Any]:
        return ("output_schema", _string(s))

    def instant(self, span: Span, tok: Token) -> tuple[dt.date | dt.datetime, str]:
        if tok.type == "DATE":
            return dt.date.fromisoformat(str(tok)), str(tok)
        return _parse_datetime(str(tok)), str(tok)

    def h_effective(
        self, span: Span, start: Any, until: Any, zone: Token | None
    ) -> tuple[str, Any]:
        z = _string(zone) if zone is not None else None
        start_value, start_text = start if start is not None else (None, None)
        until_value, until_text = until if until is not None else (None, None)
        effective = A.Effective(start_value, until_value, z, span, start_text, until_text)
        return ("effective", effective)

    def h_out_of_scope(self, span: Span, clause: Token, reason: Token) -> tuple[str, Any]:
        oos = A.OutOfScope(str(clause), _string(reason), span, self._token_span(clause))
        return ("out_of_scope", oos)

    def h_cost(self, span: Span, cost_class: Token, reason: Token) -> tuple[str, Any]:
        return ("cost", A.CostNote(_string(cost_class), _string(reason), span))

    def import_stmt(self, span: Span, path: Token, alias: Token) -> A.Import:
        return A.Import(_string(path), str(alias), span)

    # ---- items ----
    def params(self, span: Span, *ps: A.Param | None) -> tuple[A.Param, ...]:
        return tuple(p for p in ps if p is not None)

    def param(self, span: Span, name: Token, tref: A.TypeRef | None) -> A.Param:
        return A.Param(str(name), tref, span)

    def type_ref(
        self, span: Span, name: Token, arg: A.TypeRef | None, q: Token | None
    ) -> A.TypeRef:
        return A.TypeRef(str(name), arg, q is not None, span)

    def cites(self, span: Span, *clauses: Token) -> _Citations:
        return _Citations(
            tuple(str(c) for c in clauses), tuple(self._token_span(c) for c in clauses)
        )

    def _token_span(self, tok: Token) -> Span:
        return Span(
            self.src,
            tok.line or 0,
            tok.column or 0,
            tok.end_line or 0,
            tok.end_column or 0,
            tok.start_pos or 0,
            tok.end_pos or 0,
        )

    def priority(self, span: Span, n: Token) -> int:
        return int(_digits(n))

    def let_def(self, span: Span, name: Token, params: Any, body: A.Expr) -> A.Let:
        return A.Let(str(name), params, body, span)

    def rule_def(
        self,
        span: Span,
        name: Token,
        params: Any,
        cites: Any,
        prio: Any,
        reason: Token,
        when: A.Expr,
        then: A.Expr | None,
    ) -> A.Rule:
        c = cites or _NO_CITATIONS
        return A.Rule(str(name), params, c.ids, prio, _string(reason), when, then, span, c.spans)

    def rule_def_pc(
        self,
        span: Span,
        name: Token,
        params: Any,
        prio: Any,
        cites: Any,
        reason: Token,
        when: A.Expr,
        then: A.Expr | None,
    ) -> A.Rule:
        """`rule r priority 10 cites D6 ...`: the same rule, `priority` written first."""
        return self.rule_def(span, name, params, cites, prio, reason, when, then)

    def strategy(self, span: Span, tok: Token) -> str:
        return str(tok)

    def hit(self, span: Span, tok: Token) -> str:
        return str(tok)

    def default(self, span: Span, e: A.Expr) -> tuple[str, A.Expr]:
        return ("default", e)

    def decision_def(
        self, span: Span, name: Token, params: Any, strat: str, *rest: Any
    ) -> A.Decision:
        cites = _NO_CITATIONS
        rules: list[A.Rule] = []
        default: A.Expr | None = None
        for x in rest:
            if isinstance(x, A.Rule):
                rules.append(x)
            elif isinstance(x, tuple) and x and x[0] == "default":
                default = x[1]
            elif isinstance(x, _Citations):
                cites = x
        return A.Decision(
            str(name), params, str(strat), cites.ids, tuple(rules), default, span, cites.spans
        )

    def table_def(
        self, span: Span, name: Token, params: Any, hit: Any, cites: Any, *rows: A.TableRow
    ) -> A.Table:
        c = cites or _NO_CITATIONS
        return A.Table(
            str(name), params or (), str(hit or "unique"), c.ids, tuple(rows), span, c.spans
        )

    def row(self, span: Span, *parts: Any) -> A.TableRow:
        *cells, result = parts
        return A.TableRow(tuple(cells), result, span)

    def else_row(self, span: Span, result: A.Expr) -> A.TableRow:
        return A.TableRow(None, result, span)

    def any_cell(self, span: Span) -> A.Cell:
        return A.Cell("any", span=span)

    def cmp_cell(self, span: Span, op: Token, value: A.Expr) -> A.Cell:
        return A.Cell("cmp", str(op), (value,), span=span)

    def range_cell(self, span: Span, lo: A.Expr, op: Token, hi: A.Expr) -> A.Cell:
        return A.Cell("range", None, (lo, hi), str(op) == "..<", span)

    def cell_values(self, span: Span, *values: A.Expr) -> A.Cell:
        return A.Cell("values", None, tuple(values), span=span)

    def invariant_def(
        self, span: Span, name: Token, cites: Any, desc: Token, body: A.Expr
    ) -> A.Invariant:
        c = cites or _NO_CITATIONS
        return A.Invariant(str(name), c.ids, _string(desc), body, span, c.spans)

    def for_clause(
        self, span: Span, var: Token, source: A.Expr, where: A.Expr | None
    ) -> A.ForClause:
        return A.ForClause(str(var), source, where, span)

    def require_def(self, span: Span, code: Token, cites: Any, *rest: Any) -> A.Require:
        *fors, cond, at, msg = rest
        c = cites or _NO_CITATIONS
        return A.Require(str(code), tuple(fors), cond, at, _string(msg), span, c.ids, c.spans)

    def output_def(self, span: Span, body: A.Expr) -> A.Output:
        return A.Output(body, span)

    # ---- expressions ----
    def if_(self, span: Span, c: A.Expr, t: A.Expr, e: A.Expr) -> A.Expr:
        return A.If(c, t, e, span)

    def with_(self, span: Span, *rest: Any) -> A.Expr:
        *bindings, body = rest
        return A.With(tuple(bindings), body, span)

    def binding(self, span: Span, name: Token, value: A.Expr) -> tuple[str, A.Expr]:
        return (str(name), value)

    def implies_(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.BoolOp("implies", (a, b), span)

    def or_expr(self, span: Span, *ops: A.Expr) -> A.Expr:
        return A.BoolOp("or", tuple(ops), span)

    def and_expr(self, span: Span, *ops: A.Expr) -> A.Expr:
        return A.BoolOp("and", tuple(ops), span)

    def not_(self, span: Span, e: A.Expr) -> A.Expr:
        return A.Unary("not", e, span)

    def neg(self, span: Span, e: A.Expr) -> A.Expr:
        return A.Unary("-", e, span)

    def cmp(self, span: Span, a: A.Expr, op: Token, b: A.Expr) -> A.Expr:
        return A.Binary(str(op), a, b, span)

    def in_(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("in", a, b, span)

    def not_in(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("not in", a, b, span)

    def is_null(self, span: Span, a: A.Expr) -> A.Expr:
        return A.IsNull(a, False, span)

    def is_not_null(self, span: Span, a: A.Expr) -> A.Expr:
        return A.IsNull(a, True, span)

    def range_(self, span: Span, a: A.Expr, op: Token, b: A.Expr) -> A.Expr:
        return A.RangeExpr(a, b, str(op) == "..<", span)

    def coalesce_(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("??", a, b, span)

    def add(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("+", a, b, span)

    def sub(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("-", a, b, span)

    def mul(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("*", a, b, span)

    def div(self, span: Span, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("/", a, b, span)

    def field(self, span: Span, obj: A.Expr, name: Token) -> A.Expr:
        return A.Field(obj, str(name), span)

    def index(self, span: Span, obj: A.Expr, i: A.Expr) -> A.Expr:
        return A.Index(obj, i, span)

    def call(self, span: Span, func: A.Expr, *args: A.Expr | None) -> A.Expr:
        return A.Call(func, tuple(a for a in args if a is not None), span)

    def agg_call(self, span: Span, func: A.Expr, comp: A.Comprehension) -> A.Expr:
        if isinstance(func, A.Name):
            return A.AggCall(func.id, comp, span)
        # A comprehension passed to something that is not a plain name: let the checker report it.
        return A.AggCall("", comp, span)

    def comprehension(self, span: Span, elem: A.Expr, tail: dict[str, Any]) -> A.Comprehension:
        return A.Comprehension(elem=elem, span=span, **tail)

    def comp_tail(
        self, span: Span, var: Token, source: A.Expr, where: Any, order: Any, by: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"var": str(var), "source": source, "where": where, "by": by}
        if order is not None:
            out["order"], out["descending"] = order
        return out

    def where(self, span: Span, e: A.Expr) -> A.Expr:
        return e

    def order(self, span: Span, e: A.Expr, desc: Token | None) -> tuple[A.Expr, bool]:
        return (e, desc is not None)

    def by(self, span: Span, e: A.Expr) -> A.Expr:
        return e

    def list_(self, span: Span, *items: A.Expr | None) -> A.Expr:
        return A.ListLit(tuple(i for i in items if i is not None), span)

    def list_comp(self, span: Span, comp: A.Comprehension) -> A.Expr:
        return A.ListComp(comp, span)

    def map_comp(self, span: Span, key: A.Expr, value: A.Expr, tail: dict[str, Any]) -> A.Expr:
        comp = A.Comprehension(elem=value, span=span, **tail)
        return A.MapComp(key, comp, span)

    def record(self, span: Span, *fields: tuple[str, A.Expr] | None) -> A.Expr:
        return A.RecordLit(tuple(f for f in fields if f is not None), span)

    def field_init(self, span: Span, key: Token, value: A.Expr) -> tuple[str, A.Expr]:
        return (_string(key) if key.type == "STRING" else str(key), value)

    # ---- atoms ----
    def number(self, span: Span, tok: Token) -> A.Expr:
        text = _digits(tok)
        if "." in text:
            return A.Literal(Decimal(text), "decimal", span, str(tok))
        return A.Literal(int(text), "int", span, str(tok))

    def percent(self, span: Span, tok: Token) -> A.Expr:
        # exact: `/ 100` would round to the host's decimal context (28 digits by default)
        return A.Literal(Decimal(_digits(tok)[:-1]).scaleb(-2, _EXACT), "percent", span, str(tok))

    def money(self, span: Span, num: Token, cur: Token) -> A.Expr:
        return A.MoneyLit(Decimal(_digits(num)), str(cur), span, str(num))

    def duration(self, span: Span, num: Token, unit: Token) -> A.Expr:
        count = Decimal(_digits(num))
        if count != count.to_integral_value():
            raise ValueError(f"`{num} {unit}` is not a whole number of {_UNITS[str(unit)]}")
        return A.DurationLit(int(count), _UNITS[str(unit)], span, str(num))

    def string(self, span: Span, tok: Token) -> A.Expr:
        return A.Literal(_string(tok), "string", span)

    def date(self, span: Span, tok: Token) -> A.Expr:
        return A.Literal(dt.date.fromisoformat(str(tok)), "date", span, str(tok))

    def datetime(self, span: Span, tok: Token) -> A.Expr:
        value = _parse_datetime(str(tok))
        kind = "datetime" if value.tzinfo is not None else "local_datetime"
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return A.Literal(value, kind, span, str(tok))

    def true(self, span: Span) -> A.Expr:
        return A.Literal(True, "bool", span)

    def false(self, span: Span) -> A.Expr:
        return A.Literal(False, "bool", span)

    def null(self, span: Span) -> A.Expr:
        return A.Literal(None, "null", span)

    def name(self, span: Span, tok: Token) -> A.Expr:
        return A.Name(str(tok), span)

    def input_ref(self, span: Span) -> A.Expr:
        return A.InputRef(span)

    def output_ref(self, span: Span) -> A.Expr:
        return A.OutputRef(span)


_BUILDER = _Builder()
_PARSING = threading.Lock()  # the one builder reads one file at a time


# Labelled examples of common mistakes, matched against the parser state of a failure
# (lark's `match_examples`): the label becomes the message.
_EXAMPLES: dict[str, list[str]] = {
    "missing `then` after the condition of `if`": [
        'policy "p" let x = if true 1 else 2',
    ],
    "missing `else` branch: `if` needs both `then` and `else`": [
        'policy "p" let x = if true then 1',
    ],
    "missing `when` before the rule's condition": [
        'policy "p" rule r "reason" true',
        'policy "p" rule r cites A1 "reason" true',
    ],
    "a rule needs a reason string before `when`": [
        'policy "p" rule r when true',
        'policy "p" rule r cites A1 when true',
    ],
    "use `==` to compare; `=` only defines a name with `let`": [
        'policy "p" let x = 1 = 2',
        'policy "p" rule r "x" when a = 2',
    ],
    "use `and` / `or` / `not` instead of `&&` / `||` / `!`": [
        'policy "p" let x = a &',
        'policy "p" let x = a |',
        'policy "p" let x = !a',
    ],
    "unclosed `(`, `[` or `{`": [
        'policy "p" let x = (1 + 2',
        'policy "p" let x = [1, 2',
        'policy "p" let x = {a: 1',
    ],
    'a string is not closed by `"`': [
        'policy "p" let x = "abc',
    ],
}


_CHAR_LABELS = {
    '"': 'a string is not closed by `"`',
    "&": "use `and` / `or` / `not` instead of `&&` / `||` / `!`",
    "|": "use `and` / `or` / `not` instead of `&&` / `||` / `!`",
    "!": "use `and` / `or` / `not` instead of `&&` / `||` / `!`",
}


@functools.cache
def _example_errors() -> tuple[tuple[str, UnexpectedInput], ...]:
    out = []
    for label, examples in _EXAMPLES.items():
        for example in examples:
            try:
                _parser().parse(example)
            except UnexpectedInput as ut:
                out.append((label, ut))
    return tuple(out)


def _label(err: UnexpectedInput, text: str) -> str | None:
    """The label of the example failing like `err`: in the same parser state (whatever the
    nesting around it) on the same kind of token. lark's own `match_examples` also wants the
    same nesting, and falls back to a label of the same state on any token."""
    if isinstance(err, UnexpectedCharacters) and err.char in _CHAR_LABELS:
        return _CHAR_LABELS[err.char]
    if isinstance(err, UnexpectedToken) and str(err.token) == "|":
        end = err.token.end_pos
        if end is not None and text[end : end + 1] == "|":  # `||`, read as two table bars
            return _CHAR_LABELS["|"]
    position = getattr(getattr(err, "state", None), "position", None)
    if position is None:
        return None
    for label, ut in _example_errors():
        if type(ut) is not type(err) or getattr(ut.state, "position", None) != position:
            continue
        if isinstance(err, UnexpectedToken) and _kind(ut.token.type) != _kind(err.token.type):  # type: ignore[attr-defined]
            continue
        return label
    return None


# what ends an expression early (the next item, a closing bracket, the next field or argument)
# is read like the end of the file
_ITEM_STARTS = {"LET", "RULE", "DECISION", "TABLE", "INVARIANT", "REQUIRE", "OUTPUT", "IMPORT"}
_ITEM_STARTS |= {"RBRACE", "RPAR", "RSQB", "COMMA"}


def _kind(token_type: str) -> str:
    return "$END" if token_type in _ITEM_STARTS else token_type


def _expected_text(expected: set[str]) -> str:
    names = sorted({_TOKEN_NAMES.get(e, _literal_name(e)) for e in expected})
    if len(names) > 8:
        names = [*names[:8], "..."]
    return ", ".join(names)


def _keywords(terms: set[str]) -> list[str]:
    out = []
    for term in terms:
        try:
            pattern = _parser().get_terminal(term).pattern
        except KeyError:
            continue
        if pattern.type == "str" and str(pattern.value).isalpha():
            out.append(str(pattern.value))
    return sorted(out)


def _literal_name(term: str) -> str:
    try:
        pattern = _parser().get_terminal(term).pattern
        return f"`{pattern.value}`" if pattern.type == "str" else term.lower()
    except KeyError:
        return term.lower()


def _syntax_error(source: Source, err: UnexpectedInput) -> PolicySyntaxError:
    line = getattr(err, "line", 1) or 1
    col = getattr(err, "column", 1) or 1
    try:
        label = _label(err, source.text)
    except Exception:
        label = None
    width = 1
    expected: set[str] = set()
    if isinstance(err, UnexpectedToken):
        tok = err.token
        width = max(1, len(str(tok)))
        expected = set(err.accepts or err.expected)
        found = "end of file" if tok.type == "$END" else f"`{tok}`"
        message = f"unexpected {found}" if tok.type != "$END" else "unexpected end of file"
        if tok.type == "$END":
            # point at the end of the text, not at the last token (or comment) before it
            lines = _lines(source.text)
            line, col, width = len(lines), len(lines[-1]) + 1, 0
    elif isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream or 0
        ch = source.text[pos] if pos < len(source.text) else ""
        message = f"unexpected character `{ch}`"
        expected = set(err.allowed or ())
    elif isinstance(err, UnexpectedEOF):
        message = "unexpected end of file"
        expected = set(err.expected)
        lines = _lines(source.text)
        line, col = len(lines), len(lines[-1]) + 1
    else:
        message = "syntax error"
    if not label and isinstance(err, UnexpectedToken) and err.token.type == "NAME":
        label = did_you_mean(str(err.token), _keywords(expected))  # `els` for `else`
    pos = _offset(source.text, line, col)
    before = _tokens_before(source.text, pos)
    dangling = _dangling_operator(source, before, pos)
    if dangling is not None:
        return PolicySyntaxError([dangling])
    opener = _unclosed_opener(before)
    if label and "unclosed" in label and opener is not None:
        ch, at = opener
        o_line, o_col = _line_col(source.text, at)
        label = f"the `{ch}` opened at line {o_line}, col {o_col} is not closed"
    if label:
        message = f"{message}: {label}"
    span = Span(source, line, col, line, col + width, pos, pos + width)
    help_text = f"expected {_expected_text(expected)}" if expected else None
    return PolicySyntaxError([Diagnostic("syntax-error", ERROR, message, span, help_text)])


# a rough lexer, enough to look back from a syntax error: strings and comments are whole tokens
_ROUGH_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[A-Za-z_][A-Za-z0-9_]*|\d[\w.:%-]*|\.\.<|\.\.|\?\?|[<>!=]=|\S'
)
# what cannot end an expression: after it, the expression goes on
_CONTINUING = {
    "and",
    "or",
    "implies",
    "not",
    "in",
    "+",
    "-",
    "*",
    "/",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "??",
    "..",
    "..<",
}
# words that start the next part of a policy, read as a name after an operator
_NEXT_PART = {
    "then",
    "else",
    "output",
    "rule",
    "let",
    "decision",
    "table",
    "invariant",
    "require",
    "import",
    "when",
}
_CLOSING = {")": "(", "]": "[", "}": "{"}


def _tokens_before(text: str, pos: int) -> list[tuple[str, int]]:
    """The tokens of `text` before offset `pos`, comments left out, with their offsets."""
    out = []
    for m in _ROUGH_TOKEN.finditer(text, 0, pos):
        if not m.group().startswith("#"):
            out.append((m.group(), m.start()))
    return out


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _dangling_operator(
    source: Source, before: list[tuple[str, int]], pos: int
) -> Diagnostic | None:
    """An operator that ends a line with nothing after it (`... and` then `then` on the next
    line, which is read as a name): reported at the operator, not where the parser noticed."""
    text = source.text
    if not before:
        return None
    op, at = before[-1]
    following = pos
    if op in _NEXT_PART and len(before) > 1:
        following = at
        op, at = before[-2]
    if op not in _CONTINUING or "\n" not in text[at + len(op) : following]:
        return None
    line, col = _line_col(text, at)
    span = Span(source, line, col, line, col + len(op), at, at + len(op))
    nxt = text[following:].split(None, 1)[0] if text[following:].strip() else "end of file"
    return Diagnostic(
        "syntax-error",
        ERROR,
        f"`{op}` ends line {line} with nothing after it",
        span,
        f"give `{op}` what comes after it, or remove it: the `{nxt}` on the next line is "
        "not part of this expression",
    )


def _unclosed_opener(before: list[tuple[str, int]]) -> tuple[str, int] | None:
    """The innermost bracket opened and not closed before the error."""
    stack: list[tuple[str, int]] = []
    for tok, at in before:
        if tok in ("(", "[", "{"):
            stack.append((tok, at))
        elif tok in _CLOSING and stack and stack[-1][0] == _CLOSING[tok]:
            stack.pop()
    return stack[-1] if stack else None


def _lines(text: str) -> list[str]:
    """The lines of `text` as the lexer counts them: only `\n` ends a line (`splitlines` would
    also split at `\r`, `\f`, `\x1e`, `\u2028`...), and a final `\n` starts no new line."""
    lines = text.split("\n")
    if len(lines) > 1 and lines[-1] == "":
        lines.pop()
    return lines


def _offset(text: str, line: int, col: int) -> int:
    lines = text.split("\n")
    return sum(len(x) + 1 for x in lines[: line - 1]) + col - 1


def parse(text: str, path: str = "<policy>") -> A.PolicyFile:
    """Parse policy text into an AST; raise `PolicySyntaxError` (with a located diagnostic)."""
    source = Source(path, text)
    return _parse_as(source, text)


def _parse_as(source: Source, text: str) -> A.PolicyFile:
    """Parse `text`, its spans and syntax errors placed in `source` (the same lines and
    columns: `text` is `source`'s text, or a copy with parts blanked)."""
    parser = _parser()
    with _PARSING:
        _BUILDER.src = source
        _BUILDER.extents.clear()
        try:
            result: A.PolicyFile = parser.parse(text)  # type: ignore[assignment]
        except UnexpectedInput as err:
            raise _syntax_error(source, err) from None
        except _LiteralError as err:
            message = f"invalid literal: {err.orig}"
            raise PolicySyntaxError(
                [Diagnostic("invalid-literal", ERROR, message, err.span)]
            ) from None
        finally:
            _BUILDER.extents.clear()
            _BUILDER.src = Source("<policy>", "")
    return result


def parse_expression_at(source: Source, start: int, end: int) -> A.Expr:
    """Parse `source.text[start:end]` as one expression, with spans (and syntax errors) at
    their place in `source`: a reason's placeholder is checked where it is written.

    The text before the expression is blanked (its line breaks kept, so lines and columns are
    those of the file) and an `output (` prefix is written into the blanks."""
    text = source.text
    blank = "".join(c if c == "\n" else " " for c in text[:start])
    prefix = list(blank)
    pos = 0
    for word in ("policy", '"p"', "output", "("):
        # each word goes into the next run of blanks on one line that is long enough for it
        while True:
            line_end = blank.find("\n", pos)
            line_end = len(blank) if line_end < 0 else line_end
            if line_end - pos >= len(word) + 1:
                prefix[pos : pos + len(word)] = word
                pos += len(word) + 1
                break
            if line_end >= len(blank):
                raise PolicySyntaxError(
                    [
                        Diagnostic(
                            "syntax-error",
                            ERROR,
                            "a placeholder must come after the policy header",
                            Span(source, 1, 1, 1, 1, 0, 0),
                        )
                    ]
                )
            pos = line_end + 1
    synthetic = "".join(prefix) + text[start:end] + ")"
    result = _parse_as(source, synthetic)
    out = result.items[-1]
    assert isinstance(out, A.Output)
    return out.body
