"""Text -> AST: one shared LALR parser built from `grammar.lark`, errors turned into our own."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import json
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from . import ast as A
from .diagnostics import ERROR, Diagnostic, PolicySyntaxError, Source, Span

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
    # Built once per process. Building the LALR tables is most of a cold start, so they are kept
    # in a file of the user's cache folder (named after the grammar, lark and Python; lark also
    # checks the grammar's digest inside it). Without a usable cache folder they are built.
    import sys

    from .._cache import cache_file, digest

    text = GRAMMAR.read_text()
    key = digest(text, lark.__version__, sys.version)[:24]
    path = cache_file(f"grammar-{key}.lark")
    return lark.Lark(
        text,
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
        cache=str(path) if path is not None else False,
    )


def _span(source: Source, meta: Any) -> Span:
    if getattr(meta, "empty", True):
        return Span(source, 1, 1, 1, 1, 0, 0)
    return Span(
        source,
        meta.line,
        meta.column,
        meta.end_line,
        meta.end_column,
        meta.start_pos,
        meta.end_pos,
    )


def _tok_span(source: Source, tok: Token) -> Span:
    return Span(
        source,
        tok.line or 1,
        tok.column or 1,
        tok.end_line or tok.line or 1,
        tok.end_column or (tok.column or 1) + len(tok),
        tok.start_pos or 0,
        tok.end_pos or 0,
    )


def _string(tok: Token) -> str:
    return str(json.loads(str(tok)))


def _parse_datetime(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


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
}


@v_args(meta=True, inline=True)
class _Builder(Transformer):
    """Builds AST nodes from lark's tree, attaching spans."""

    def __init__(self, source: Source):
        super().__init__()
        self.src = source

    def _s(self, meta: Any) -> Span:
        return _span(self.src, meta)

    # ---- file structure ----
    def start(self, meta: Any, header: A.Header, *rest: Any) -> A.PolicyFile:
        imports = tuple(x for x in rest if isinstance(x, A.Import))
        items = tuple(x for x in rest if isinstance(x, A.Item))
        return A.PolicyFile(header, imports, items, self._s(meta))

    def policy_header(self, meta: Any, pid: Token, *fields: tuple[str, Any]) -> A.Header:
        kw: dict[str, Any] = {}
        oos: list[A.OutOfScope] = []
        for key, value in fields:
            if key == "out_of_scope":
                oos.append(value)
            else:
                kw[key] = value
        return A.Header("policy", _string(pid), out_of_scope=tuple(oos), span=self._s(meta), **kw)

    def module_header(self, meta: Any, mid: Token) -> A.Header:
        return A.Header("module", _string(mid), span=self._s(meta))

    def h_version(self, meta: Any, s: Token) -> tuple[str, Any]:
        return ("version", _string(s))

    def h_title(self, meta: Any, s: Token) -> tuple[str, Any]:
        return ("title", _string(s))

    def h_source(self, meta: Any, s: Token) -> tuple[str, Any]:
        return ("source_doc", _string(s))

    def h_input(self, meta: Any, s: Token) -> tuple[str, Any]:
        return ("input_schema", _string(s))

    def h_output(self, meta: Any, s: Token) -> tuple[str, Any]:
        return ("output_schema", _string(s))

    def instant(self, meta: Any, tok: Token) -> dt.date | dt.datetime:
        if tok.type == "DATE":
            return dt.date.fromisoformat(str(tok))
        return _parse_datetime(str(tok))

    def h_effective(self, meta: Any, start: Any, until: Any, zone: Token | None) -> tuple[str, Any]:
        z = _string(zone) if zone is not None else None
        return ("effective", A.Effective(start, until, z, self._s(meta)))

    def h_out_of_scope(self, meta: Any, clause: Token, reason: Token) -> tuple[str, Any]:
        return ("out_of_scope", A.OutOfScope(str(clause), _string(reason), self._s(meta)))

    def import_stmt(self, meta: Any, path: Token, alias: Token) -> A.Import:
        return A.Import(_string(path), str(alias), self._s(meta))

    # ---- items ----
    def params(self, meta: Any, *ps: A.Param | None) -> tuple[A.Param, ...]:
        return tuple(p for p in ps if p is not None)

    def param(self, meta: Any, name: Token, tref: A.TypeRef | None) -> A.Param:
        return A.Param(str(name), tref, self._s(meta))

    def type_ref(self, meta: Any, name: Token, arg: A.TypeRef | None, q: Token | None) -> A.TypeRef:
        return A.TypeRef(str(name), arg, q is not None, self._s(meta))

    def cites(self, meta: Any, *clauses: Token) -> tuple[str, ...]:
        return tuple(str(c) for c in clauses)

    def priority(self, meta: Any, n: Token) -> int:
        return int(n)

    def let_def(self, meta: Any, name: Token, params: Any, body: A.Expr) -> A.Let:
        return A.Let(str(name), params, body, self._s(meta))

    def rule_def(
        self,
        meta: Any,
        name: Token,
        params: Any,
        cites: Any,
        prio: Any,
        reason: Token,
        when: A.Expr,
        then: A.Expr | None,
    ) -> A.Rule:
        return A.Rule(
            str(name), params, cites or (), prio, _string(reason), when, then, self._s(meta)
        )

    def rule_def_pc(
        self,
        meta: Any,
        name: Token,
        params: Any,
        prio: Any,
        cites: Any,
        reason: Token,
        when: A.Expr,
        then: A.Expr | None,
    ) -> A.Rule:
        """`rule r priority 10 cites D6 ...`: the same rule, `priority` written first."""
        return self.rule_def(meta, name, params, cites, prio, reason, when, then)

    def strategy(self, meta: Any, tok: Token) -> str:
        return str(tok)

    def hit(self, meta: Any, tok: Token) -> str:
        return str(tok)

    def default(self, meta: Any, e: A.Expr) -> tuple[str, A.Expr]:
        return ("default", e)

    def decision_def(
        self, meta: Any, name: Token, params: Any, strat: str, *rest: Any
    ) -> A.Decision:
        cites: tuple[str, ...] = ()
        rules: list[A.Rule] = []
        default: A.Expr | None = None
        for x in rest:
            if isinstance(x, A.Rule):
                rules.append(x)
            elif isinstance(x, tuple) and x and x[0] == "default":
                default = x[1]
            elif isinstance(x, tuple):
                cites = x
        return A.Decision(
            str(name), params, str(strat), cites, tuple(rules), default, self._s(meta)
        )

    def table_def(
        self, meta: Any, name: Token, params: Any, hit: Any, cites: Any, *rows: A.TableRow
    ) -> A.Table:
        return A.Table(
            str(name), params or (), str(hit or "unique"), cites or (), tuple(rows), self._s(meta)
        )

    def row(self, meta: Any, *parts: Any) -> A.TableRow:
        *cells, result = parts
        return A.TableRow(tuple(cells), result, self._s(meta))

    def else_row(self, meta: Any, result: A.Expr) -> A.TableRow:
        return A.TableRow(None, result, self._s(meta))

    def any_cell(self, meta: Any) -> A.Cell:
        return A.Cell("any", span=self._s(meta))

    def cmp_cell(self, meta: Any, op: Token, value: A.Expr) -> A.Cell:
        return A.Cell("cmp", str(op), (value,), span=self._s(meta))

    def range_cell(self, meta: Any, lo: A.Expr, op: Token, hi: A.Expr) -> A.Cell:
        return A.Cell("range", None, (lo, hi), str(op) == "..<", self._s(meta))

    def cell_values(self, meta: Any, *values: A.Expr) -> A.Cell:
        return A.Cell("values", None, tuple(values), span=self._s(meta))

    def invariant_def(
        self, meta: Any, name: Token, cites: Any, desc: Token, body: A.Expr
    ) -> A.Invariant:
        return A.Invariant(str(name), cites or (), _string(desc), body, self._s(meta))

    def for_clause(
        self, meta: Any, var: Token, source: A.Expr, where: A.Expr | None
    ) -> A.ForClause:
        return A.ForClause(str(var), source, where, self._s(meta))

    def require_def(self, meta: Any, code: Token, *rest: Any) -> A.Require:
        *fors, cond, at, msg = rest
        return A.Require(str(code), tuple(fors), cond, at, _string(msg), self._s(meta))

    def output_def(self, meta: Any, body: A.Expr) -> A.Output:
        return A.Output(body, self._s(meta))

    # ---- expressions ----
    def if_(self, meta: Any, c: A.Expr, t: A.Expr, e: A.Expr) -> A.Expr:
        return A.If(c, t, e, self._s(meta))

    def or_expr(self, meta: Any, *ops: A.Expr) -> A.Expr:
        return A.BoolOp("or", tuple(ops), self._s(meta))

    def and_expr(self, meta: Any, *ops: A.Expr) -> A.Expr:
        return A.BoolOp("and", tuple(ops), self._s(meta))

    def not_(self, meta: Any, e: A.Expr) -> A.Expr:
        return A.Unary("not", e, self._s(meta))

    def neg(self, meta: Any, e: A.Expr) -> A.Expr:
        return A.Unary("-", e, self._s(meta))

    def cmp(self, meta: Any, a: A.Expr, op: Token, b: A.Expr) -> A.Expr:
        return A.Binary(str(op), a, b, self._s(meta))

    def in_(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("in", a, b, self._s(meta))

    def not_in(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("not in", a, b, self._s(meta))

    def is_null(self, meta: Any, a: A.Expr) -> A.Expr:
        return A.IsNull(a, False, self._s(meta))

    def is_not_null(self, meta: Any, a: A.Expr) -> A.Expr:
        return A.IsNull(a, True, self._s(meta))

    def range_(self, meta: Any, a: A.Expr, op: Token, b: A.Expr) -> A.Expr:
        return A.RangeExpr(a, b, str(op) == "..<", self._s(meta))

    def coalesce_(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("??", a, b, self._s(meta))

    def add(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("+", a, b, self._s(meta))

    def sub(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("-", a, b, self._s(meta))

    def mul(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("*", a, b, self._s(meta))

    def div(self, meta: Any, a: A.Expr, b: A.Expr) -> A.Expr:
        return A.Binary("/", a, b, self._s(meta))

    def field(self, meta: Any, obj: A.Expr, name: Token) -> A.Expr:
        return A.Field(obj, str(name), self._s(meta))

    def index(self, meta: Any, obj: A.Expr, i: A.Expr) -> A.Expr:
        return A.Index(obj, i, self._s(meta))

    def call(self, meta: Any, func: A.Expr, *args: A.Expr | None) -> A.Expr:
        return A.Call(func, tuple(a for a in args if a is not None), self._s(meta))

    def agg_call(self, meta: Any, func: A.Expr, comp: A.Comprehension) -> A.Expr:
        if isinstance(func, A.Name):
            return A.AggCall(func.id, comp, self._s(meta))
        # A comprehension passed to something that is not a plain name: let the checker report it.
        return A.AggCall("", comp, self._s(meta))

    def comprehension(self, meta: Any, elem: A.Expr, tail: dict[str, Any]) -> A.Comprehension:
        return A.Comprehension(elem=elem, span=self._s(meta), **tail)

    def comp_tail(
        self, meta: Any, var: Token, source: A.Expr, where: Any, order: Any, by: Any
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"var": str(var), "source": source, "where": where, "by": by}
        if order is not None:
            out["order"], out["descending"] = order
        return out

    def where(self, meta: Any, e: A.Expr) -> A.Expr:
        return e

    def order(self, meta: Any, e: A.Expr, desc: Token | None) -> tuple[A.Expr, bool]:
        return (e, desc is not None)

    def by(self, meta: Any, e: A.Expr) -> A.Expr:
        return e

    def list_(self, meta: Any, *items: A.Expr | None) -> A.Expr:
        return A.ListLit(tuple(i for i in items if i is not None), self._s(meta))

    def list_comp(self, meta: Any, comp: A.Comprehension) -> A.Expr:
        return A.ListComp(comp, self._s(meta))

    def map_comp(self, meta: Any, key: A.Expr, value: A.Expr, tail: dict[str, Any]) -> A.Expr:
        comp = A.Comprehension(elem=value, span=self._s(meta), **tail)
        return A.MapComp(key, comp, self._s(meta))

    def record(self, meta: Any, *fields: tuple[str, A.Expr] | None) -> A.Expr:
        return A.RecordLit(tuple(f for f in fields if f is not None), self._s(meta))

    def field_init(self, meta: Any, key: Token, value: A.Expr) -> tuple[str, A.Expr]:
        return (_string(key) if key.type == "STRING" else str(key), value)

    # ---- atoms ----
    def number(self, meta: Any, tok: Token) -> A.Expr:
        text = str(tok)
        if "." in text:
            return A.Literal(Decimal(text), "decimal", self._s(meta))
        return A.Literal(int(text), "int", self._s(meta))

    def percent(self, meta: Any, tok: Token) -> A.Expr:
        # exact: `/ 100` would round to the host's decimal context (28 digits by default)
        return A.Literal(Decimal(str(tok)[:-1]).scaleb(-2, _EXACT), "percent", self._s(meta))

    def money(self, meta: Any, num: Token, cur: Token) -> A.Expr:
        return A.MoneyLit(Decimal(str(num)), str(cur), self._s(meta))

    def duration(self, meta: Any, num: Token, unit: Token) -> A.Expr:
        count = Decimal(str(num))
        if count != count.to_integral_value():
            raise ValueError(f"`{num} {unit}` is not a whole number of {_UNITS[str(unit)]}")
        return A.DurationLit(int(count), _UNITS[str(unit)], self._s(meta))

    def string(self, meta: Any, tok: Token) -> A.Expr:
        return A.Literal(_string(tok), "string", self._s(meta))

    def date(self, meta: Any, tok: Token) -> A.Expr:
        return A.Literal(dt.date.fromisoformat(str(tok)), "date", self._s(meta))

    def datetime(self, meta: Any, tok: Token) -> A.Expr:
        value = _parse_datetime(str(tok))
        kind = "datetime" if value.tzinfo is not None else "local_datetime"
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return A.Literal(value, kind, self._s(meta))

    def true(self, meta: Any) -> A.Expr:
        return A.Literal(True, "bool", self._s(meta))

    def false(self, meta: Any) -> A.Expr:
        return A.Literal(False, "bool", self._s(meta))

    def null(self, meta: Any) -> A.Expr:
        return A.Literal(None, "null", self._s(meta))

    def name(self, meta: Any, tok: Token) -> A.Expr:
        return A.Name(str(tok), self._s(meta))

    def input_ref(self, meta: Any) -> A.Expr:
        return A.InputRef(self._s(meta))

    def output_ref(self, meta: Any) -> A.Expr:
        return A.OutputRef(self._s(meta))


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
    if label:
        message = f"{message}: {label}"
    pos = _offset(source.text, line, col)
    span = Span(source, line, col, line, col + width, pos, pos + width)
    help_text = f"expected {_expected_text(expected)}" if expected else None
    return PolicySyntaxError([Diagnostic("syntax-error", ERROR, message, span, help_text)])


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


def _too_deep(source: Source) -> PolicySyntaxError:
    span = Span(source, 1, 1, 1, 2, 0, 1)
    return PolicySyntaxError(
        [
            Diagnostic(
                "nesting-too-deep",
                ERROR,
                "the policy nests expressions too deeply to read",
                span,
                "split the expression into named definitions with `let`",
            )
        ]
    )


def parse(text: str, path: str = "<policy>") -> A.PolicyFile:
    """Parse policy text into an AST; raise `PolicySyntaxError` (with a located diagnostic)."""
    source = Source(path, text)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(source, err) from None
    except RecursionError:
        raise _too_deep(source) from None
    try:
        result: A.PolicyFile = _Builder(source).transform(tree)
    except RecursionError:
        raise _too_deep(source) from None
    except lark.exceptions.VisitError as err:
        orig = err.orig_exc
        if isinstance(orig, ValueError | InvalidOperation | OverflowError):
            meta = getattr(err.obj, "meta", None)
            span = _span(source, meta) if meta is not None else Span(source, 1, 1, 1, 2)
            if isinstance(err.obj, Token):
                span = _tok_span(source, err.obj)
            raise PolicySyntaxError(
                [Diagnostic("invalid-literal", ERROR, f"invalid literal: {orig}", span)]
            ) from None
        raise
    return result


def parse_file(path: str | Path) -> A.PolicyFile:
    """Read and parse a policy file (a file parsed before, unchanged, comes from the cache)."""
    from .. import _cache

    return _cache.parse_file(path)
