"""Properties of the formatter: it keeps the meaning and every comment, and it is stable.

For random policies built from every construct of the language (written with random spacing,
line breaks, redundant parentheses and comments between any two tokens) and for every policy
in the repository:

    parse(fmt(p)) == parse(p)      (AST equality ignores positions)
    fmt(fmt(p)) == fmt(p)
    comments(fmt(p)) == comments(p)
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path

import lark
import pytest
from hypothesis import given, note
from hypothesis import strategies as st

from clausewise.dsl.diagnostics import PolicySyntaxError
from clausewise.dsl.formatter import format_source
from clausewise.dsl.parser import GRAMMAR, parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted(
    p for folder in ("policies", "bench/policies") for p in (ROOT / folder).rglob("*.cw")
)

# ---- comments, read independently of the formatter -------------------------------------------

_comments: list[str] = []
_LEXER = lark.Lark(
    GRAMMAR.read_text(),
    parser="lalr",
    lexer_callbacks={"COMMENT": lambda tok: _comments.append(str(tok).rstrip()) or tok},
)


def comments(text: str) -> Counter[str]:
    _comments.clear()
    _LEXER.parse(text)
    return Counter(_comments)


def check(text: str) -> str:
    formatted = format_source(text)
    assert parse(formatted) == parse(text)
    assert format_source(formatted) == formatted
    assert comments(formatted) == comments(text)
    return formatted


# ---- random policies, as lists of tokens ------------------------------------------------------

# Names that are keywords elsewhere (`first`, `desc`) or start like a unit (`days_left`) too.
NAMES = st.sampled_from(
    ["a", "b", "xs", "total", "l", "n_1", "_tmp", "camelCase", "first", "desc", "days_left"]
)
CLAUSES = st.sampled_from(["A1", "B12", "C3.2", "CD7", "Z10.1.2"])
TYPES = st.sampled_from(["int", "decimal", "date", "string", "list", "money"])
UNITS = [
    "day",
    "days",
    "week",
    "weeks",
    "hour",
    "hours",
    "minute",
    "minutes",
    "second",
    "seconds",
    "month",
    "months",
]
COMMENT_TEXT = st.text(st.sampled_from("abc XYZ 09#\"'\\.:-_é€"), max_size=20)

# binding strengths, loosest first (as in docs/language.md)
IF, OR, AND, NOT, CMP, RANGE, COALESCE, SUM, PRODUCT, NEG, POSTFIX, ATOM = range(12)

Tokens = list[str]


@st.composite
def string_literal(draw: st.DrawFn) -> str:
    value = draw(st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12))
    out = ['"']
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append(draw(st.sampled_from(["\\n", "\\u000a", "\\u000A"])))
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif ch == "/" and draw(st.booleans()):
            out.append("\\/")
        elif ord(ch) < 0x10000 and draw(st.integers(0, 5)) == 0:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


@st.composite
def date_text(draw: st.DrawFn) -> str:
    return draw(st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))).isoformat()


@st.composite
def datetime_text(draw: st.DrawFn) -> str:
    t = draw(st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2100, 12, 31)))
    text = t.strftime("%Y-%m-%dT%H:%M")
    if draw(st.booleans()):
        text += t.strftime(":%S")
        digits = draw(st.integers(0, 6))
        if digits:
            text += "." + f"{t.microsecond:06d}"[:digits]
    zone = draw(st.sampled_from(["", "Z", "+00:00", "-07:00", "+05:30", "+14:00"]))
    return text + zone


INT = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
DECIMAL = st.from_regex(r"[0-9]{1,4}\.[0-9]{1,3}", fullmatch=True)
WHOLE = st.one_of(INT, st.from_regex(r"[0-9]{1,3}\.0{1,2}", fullmatch=True))


@st.composite
def atom(draw: st.DrawFn) -> Tokens:
    kind = draw(st.integers(0, 12))
    if kind == 0:
        return [draw(INT)]
    if kind == 1:
        return [draw(DECIMAL)]
    if kind == 2:
        return [draw(st.one_of(INT, DECIMAL)) + "%"]
    if kind == 3:
        return [draw(st.one_of(INT, DECIMAL)), draw(st.sampled_from(["USD", "EUR", "THB"]))]
    if kind == 4:
        return [draw(WHOLE), draw(st.sampled_from(UNITS))]
    if kind == 5:
        return [draw(string_literal())]
    if kind == 6:
        return [draw(date_text())]
    if kind == 7:
        return [draw(datetime_text())]
    if kind == 8:
        return [draw(st.sampled_from(["true", "false", "null", "input", "output"]))]
    return [draw(NAMES)]


def operand(draw: st.DrawFn, depth: int, need: int) -> Tokens:
    tokens, prec = draw(expression(depth))
    if prec < need or draw(st.integers(0, 7)) == 0:
        return ["(", *tokens, ")"]
    return tokens


def comma_list(draw: st.DrawFn, items: list[Tokens], trailing: bool = False) -> Tokens:
    out: Tokens = []
    for i, item in enumerate(items):
        if i:
            out.append(",")
        out += item
    if items and trailing and draw(st.booleans()):
        out.append(",")
    return out


def comprehension(draw: st.DrawFn, depth: int) -> Tokens:
    out = [*operand(draw, depth, IF), "for", draw(NAMES), "in", *operand(draw, depth, IF)]
    if draw(st.booleans()):
        out += ["where", *operand(draw, depth, IF)]
    if draw(st.booleans()):
        out += ["order", "by", *operand(draw, depth, IF)]
        if draw(st.booleans()):
            out.append("desc")
    if draw(st.booleans()):
        out += ["by", *operand(draw, depth, IF)]
    return out


@st.composite
def expression(draw: st.DrawFn, depth: int = 3) -> tuple[Tokens, int]:
    if depth <= 0 or draw(st.integers(0, 4)) == 0:
        return draw(atom()), ATOM
    d = depth - 1
    form = draw(st.integers(0, 18))
    if form == 0:
        return [
            "if",
            *operand(draw, d, IF),
            "then",
            *operand(draw, d, IF),
            "else",
            *operand(draw, d, IF),
        ], IF
    if form in (1, 2):
        op, need = ("or", AND) if form == 1 else ("and", NOT)
        parts = [operand(draw, d, need) for _ in range(draw(st.integers(2, 4)))]
        out: Tokens = []
        for i, p in enumerate(parts):
            out += ([op] if i else []) + p
        return out, OR if form == 1 else AND
    if form == 3:
        return ["not", *operand(draw, d, NOT)], NOT
    if form == 4:
        op = draw(
            st.sampled_from([["=="], ["!="], ["<"], ["<="], [">"], [">="], ["in"], ["not", "in"]])
        )
        return [*operand(draw, d, RANGE), *op, *operand(draw, d, RANGE)], CMP
    if form == 5:
        tail = ["is", "not", "null"] if draw(st.booleans()) else ["is", "null"]
        return [*operand(draw, d, RANGE), *tail], CMP
    if form == 6:
        op = draw(st.sampled_from(["..", "..<"]))
        return [*operand(draw, d, COALESCE), op, *operand(draw, d, COALESCE)], RANGE
    if form == 7:
        return [*operand(draw, d, COALESCE), "??", *operand(draw, d, SUM)], COALESCE
    if form == 8:
        op = draw(st.sampled_from(["+", "-"]))
        return [*operand(draw, d, SUM), op, *operand(draw, d, PRODUCT)], SUM
    if form == 9:
        op = draw(st.sampled_from(["*", "/"]))
        return [*operand(draw, d, PRODUCT), op, *operand(draw, d, NEG)], PRODUCT
    if form == 10:
        return ["-", *operand(draw, d, NEG)], NEG
    if form == 11:
        return [*operand(draw, d, POSTFIX), ".", draw(NAMES)], POSTFIX
    if form == 12:
        return [*operand(draw, d, POSTFIX), "[", *operand(draw, d, IF), "]"], POSTFIX
    if form == 13:
        func = [draw(NAMES)] if draw(st.integers(0, 3)) else operand(draw, d, POSTFIX)
        args = [operand(draw, d, IF) for _ in range(draw(st.integers(0, 3)))]
        return [*func, "(", *comma_list(draw, args), ")"], POSTFIX
    if form == 14:
        func = [draw(NAMES)] if draw(st.integers(0, 5)) else operand(draw, d, POSTFIX)
        return [*func, "(", *comprehension(draw, d), ")"], POSTFIX
    if form == 15:
        items = [operand(draw, d, IF) for _ in range(draw(st.integers(0, 4)))]
        return ["[", *comma_list(draw, items, trailing=True), "]"], ATOM
    if form == 16:
        return ["[", *comprehension(draw, d), "]"], ATOM
    if form == 17:
        fields = []
        for _ in range(draw(st.integers(0, 4))):
            key = draw(
                st.one_of(
                    NAMES, string_literal(), st.sampled_from(['"if"', '"not"', '"days"', '"a b"'])
                )
            )
            fields.append([key, ":", *operand(draw, d, IF)])
        return ["{", *comma_list(draw, fields, trailing=True), "}"], ATOM
    return ["{", *operand(draw, d, IF), "=>", *comprehension(draw, d), "}"], ATOM


def expr(draw: st.DrawFn) -> Tokens:
    return operand(draw, draw(st.integers(0, 3)), IF)


def type_ref(draw: st.DrawFn, depth: int = 2) -> Tokens:
    out = [draw(TYPES)]
    if depth and draw(st.integers(0, 3)) == 0:
        out += ["[", *type_ref(draw, depth - 1), "]"]
    if draw(st.booleans()):
        out.append("?")
    return out


def params(draw: st.DrawFn) -> Tokens:
    if draw(st.booleans()):
        return []
    items = []
    for _ in range(draw(st.integers(0, 3))):
        p = [draw(NAMES)]
        if draw(st.booleans()):
            p += [":", *type_ref(draw)]
        items.append(p)
    return ["(", *comma_list(draw, items), ")"]


def cites(draw: st.DrawFn) -> Tokens:
    if draw(st.booleans()):
        return []
    return [
        "cites",
        *comma_list(draw, [[c] for c in draw(st.lists(CLAUSES, min_size=1, max_size=3))]),
    ]


def rule(draw: st.DrawFn) -> Tokens:
    out = ["rule", draw(NAMES), *params(draw), *cites(draw)]
    if draw(st.booleans()):
        out += ["priority", str(draw(st.integers(-20, 20)))]
    out += [draw(string_literal()), "when", *expr(draw)]
    if draw(st.booleans()):
        out += ["then", *expr(draw)]
    return out


def sum_operand(draw: st.DrawFn) -> Tokens:
    return operand(draw, draw(st.integers(0, 2)), SUM)


def cell(draw: st.DrawFn) -> Tokens:
    kind = draw(st.integers(0, 3))
    if kind == 0:
        return ["-"]
    if kind == 1:
        return [draw(st.sampled_from(["==", "!=", "<", "<=", ">", ">="])), *sum_operand(draw)]
    if kind == 2:
        return [*sum_operand(draw), draw(st.sampled_from(["..", "..<"])), *sum_operand(draw)]
    values = [sum_operand(draw) for _ in range(draw(st.integers(1, 3)))]
    return comma_list(draw, values)


def item(draw: st.DrawFn) -> Tokens:
    kind = draw(st.integers(0, 6))
    if kind == 0:
        return ["let", draw(NAMES), *params(draw), "=", *expr(draw)]
    if kind == 1:
        return rule(draw)
    if kind == 2:
        out = ["decision", draw(NAMES), *params(draw)]
        out += [draw(st.sampled_from(["first", "collect", "priority"])), *cites(draw), "{"]
        for _ in range(draw(st.integers(0, 3))):
            out += rule(draw)
        if draw(st.booleans()):
            out += ["else", *expr(draw)]
        return [*out, "}"]
    if kind == 3:
        out = ["table", draw(NAMES), *params(draw)]
        if draw(st.booleans()):
            out.append(draw(st.sampled_from(["unique", "first"])))
        out += [*cites(draw), "{"]
        columns = draw(st.integers(1, 3))
        for _ in range(draw(st.integers(0, 3))):
            for _ in range(columns):
                out += ["|", *cell(draw)]
            out += ["=>", *expr(draw)]
        if draw(st.booleans()):
            out += ["else", "=>", *expr(draw)]
        return [*out, "}"]
    if kind == 4:
        return ["invariant", draw(NAMES), *cites(draw), draw(string_literal()), ":", *expr(draw)]
    if kind == 5:
        out = ["require", draw(NAMES)]
        for _ in range(draw(st.integers(0, 2))):
            out += ["for", draw(NAMES), "in", *expr(draw)]
            if draw(st.booleans()):
                out += ["where", *expr(draw)]
        return [*out, ":", *expr(draw), "at", *expr(draw), draw(string_literal())]
    return ["output", *expr(draw)]


def header(draw: st.DrawFn) -> Tokens:
    if draw(st.integers(0, 4)) == 0:
        return ["module", draw(string_literal())]
    fields: list[Tokens] = []
    for word in ("version", "title", "source"):
        if draw(st.booleans()):
            fields.append([word, draw(string_literal())])
    if draw(st.booleans()):
        fields.append(["input", "schema", draw(string_literal())])
    if draw(st.booleans()):
        fields.append(["output schema", draw(string_literal())])  # one token in the grammar
    if draw(st.booleans()):
        eff = ["effective"]
        if draw(st.booleans()):
            eff += ["from", draw(st.one_of(date_text(), datetime_text()))]
        if draw(st.booleans()):
            eff += ["until", draw(st.one_of(date_text(), datetime_text()))]
        if draw(st.booleans()):
            eff += ["in", draw(string_literal())]
        fields.append(eff)
    for _ in range(draw(st.integers(0, 2))):
        fields.append(["out", "of", "scope", draw(CLAUSES), draw(string_literal())])
    if draw(st.integers(0, 5)) == 0 and fields:
        fields.append(list(draw(st.sampled_from(fields))))  # a repeated field: the last one counts
    order = draw(st.permutations(fields))
    return ["policy", draw(string_literal()), *[tok for f in order for tok in f]]


_GLUED_AFTER = {"(", "[", "{", "."}
_GLUED_BEFORE = {")", "]", "}", ",", ".", "[", "(", ":"}


@st.composite
def policies(draw: st.DrawFn) -> str:
    tokens = header(draw)
    for _ in range(draw(st.integers(0, 2))):
        tokens += ["import", draw(string_literal()), "as", draw(NAMES)]
    for _ in range(draw(st.integers(0, 5))):
        tokens += item(draw)
    out = []
    if draw(st.integers(0, 3)) == 0:
        out.append(f"# {draw(COMMENT_TEXT)}\n")
    for i, tok in enumerate(tokens):
        if i:
            prev = tokens[i - 1]
            glue = prev in _GLUED_AFTER or tok in _GLUED_BEFORE
            seps = [" ", " ", " ", "\n", "  ", "\n\n", "\t", "comment", "own-line comment"]
            sep = draw(st.sampled_from(["", *seps] if glue else seps))
            if sep == "comment":
                sep = f"  # {draw(COMMENT_TEXT)}\n"
            elif sep == "own-line comment":
                sep = f"\n# {draw(COMMENT_TEXT)}\n"
            out.append(sep)
        out.append(tok)
    if draw(st.booleans()):
        out.append(f"\n# {draw(COMMENT_TEXT)}")
    return "".join(out) + draw(st.sampled_from(["", "\n", "\n\n"]))


@given(policies())
def test_generated_policies_keep_meaning_and_comments_and_are_stable(text: str) -> None:
    note(text)
    note(check(text))


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_repository_policies_keep_meaning_and_comments_and_are_stable(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    try:
        parse(text, str(path))
    except PolicySyntaxError:
        pytest.skip("does not parse (work in progress)")
    check(text)
