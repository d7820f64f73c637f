"""Terms files beside the policies: read strictly, citations checked against them, explanations
that quote them, the traceability matrix, coverage against every clause, and terms in `diff`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from clausewise import Engine
from clausewise.cli import main
from clausewise.dsl.formatter import format_source
from clausewise.dsl.parser import parse
from clausewise.dsl.terms import parse_terms

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "policies"
SHARED_TERMS = REPO.parent / "shared" / "domain" / "TERMS.md"
CLICK_CREDIT = "promotions/amazon-ads-click-credit-q4-2022"

POLICY = """\
policy "shop/loyalty"
version "1.0.0"
title "Loyalty discount"
source "Shop terms S1-S4"
input schema "input.schema.json"
output schema "output.schema.json"
out of scope S4 "Gift wrapping is not decided here."

require negative_total cites S3:
  input.total >= 0
  at input.total "The order total cannot be negative."

rule big_order cites S1 "Orders of 100 or more get 10."
  when input.total >= 100

rule blocked cites S2 "Accounts on hold get no discount."
  when input.on_hold

output {discount: if blocked then 0 else if big_order then 10 else 0}
"""

TERMS = """\
# Shop terms

| field | value |
|---|---|
| title | Loyalty terms |
| original title | Lojalitetsvillkor |
| publisher | Example Shop |
| date | 2024-01-01 |
| reference | shop terms page |
| language | Swedish (sv) |

Clauses S1-S4.

## S1

Orders of 100 or more get a discount of 10. It applies once per order.

> Ordrar på 100 eller mer får 10 i rabatt.

## S2

Accounts on hold get no discount.

> Konton som är spärrade får ingen rabatt.

## S3

An order total is never negative.

> En orders summa är aldrig negativ.

## S4

Gift wrapping is free.

> Presentinslagning är gratis.
"""

TESTS = """\
policy: shop/loyalty
cases:
  - name: big order
    input: {total: 150, on_hold: false}
    expect: {discount: 10}
  - name: negative total
    input: {total: -1, on_hold: false}
    error: {code: negative_total, path: /total}
"""

INPUT_SCHEMA = {
    "type": "object",
    "properties": {"total": {"type": "integer"}, "on_hold": {"type": "boolean"}},
    "required": ["total", "on_hold"],
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"discount": {"type": "integer"}},
    "required": ["discount"],
}


def _root(
    tmp_path: Path,
    policy: str = POLICY,
    terms: str | None = TERMS,
    tests: str | None = TESTS,
    version: str = "1.0.0",
) -> Path:
    root = tmp_path / "policies"
    d = root / "shop" / "loyalty"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{version}.cw").write_text(policy.replace('version "1.0.0"', f'version "{version}"'))
    (d / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (d / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA))
    if terms is not None:
        (d / f"{version}.terms.md").write_text(terms, encoding="utf-8")
    if tests is not None:
        (d / f"{version}.test.yaml").write_text(tests)
    return root


def _check(*args: str) -> tuple[int, dict]:
    r = CliRunner().invoke(main, ["check", "--format", "json", *args])
    return r.exit_code, json.loads(r.output)


def _codes(report: dict) -> list[tuple[str, str]]:
    return [(d["code"], d["severity"]) for d in report["diagnostics"]]


# ---- check: citations against the terms ------------------------------------------------------


def test_a_policy_whose_clauses_are_all_cited_or_out_of_scope_checks_clean(tmp_path: Path) -> None:
    code, report = _check("--strict", str(_root(tmp_path)))
    assert code == 0, report
    assert report["diagnostics"] == []


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("S11", "S1"), ("S5", "S4"), ("T2", "S2"), ("S22", "S2")],
)
def test_a_citation_the_terms_lack_is_an_error_at_the_citation(
    tmp_path: Path, typo: str, suggestion: str
) -> None:
    policy = POLICY.replace("rule blocked cites S2", f"rule blocked cites {typo}")
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 1
    [d] = [d for d in report["diagnostics"] if d["code"] == "unknown-clause"]
    assert d["severity"] == "error"
    assert d["file"].endswith("1.0.0.cw")
    assert (d["line"], d["col"]) == (16, 20)
    assert d["text"] == typo
    assert d["message"] == f"rule `blocked` cites {typo}, which is not a clause of the terms"
    assert d["help"] == f"did you mean `{suggestion}`?"


def test_a_citation_far_from_any_clause_lists_the_clauses(tmp_path: Path) -> None:
    policy = POLICY.replace("rule big_order cites S1", "rule big_order cites S1, ZZ900")
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 1
    [d] = [d for d in report["diagnostics"] if d["code"] == "unknown-clause"]
    assert d["text"] == "ZZ900"
    assert d["help"] == "the terms in 1.0.0.terms.md have S1-S4"


def test_citations_of_decisions_tables_invariants_and_requires_are_checked(
    tmp_path: Path,
) -> None:
    policy = POLICY.replace("require negative_total cites S3", "require negative_total cites S9")
    policy += '\ninvariant small cites S8 "The discount is small": output.discount <= 10\n'
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 1
    found = {
        d["text"]: d["message"] for d in report["diagnostics"] if d["code"] == "unknown-clause"
    }
    assert found == {
        "S9": "require `negative_total` cites S9, which is not a clause of the terms",
        "S8": "invariant `small` cites S8, which is not a clause of the terms",
    }


def test_an_out_of_scope_clause_the_terms_lack_is_an_error(tmp_path: Path) -> None:
    policy = POLICY.replace('out of scope S4 "', 'out of scope S14 "')
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 1
    [d] = [d for d in report["diagnostics"] if d["code"] == "unknown-clause"]
    assert (d["line"], d["col"], d["text"]) == (7, 14, "S14")
    assert "declared out of scope, but it is not a clause of the terms" in d["message"]
    assert d["help"] == "did you mean `S4`?"


def test_an_uncited_clause_is_a_warning_that_strict_fails_on(tmp_path: Path) -> None:
    policy = POLICY.replace('out of scope S4 "Gift wrapping is not decided here."\n', "")
    root = _root(tmp_path, policy)
    code, report = _check(str(root))
    assert code == 0
    [d] = report["diagnostics"]
    assert (d["code"], d["severity"]) == ("uncited-clause", "warning")
    assert d["file"].endswith("1.0.0.terms.md")
    assert (d["line"], d["col"], d["text"]) == (32, 4, "S4")
    assert 'out of scope S4 "why"' in d["help"]
    strict, _ = _check("--strict", str(root))
    assert strict == 1


def test_a_clause_cited_and_out_of_scope_is_a_warning(tmp_path: Path) -> None:
    policy = POLICY.replace('out of scope S4 "', 'out of scope S2 "')
    policy = policy.replace("rule big_order cites S1", "rule big_order cites S1, S4")
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 0
    assert ("cited-out-of-scope", "warning") in _codes(report)


def test_a_clause_declared_out_of_scope_twice_is_an_error(tmp_path: Path) -> None:
    policy = POLICY.replace('out of scope S4 "', 'out of scope S4 "Twice."\nout of scope S4 "')
    code, report = _check(str(_root(tmp_path, policy)))
    assert code == 1
    [d] = [d for d in report["diagnostics"] if d["code"] == "duplicate-out-of-scope"]
    assert (d["line"], d["col"], d["text"]) == (8, 14, "S4")


def test_citations_in_an_imported_module_count_and_are_checked(tmp_path: Path) -> None:
    module = 'module "shop/shared"\n\nrule on_hold(a) cites S2, S6 "The account is on hold."\n  when a.on_hold\n'
    policy = POLICY.replace(
        'out of scope S4 "Gift wrapping is not decided here."\n',
        'out of scope S4 "Gift wrapping is not decided here."\n\nimport "shared.cw" as shared\n',
    )
    policy = policy.replace("rule blocked cites S2", "rule blocked cites S1")
    policy = policy.replace("when input.on_hold", "when shared.on_hold(input)")
    root = _root(tmp_path, policy)
    (root / "shop" / "loyalty" / "shared.cw").write_text(module)
    code, report = _check(str(root))
    assert code == 1
    assert [(d["code"], d["file"].rsplit("/", 1)[1], d["text"]) for d in report["diagnostics"]] == [
        ("unknown-clause", "shared.cw", "S6")
    ]


def test_a_policy_without_terms_keeps_working_with_one_note(tmp_path: Path) -> None:
    root = _root(tmp_path, terms=None)
    code, report = _check("--strict", str(root))
    assert code == 0
    assert _codes(report) == [("no-terms", "note")]
    text = CliRunner().invoke(main, ["check", str(root)]).output
    assert "note[no-terms]" in text
    assert "0 error(s), 0 warning(s)" in text
    engine = Engine.from_directory(root)
    assert engine.evaluate("shop/loyalty", {"total": 150, "on_hold": False}).output == {
        "discount": 10
    }


def test_the_no_terms_note_is_no_code_scanning_alert_nor_annotation(tmp_path: Path) -> None:
    root = _root(tmp_path, terms=None)
    sarif = json.loads(CliRunner().invoke(main, ["check", str(root), "--format", "sarif"]).output)
    assert sarif["runs"][0]["results"] == []
    github = CliRunner().invoke(main, ["check", str(root), "--format", "github"])
    assert (github.exit_code, github.output.strip()) == (0, "")


def test_a_citation_error_keeps_the_policy_from_loading(tmp_path: Path) -> None:
    root = _root(tmp_path, POLICY.replace("cites S2", "cites S7"))
    r = CliRunner().invoke(
        main, ["eval", "shop/loyalty", "--input", "-", "--policies", str(root)], input="{}"
    )
    assert r.exit_code == 2
    assert "cites S7, which is not a clause of the terms" in r.output


# ---- the terms file, read strictly --------------------------------------------------------------


def _terms_errors(text: str) -> list[tuple[str, int, int, str]]:
    _, diags = parse_terms(text, "t.terms.md")
    return [(d.code, d.span.line, d.span.col, d.message) for d in diags]


def test_a_well_formed_terms_file_reads_into_clauses() -> None:
    terms, diags = parse_terms(TERMS, "t.terms.md")
    assert diags == []
    assert terms is not None
    assert terms.ids == ["S1", "S2", "S3", "S4"]
    assert terms.fields["publisher"] == "Example Shop"
    s1 = terms.get("S1")
    assert s1 is not None
    assert s1.text == "Orders of 100 or more get a discount of 10. It applies once per order."
    assert s1.original == "Ordrar på 100 eller mer får 10 i rabatt."
    assert s1.short() == "Orders of 100 or more get a discount of 10."
    assert (s1.span.line, s1.span.col) == (14, 4)


def test_a_duplicate_clause_id_is_an_error_pointing_at_the_first() -> None:
    text = TERMS.replace("## S3", "## S2")
    _, diags = parse_terms(text, "t.terms.md")
    [d] = [d for d in diags if d.code == "terms-duplicate-clause"]
    assert (d.span.line, d.span.col, d.span.text()) == (26, 4, "S2")
    assert d.notes == ("first given at t.terms.md:20",)


@pytest.mark.parametrize(
    ("heading", "code", "col", "message"),
    [
        ("##S3", "terms-malformed-heading", 1, "`##S3` needs a space after `##`"),
        ("## s3", "terms-malformed-heading", 4, "`s3` is not written as a clause id"),
        (
            "## S3 Negative totals",
            "terms-malformed-heading",
            4,
            "the heading of clause S3 has text after the id",
        ),
        (
            "## Negative totals",
            "terms-missing-id",
            4,
            "the heading `Negative totals` has no clause id",
        ),
        ("##", "terms-missing-id", 1, "a clause heading without a clause id"),
        (
            "### S3",
            "terms-malformed-heading",
            1,
            "a heading of level 3 has no place in a terms file",
        ),
    ],
)
def test_a_malformed_clause_heading_is_an_error_at_its_line(
    heading: str, code: str, col: int, message: str
) -> None:
    errors = _terms_errors(TERMS.replace("## S3", heading))
    assert (code, 26, col, message) in errors


def test_missing_unknown_and_repeated_header_fields_are_errors() -> None:
    text = TERMS.replace("| publisher | Example Shop |\n", "| publsher | Example Shop |\n")
    text = text.replace("| date | 2024-01-01 |\n", "| date | 2024-01-01 |\n| date | 2024-02-02 |\n")
    errors = _terms_errors(text)
    assert ("terms-header", 7, 1, "unknown header field `publsher`") in errors
    assert ("terms-header", 9, 1, "the header field `date` is given twice") in errors
    assert ("terms-header", 1, 1, "the header table lacks `publisher`") in errors
    _, diags = parse_terms(text, "t.terms.md")
    assert [d.help for d in diags if "publsher" in d.message] == ["did you mean `publisher`?"]


def test_a_file_without_its_title_an_empty_clause_and_text_after_the_quote_are_errors() -> None:
    assert _terms_errors("| title | x |\n")[0][:3] == ("terms-missing-title", 1, 1)
    errors = _terms_errors(TERMS.replace("Accounts on hold get no discount.\n", ""))
    assert ("terms-empty-clause", 20, 4, "clause S2 has no text") in errors
    errors = _terms_errors(
        TERMS.replace("> Konton som är spärrade får ingen rabatt.\n", "> Konton.\nMore text.\n")
    )
    assert ("terms-misplaced-text", 25, 1, "text of clause S2 after its original wording") in errors


def test_a_clause_of_a_non_english_source_without_its_original_is_a_warning() -> None:
    _, diags = parse_terms(TERMS.replace("> Konton som är spärrade får ingen rabatt.\n", ""), "t")
    assert [(d.code, d.severity, d.span.text()) for d in diags] == [
        ("terms-missing-original", "warning", "S2")
    ]


def test_terms_file_errors_are_reported_by_check_with_file_line_col(tmp_path: Path) -> None:
    root = _root(tmp_path, terms=TERMS.replace("## S3", "## S2"))
    r = CliRunner().invoke(main, ["check", str(root)])
    assert r.exit_code == 1
    assert (
        "1.0.0.terms.md:26:4: error[terms-duplicate-clause]: clause S2 is given twice" in r.output
    )


def test_a_terms_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "shop" / "loyalty" / "1.0.0.terms.md").write_bytes(b"# T\n\xff\xfe\n")
    code, report = _check(str(root))
    assert code == 1
    assert ("terms-unreadable", "error") in _codes(report)


# ---- require cites ------------------------------------------------------------------------------


def test_require_takes_citations_and_the_formatter_keeps_them() -> None:
    tree = parse(POLICY, "p.cw")
    [req] = [i for i in tree.items if type(i).__name__ == "Require"]
    assert req.cites == ("S3",)  # type: ignore[attr-defined]
    formatted = format_source(
        POLICY.replace("negative_total cites S3:", "negative_total   cites   S3 :")
    )
    assert "require negative_total cites S3:\n" in formatted
    with_for = 'require r cites S1, S2 for x in input.xs where x > 0:\n  x < 9\n  at x "m"\n'
    assert "require r cites S1, S2 for x in input.xs where x > 0:" in format_source(
        POLICY.replace("require negative_total", with_for + "\nrequire negative_total")
    )


# ---- coverage against every clause of the terms ---------------------------------------------------


def test_coverage_counts_every_clause_of_the_terms(tmp_path: Path) -> None:
    terms = TERMS + "\n## S5\n\nReturns are free.\n\n> Returer är gratis.\n"
    policy = POLICY.replace(
        'out of scope S4 "', 'out of scope S5 "Returns are elsewhere."\nout of scope S4 "'
    )
    tests = TESTS.replace(
        "  - name: negative total",
        "  - name: blocked\n    input: {total: 5, on_hold: true}\n    expect: {discount: 0}\n  - name: negative total",
    )
    root = _root(tmp_path, policy, terms, tests)
    r = CliRunner().invoke(main, ["test", str(root), "--coverage", "--format", "json"])
    assert r.exit_code == 0, r.output
    [cov] = json.loads(r.output)["coverage"]
    assert cov["percent"]["clauses"] == 100.0
    assert cov["clauses_out_of_scope"] == ["S4", "S5"]
    # the require's clause counts once a case is rejected by it; without that case it does not
    root2 = _root(tmp_path / "b", policy, terms, tests.split("  - name: negative total")[0])
    r = CliRunner().invoke(main, ["test", str(root2), "--coverage"])
    assert "clauses not exercised: S3" in r.output
    assert "clauses 67% (2 out of scope)" in r.output


def test_coverage_reports_a_clause_no_rule_cites(tmp_path: Path) -> None:
    policy = POLICY.replace('out of scope S4 "Gift wrapping is not decided here."\n', "")
    root = _root(tmp_path, policy)
    r = CliRunner().invoke(main, ["test", str(root), "--coverage", "--min-coverage", "100"])
    assert r.exit_code == 1
    assert "clauses not exercised: S2, S4" in r.output


# ---- explanations quote the clauses --------------------------------------------------------------

LAUNCH_12_DAYS = {
    "as_of": "2022-11-20T12:00:00Z",
    "advertiser": {
        "id": "a1",
        "invited": True,
        "good_standing": True,
        "valid_payment_method": True,
    },
    "store": "FR",
    "launches": [
        {
            "campaign_id": "sp-1",
            "ad_product": "sponsored_products",
            "launched_at": "2022-11-08T17:00:00Z",
            "first_time": True,
            "active_days": 12,
        }
    ],
}


@pytest.fixture(scope="module")
def shipped() -> Engine:
    return Engine.from_directory(SHIPPED)


def test_a_text_explanation_quotes_each_cited_clause(shipped: Engine) -> None:
    text = shipped.evaluate(CLICK_CREDIT, LAUNCH_12_DAYS, trace="rules").explain()
    quotes = text.split("Clauses cited above:\n", 1)[1].splitlines()
    assert (
        "  A6: Qualifying action: launch a campaign for the first time and keep it active for at least 30 days."
        in quotes
    )
    assert "  A14: A valid payment method for advertising charges must be registered." in quotes
    ids = [q.split(":")[0].strip() for q in quotes]
    assert ids == sorted(ids, key=lambda i: int(i[1:]))  # in the order of the terms
    assert all(len(q) <= 2 + 5 + 100 + 1 for q in quotes)  # a short form, not the whole clause


def test_why_not_quotes_the_clauses_of_the_rules_it_shows(shipped: Engine) -> None:
    text = shipped.evaluate(CLICK_CREDIT, LAUNCH_12_DAYS, trace="full").explain(why_not="credits")
    assert "active_30_days for launches[0] [A6] does not apply" in text
    assert (
        "  A6: Qualifying action: launch a campaign for the first time and keep it active for at least 30 days."
        in text.split("Clauses cited above:")[1]
    )


def test_the_trace_json_carries_the_full_clause_text_and_original(shipped: Engine) -> None:
    trace = shipped.evaluate(CLICK_CREDIT, LAUNCH_12_DAYS, trace="rules").trace
    assert trace is not None
    clauses = trace["clauses"]
    cited = {c for e in _events(trace["events"]) for c in e["clauses"]}
    assert set(clauses) == cited
    a6 = clauses["A6"]
    assert a6["text"].endswith("the 30 active days may fall after 2022-12-31.")
    assert a6["original"].startswith("Annonsörer måste skapa och starta Sponsored Products-")


def test_eval_json_on_the_command_line_quotes_the_clauses(tmp_path: Path) -> None:
    inp = tmp_path / "in.json"
    inp.write_text(json.dumps(LAUNCH_12_DAYS))
    r = CliRunner().invoke(
        main,
        ["eval", CLICK_CREDIT, "--input", str(inp), "--policies", str(SHIPPED), "--trace", "rules"],
    )
    assert r.exit_code == 0, r.output
    assert (
        "keep it active for at least 30 days"
        in json.loads(r.output)["trace"]["clauses"]["A6"]["text"]
    )


def _events(events: list[dict]) -> list[dict]:
    out = []
    for e in events:
        if e["type"] == "rule":
            out.append(e)
            out += _events(e.get("detail", []))
    return out


def test_a_policy_without_terms_explains_as_before(tmp_path: Path) -> None:
    engine = Engine.from_directory(_root(tmp_path, terms=None))
    d = engine.evaluate("shop/loyalty", {"total": 150, "on_hold": False}, trace="rules")
    assert "Clauses cited above" not in d.explain()
    assert d.trace is not None and "clauses" not in d.trace


# ---- the traceability matrix ----------------------------------------------------------------------


def test_the_terms_matrix_of_a_shipped_policy(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["terms", CLICK_CREDIT, "--policies", str(SHIPPED)])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0] == f"{CLICK_CREDIT} 1.0.0"
    assert lines[2] == "18 clause(s), 11 tested, 7 out of scope"
    block = r.output.split("\nA6 ")[1].split("\n\n")[0]
    assert "rules: launched_in_period, active_30_days, qualifies," in block
    assert "decisions: launch_codes" in block
    assert re.search(r"tests: \d+ case\(s\) in 1.0.0.test.yaml", block)
    a17 = r.output.split("\nA17 ")[1].split("\n\n")[0]
    assert "out of scope: Taxes on the credit are the advertiser's own matter." in a17


def test_the_terms_matrix_as_json_and_markdown(tmp_path: Path) -> None:
    root = _root(tmp_path)
    r = CliRunner().invoke(
        main, ["terms", "shop/loyalty", "--policies", str(root), "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    rows = {c["clause"]: c for c in data["clauses"]}
    assert list(rows) == ["S1", "S2", "S3", "S4"]
    assert rows["S1"]["status"] == "tested"
    assert rows["S1"]["tests"] == [{"file": "1.0.0.test.yaml", "case": "big order"}]
    assert rows["S2"]["status"] == "not tested"  # no case puts an account on hold
    assert rows["S3"]["cited_by"][0]["kind"] == "require"
    assert rows["S3"]["tests"] == [{"file": "1.0.0.test.yaml", "case": "negative total"}]
    assert rows["S4"]["status"] == "out of scope"
    assert rows["S4"]["out_of_scope"] == "Gift wrapping is not decided here."
    assert data["counts"] == {"clauses": 4, "tested": 2, "not tested": 1, "out of scope": 1}
    md = CliRunner().invoke(
        main, ["terms", "shop/loyalty", "--policies", str(root), "--format", "markdown"]
    )
    assert "| clause | text | cited by | out of scope | tests |" in md.output
    assert (
        "| **S4** | Gift wrapping is free. | — | Gift wrapping is not decided here. |  |"
        in md.output
    )


def test_the_terms_matrix_of_an_unknown_policy_is_an_error(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["terms", "shop/loyal", "--policies", str(_root(tmp_path))])
    assert r.exit_code == 2
    assert "did you mean `shop/loyalty`?" in r.output


# ---- diff between versions whose terms differ -----------------------------------------------------


def test_diff_lists_clauses_added_removed_and_reworded_with_the_rules_citing_them(
    tmp_path: Path,
) -> None:
    root = _root(tmp_path)
    new_terms = TERMS.replace(
        "Accounts on hold get no discount.", "Accounts on hold or in arrears get no discount."
    )
    new_terms = new_terms.split("## S4")[0] + "## S5\n\nStaff get 5.\n\n> Personal får 5.\n"
    policy = POLICY.replace(
        'out of scope S4 "Gift wrapping is not decided here."',
        'out of scope S5 "Staff are elsewhere."',
    )
    _root(tmp_path, policy, new_terms, None, version="1.1.0")
    r = CliRunner().invoke(
        main, ["diff", "shop/loyalty", "1.0.0", "1.1.0", "--policies", str(root)]
    )
    assert r.exit_code == 0, r.output
    assert (
        '  ~ clause S2: reworded: "Accounts on hold get no discount." -> '
        '"Accounts on hold or in arrears get no discount."'
    ) in r.output
    assert "  ~ clause S2: re-read: rule blocked" in r.output
    assert '  + clause S5 added: "Staff get 5."; out of scope: Staff are elsewhere.' in r.output
    assert "  - clause S4 removed; out of scope: Gift wrapping is not decided here." in r.output
    j = CliRunner().invoke(
        main,
        ["diff", "shop/loyalty", "1.0.0", "1.1.0", "--policies", str(root), "--format", "json"],
    )
    changes = [c for c in json.loads(j.output)["diffs"][0]["changes"] if c["section"] == "clause"]
    s2 = next(c for c in changes if c["name"] == "S2")
    assert s2["details"][0]["new"] == "Accounts on hold or in arrears get no discount."
    assert s2["details"][-1]["new"] == "re-read: rule blocked"


def test_diff_of_a_reworded_shipped_clause_names_the_rules_to_reread(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED / CLICK_CREDIT, root / CLICK_CREDIT)
    d = root / CLICK_CREDIT
    (d / "1.1.0.cw").write_text(
        (d / "1.0.0.cw").read_text().replace('version "1.0.0"', 'version "1.1.0"')
    )
    terms = (d / "1.0.0.terms.md").read_text(encoding="utf-8")
    (d / "1.1.0.terms.md").write_text(
        terms.replace(
            "keep it active for at least 30 days.", "keep it active for at least 45 days."
        ),
        encoding="utf-8",
    )
    r = CliRunner().invoke(main, ["diff", CLICK_CREDIT, "1.0.0", "1.1.0", "--policies", str(root)])
    assert "~ clause A6: reworded:" in r.output
    assert (
        "~ clause A6: re-read: rule launched_in_period, rule active_30_days, rule qualifies"
        in r.output
    )


def test_diff_when_a_terms_file_is_added(tmp_path: Path) -> None:
    root = _root(tmp_path, terms=None)
    _root(tmp_path, terms=TERMS, tests=None, version="1.1.0")
    r = CliRunner().invoke(
        main, ["diff", "shop/loyalty", "1.0.0", "1.1.0", "--policies", str(root)]
    )
    assert "+ terms 1.1.0.terms.md added" in r.output


# ---- the shipped terms ---------------------------------------------------------------------------


def test_every_shipped_policy_has_terms_and_checks_strictly() -> None:
    assert sorted(p.name for p in SHIPPED.rglob("*.terms.md")) == ["1.0.0.terms.md"] * 5
    r = CliRunner().invoke(main, ["check", "--strict", str(SHIPPED)])
    assert r.exit_code == 0, r.output
    assert "0 error(s), 0 warning(s)" in r.output


@pytest.mark.skipif(
    not SHARED_TERMS.is_file(), reason="the shared domain texts are not beside the repo"
)
@pytest.mark.parametrize(
    ("policy", "letter"),
    [
        ("promotions/amazon-ads-click-credit-q4-2022", "A"),
        ("promotions/google-ads-promo-code", "B"),
        ("budgets/google-ads-credit-budget", "B"),
        ("health/amazon-seller-account-health", "C"),
        ("budgets/amazon-ads-portfolio-cap", "D"),
    ],
)
def test_shipped_terms_hold_every_clause_and_figure_of_the_source(policy: str, letter: str) -> None:
    source = _source_clauses(SHARED_TERMS.read_text(encoding="utf-8"), letter)
    terms, diags = parse_terms((SHIPPED / policy / "1.0.0.terms.md").read_text(encoding="utf-8"))
    assert diags == []
    assert terms is not None
    assert terms.ids == list(source)
    for cid, text in source.items():
        clause = terms.get(cid)
        assert clause is not None and clause.original, cid
        mine = clause.text.replace(",", "")
        for figure in re.findall(r"\d[\d,.]*\d|\d", text):
            assert figure.replace(",", "").rstrip(".") in mine, (cid, figure)


def _source_clauses(text: str, letter: str) -> dict[str, str]:
    out: dict[str, str] = {}
    current = None
    for line in text.splitlines():
        m = re.match(rf"- ({letter}\d+) (.*)", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2)
        elif current and line.startswith("  "):
            out[current] += " " + line.strip()
        else:
            current = None
    return out


# ---- released versions: the terms are part of what is locked ------------------------------------


def test_rewording_the_terms_of_a_locked_version_is_a_change(tmp_path: Path) -> None:
    root = _root(tmp_path)
    assert CliRunner().invoke(main, ["lock", str(root)]).exit_code == 0
    lock = json.loads((root / "clausewise.lock").read_text())
    assert "shop/loyalty/1.0.0.terms.md" in lock["policies"]["shop/loyalty"]["1.0.0"]["files"]
    terms = root / "shop" / "loyalty" / "1.0.0.terms.md"
    terms.write_text(TERMS.replace("Gift wrapping is free.", "Gift wrapping costs 2."), "utf-8")
    code, report = _check(str(root))
    assert code == 1
    assert ("locked-version-changed", "error") in _codes(report)


def test_adding_terms_to_a_version_locked_without_them_is_no_change(tmp_path: Path) -> None:
    root = _root(tmp_path, terms=None)
    assert CliRunner().invoke(main, ["lock", str(root)]).exit_code == 0
    (root / "shop" / "loyalty" / "1.0.0.terms.md").write_text(TERMS, encoding="utf-8")
    code, report = _check("--strict", str(root))
    assert code == 0, report
