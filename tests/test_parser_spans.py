"""The parser builds the AST while lark parses, with spans computed from the tokens: they must be
the positions lark's own `propagate_positions` gives, keywords and brackets included."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lark
import pytest
from hypothesis import given

from clausewise.dsl import ast as A
from clausewise.dsl.diagnostics import PolicySyntaxError, Span
from clausewise.dsl.parser import GRAMMAR, parse
from tests.conformance_cases import conformance_checks
from tests.generators.mutations import mutated_policies

ROOT = Path(__file__).parent.parent
Pos = tuple[int, int, int, int, int, int]


def _positioned() -> lark.Lark:
    return lark.Lark(
        GRAMMAR.read_text(), parser="lalr", propagate_positions=True, maybe_placeholders=True
    )


POSITIONED = _positioned()


def ast_spans(node: Any) -> Iterator[tuple[str, Span]]:
    if isinstance(node, Span):
        yield "", node
    elif dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            for where, span in ast_spans(getattr(node, f.name)):
                yield where or type(node).__name__, span
    elif isinstance(node, tuple | list):
        for x in node:
            yield from ast_spans(x)


def lark_positions(text: str) -> set[Pos]:
    out: set[Pos] = set()
    tree = POSITIONED.parse(text)
    for t in tree.iter_subtrees():
        m = t.meta
        if not m.empty:
            out.add((m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos))
        for tok in t.children:
            if isinstance(tok, lark.Token):
                out.add(
                    (tok.line, tok.column, tok.end_line, tok.end_column, tok.start_pos, tok.end_pos)  # type: ignore[arg-type]
                )
    return out


def assert_spans_are_lark_positions(text: str) -> None:
    tree = parse(text)
    known = lark_positions(text)
    m = POSITIONED.parse(text).meta
    root = tree.span
    assert (root.start_pos, root.end_pos) == (m.start_pos, m.end_pos)
    for where, s in ast_spans(tree):
        pos = (s.line, s.col, s.end_line, s.end_col, s.start_pos, s.end_pos)
        assert pos in known, f"{where} at {pos}: {s.text()!r} is no position of lark's tree"


def policy_texts() -> list[tuple[str, str]]:
    texts = [
        (str(p.relative_to(ROOT)), p.read_text()) for p in sorted(ROOT.glob("policies/**/*.cw"))
    ]
    # the conformance cases' texts as the checker reads them (with the header added)
    texts += [(check.id, check.case["policy"]) for check in conformance_checks()]
    return texts


TEXTS = policy_texts()


@pytest.mark.parametrize("text", [t for _n, t in TEXTS], ids=[n for n, _t in TEXTS])
def test_every_span_is_a_position_lark_gives(text: str) -> None:
    try:
        parse(text)
    except PolicySyntaxError:
        return  # the conformance cases of syntax errors
    assert_spans_are_lark_positions(text)


@given(text=mutated_policies())
def test_every_span_of_a_mutated_policy_is_a_position_lark_gives(text: str) -> None:
    try:
        parse(text)
    except PolicySyntaxError:
        return
    assert_spans_are_lark_positions(text)


SAMPLE = """policy "p/spans"
let total(xs) = sum(x.amount for x in xs where x.ok) ?? 0
rule big(n: int) cites A1, A2 "Large." when (n + 1) * 2 > 10 then "big"
decision kind first cites A3 {
  rule small cites A4 "Small." when input.n < 3 then "small"
  else "other"
}
table band(rate: decimal) first cites A5 {
  | < 0.01 => "good"
  | - => "bad"
}
output {kind: kind, band: band(input.rate), total: total(input.items)}
"""


def _text(span: Span) -> str:
    return span.text()


def test_spans_include_keywords_and_brackets() -> None:
    tree = parse(SAMPLE, "spans.cw")
    items = {getattr(i, "name", type(i).__name__): i for i in tree.items}
    let, rule, decision = items["total"], items["big"], items["kind"]
    table, output = items["band"], items["Output"]
    assert isinstance(let, A.Let) and _text(let.span).startswith("let total(xs) =")
    assert isinstance(rule, A.Rule)
    assert _text(rule.span) == (
        'rule big(n: int) cites A1, A2 "Large." when (n + 1) * 2 > 10 then "big"'
    )
    # `(n + 1) * 2`: the product starts at the bracket, the sum inside keeps its own span
    assert isinstance(rule.when, A.Binary) and isinstance(rule.when.left, A.Binary)
    product = rule.when.left
    assert _text(product.span) == "(n + 1) * 2"
    assert _text(product.left.span) == "n + 1"
    assert isinstance(decision, A.Decision)
    assert _text(decision.span).startswith("decision kind first") and _text(decision.span).endswith(
        'else "other"\n}'
    )
    assert _text(decision.rules[0].span).startswith("rule small") and _text(
        decision.rules[0].span
    ).endswith('then "small"')
    assert isinstance(table, A.Table)
    assert [_text(r.span) for r in table.rows] == ['| < 0.01 => "good"', '| - => "bad"']
    assert isinstance(output, A.Output) and _text(output.span).startswith("output {kind")
    assert _text(output.span).endswith("total(input.items)}")
    assert (rule.span.line, rule.span.col, rule.span.end_line) == (3, 1, 3)
    assert tree.span.path == "spans.cw"


def test_invalid_literal_points_at_the_literal() -> None:
    text = 'policy "p"\noutput {d: 1.5 days}\n'
    with pytest.raises(PolicySyntaxError) as err:
        parse(text, "lit.cw")
    (d,) = err.value.diagnostics
    assert d.code == "invalid-literal"
    assert (d.span.line, d.span.col, d.span.text()) == (2, 12, "1.5 days")
    assert d.span.path == "lit.cw"
    # the parser is usable again afterwards
    assert parse('policy "p"\noutput {d: 2 days}\n').header.id == "p"


def test_parsing_from_many_threads_keeps_files_apart() -> None:
    texts = [(f"f{i}.cw", SAMPLE.replace("p/spans", f"p/t{i}") + "\n" * i) for i in range(16)]
    results: dict[str, A.PolicyFile] = {}
    errors: list[BaseException] = []

    def work(path: str, text: str) -> None:
        try:
            for _ in range(5):
                results[path] = parse(text, path)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=t) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for path, text in texts:
        tree = results[path]
        assert tree.header.id == f"p/t{path[1:-3]}"
        assert all(
            s.path == path and s.source is not None and s.source.text == text
            for _w, s in ast_spans(tree)
        )


# ---- the parser tables shipped in the package ----


def test_the_shipped_tables_are_built_from_this_grammar() -> None:
    import json

    from clausewise.dsl.parser import SHIPPED_TABLES, _tables_header

    with SHIPPED_TABLES.open("rb") as f:
        header = json.loads(f.readline())
    current = _tables_header(GRAMMAR.read_text())
    assert header["grammar"] == current["grammar"], "the grammar changed: run `make tables`"


def test_the_shipped_tables_parse_as_built_ones() -> None:
    from clausewise.dsl import parser as P

    text = GRAMMAR.read_text()
    shipped = P._shipped_parser(text)
    if shipped is None:
        pytest.skip(f"the shipped tables are for another lark or Python than {lark.__version__}")
    built = P._ASTLark(text, parser="lalr", maybe_placeholders=True)
    for parser in (shipped, built):
        tree = parser.parse(SAMPLE)
        assert [type(i).__name__ for i in tree.items] == [
            "Let",
            "Rule",
            "Decision",
            "Table",
            "Output",
        ]
    assert shipped.parse(SAMPLE) == built.parse(SAMPLE)


def test_tables_for_another_grammar_or_damaged_are_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from clausewise.dsl import parser as P

    text = GRAMMAR.read_text()
    other = tmp_path / "grammar.tables"
    header = {**P._tables_header(text), "grammar": "0" * 64}
    other.write_bytes(json.dumps(header).encode() + b"\n" + P.SHIPPED_TABLES.read_bytes())
    monkeypatch.setattr(P, "SHIPPED_TABLES", other)
    assert P._shipped_parser(text) is None
    other.write_bytes(json.dumps(P._tables_header(text)).encode() + b"\nnot a pickle")
    assert P._shipped_parser(text) is None
    monkeypatch.setattr(P, "SHIPPED_TABLES", tmp_path / "absent.tables")
    assert P._shipped_parser(text) is None
