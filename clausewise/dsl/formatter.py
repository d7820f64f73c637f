"""The canonical layout of policy files: `format_source(text)`, used by `clausewise fmt`.

The layout is printed from the AST, so it cannot change what a policy means: header fields one
per line in a fixed order, a blank line between items, two spaces of indentation, rules as
`rule name cites A1 "reason"` with `when` and `then` on their own lines, minimal parentheses,
strings re-escaped, and lists, records, calls and long conditions broken over lines only when a
line would be longer than 100 characters. Expressions and literals are printed by `printer`,
the same printer `clausewise diff` and diagnostics use: numbers, percentages, money, durations
and dates are written as the author wrote them.

Comments are not in the AST: they are collected from the token stream and attached to the line
they trail or to the item, rule, row, field or list element they precede. A comment inside an
expression moves to the start of the enclosing line; no comment is ever dropped.

The result is checked before it is returned: it must parse to the same AST and keep every
comment, or `FormatError` is raised and nothing should be written.
"""

from __future__ import annotations

import bisect
import contextvars
import functools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeAlias

import lark
from lark import Token, Tree

from . import ast as A
from .diagnostics import PolicySyntaxError
from .parser import GRAMMAR, parse
from .printer import (
    BREAK,
    HARD,
    LINE,
    SOFT,
    WIDTH,
    Doc,
    ExprPrinter,
    Group,
    IfBroken,
    Indent,
    Prec,
    Suffix,
    cites_text,
    effective_text,
    flat,
    forces_break,
    group,
    join,
    params_text,
    quote,
    render,
)

__all__ = ["WIDTH", "FormatError", "format_source"]


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
    result = _finish(render(_Printer(scan, attached).file_doc(tree)))
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

_Key: TypeAlias = tuple[object, ...]
_Item: TypeAlias = tuple[int, int, Callable[[], Doc]]


class _Printer(ExprPrinter):
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
        elems: list[Doc] = join([",", LINE], docs)
        if docs and comma:
            elems.append(IfBroken(","))
        if pack:
            inner = group(*elems)
            elems = [inner]
        body: list[Doc] = [SOFT, *elems] if docs else []
        body += _ending(att.end)
        outer = [opening, *_trailing(att.open), Indent(body), SOFT, closing]
        return Group(outer, forces_break(outer) or (pack and inner.broken))

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
        return ["{", *_trailing(att.open), Indent(body), HARD, "}"]

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
                text = f"import {quote(imp.path)} as {imp.alias}"
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
        out: list[Doc] = [self._line("head", 0, 1, lambda: f"{h.kind} {quote(h.id)}")]

        def add(kind: str, text: str, rng: tuple[int, int] | None = None) -> None:
            occurrences = fields.get(kind)
            if rng is None and occurrences:
                rng = occurrences[-1]  # a repeated field: the last one counts
            if rng is None:
                out.extend([HARD, text])
            else:
                out.extend([HARD, self._line(kind, rng[0], rng[1], lambda: text)])

        if h.version is not None:
            add("h_version", f"version {quote(h.version)}")
        if h.title is not None:
            add("h_title", f"title {quote(h.title)}")
        if h.source_doc is not None:
            add("h_source", f"source {quote(h.source_doc)}")
        if h.input_schema is not None:
            add("h_input", f"input schema {quote(h.input_schema)}")
        if h.output_schema is not None:
            add("h_output", f"output schema {quote(h.output_schema)}")
        if h.effective is not None:
            add("h_effective", effective_text(h.effective))
        for oos in h.out_of_scope:
            add(
                "h_out_of_scope",
                f"out of scope {oos.clause} {quote(oos.reason)}",
                scan.bounds(oos),
            )
        if h.cost is not None:
            add("h_cost", f"cost {quote(h.cost.cost_class)} {quote(h.cost.reason)}")
        return out

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
        return ["let ", x.name, params_text(x.params), " = ", self.expr(x.body)]

    def _rule(self, r: A.Rule) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(r)
        wi, wj = scan.extent(r.when, lo, hi)
        head = f"rule {r.name}{params_text(r.params)}{cites_text(r.cites)}"
        if r.priority is not None:
            head += f" priority {r.priority}"
        reason = quote(r.reason)
        parts: list[Doc] = [
            HARD,
            self._line("when", wi - 1, wj, lambda: ["when ", self.expr(r.when)]),
        ]
        if r.then is not None:
            then = r.then
            ti, tj = scan.extent(then, lo, hi)
            parts += [HARD, self._line("then", ti - 1, tj, lambda: ["then ", self.expr(then)])]
        # A head too long for one line puts its reason on the next.
        head_doc = self._line("rule-head", lo, wi - 2, lambda: group(head, Indent([LINE, reason])))
        return [head_doc, Indent(parts)]

    def _decision(self, d: A.Decision) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(d)
        brace = scan.find("{", lo)
        head = f"decision {d.name}{params_text(d.params)} {d.strategy}{cites_text(d.cites)}"
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
        head = f"table {t.name}{params_text(t.params or None)}"
        if t.hit != "unique":
            head += f" {t.hit}"
        head += cites_text(t.cites)
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
            return flat(self.cell(c))

    def _invariant(self, inv: A.Invariant) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(inv)
        bi, bj = scan.extent(inv.body, lo, hi)
        head = f"invariant {inv.name}{cites_text(inv.cites)}"
        description = quote(inv.description) + ":"
        body = self._line("body", bi, bj, lambda: self.expr(inv.body))
        head_doc = self._line("head", lo, bi - 1, lambda: group(head, Indent([LINE, description])))
        return [head_doc, Indent([HARD, body])]

    def _require(self, req: A.Require) -> Doc:
        scan = self.scan
        lo, hi = scan.bounds(req)
        ci, cj = scan.extent(req.cond, lo, hi)
        ai, _ = scan.extent(req.at, lo, hi)

        def head() -> Doc:
            out: list[Doc] = ["require ", req.code, cites_text(req.cites)]
            for fc in req.fors:
                out += [" for ", fc.var, " in ", self.expr(fc.source)]
                if fc.where is not None:
                    out += [" where ", self.expr(fc.where)]
            out.append(":")
            return out

        cond = self._line("cond", ci, cj, lambda: self.expr(req.cond))
        at = self._line(
            "at", ai - 1, hi, lambda: ["at ", self.expr(req.at), " ", quote(req.message)]
        )
        return [self._line("head", lo, ci - 1, head), Indent([HARD, cond, HARD, at])]

    # ---- expressions (the bracketed forms, which hold comments) ----
    def _agg_func(self, e: A.AggCall) -> Doc:
        if e.func:
            return e.func
        # Something other than a plain name is called (a check error): keep what was written.
        text = self.scan.agg_funcs.get(A.span_of(e).start_pos, "input")
        wrapped = f'policy "f"\nlet f = {text}\n'
        sub = parse(wrapped)
        let = sub.items[0]
        assert isinstance(let, A.Let)
        return _Printer(_Scan(wrapped), {}).expr(let.body, Prec.POSTFIX)

    def _call(self, e: A.Call) -> Doc:
        scan = self.scan
        func = self.expr(e.func, Prec.POSTFIX)
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
        lo, hi = scan.bounds(e)
        items: list[_Item] = []
        for key, value in e.fields:
            vi, vj = scan.extent(value, lo + 1, hi - 1)
            items.append((vi - 2, vj, partial(self.field, key, value)))
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


def _leading(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [c.text, HARD, HARD] if c.blank_after else [c.text, HARD]
    return out


def _trailing(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [Suffix("  " + c.text), BREAK]
    return out


def _ending(comments: list[_Comment]) -> list[Doc]:
    out: list[Doc] = []
    for c in comments:
        out += [HARD, HARD, c.text] if c.blank_before else [HARD, c.text]
    return out
