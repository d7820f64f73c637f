"""The commands a pull request that changes policies goes through, used as a reviewer's CI would:
`check` (GitHub annotations, SARIF, lints), `test --format github`, `diff` and `impact`.

Fixtures: `tests/data/pr_tools/policies/shop/seller-health/{1.0.0,1.1.0}.cw`. Version 1.1.0
changes one threshold (the order defect rate target, 0.01 -> 0.015), adds a rule (late shipment,
>= 0.04) and moves the effective period (1.0.0 is in force in 2024, 1.1.0 from 2025).
"""

from __future__ import annotations

import copy
import json
import random
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from jsonschema import Draft4Validator, Draft202012Validator, FormatChecker
from jsonschema.exceptions import SchemaError

from clausewise.cli import main
from tests.pr_support import DATA, FIXTURES, POLICY, expected_output, generate_inputs, git, is_bad

SARIF_SCHEMA = DATA / "sarif-schema-2.1.0.json"


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture policies in `tmp_path/policies`, with `tmp_path` as the cwd."""
    shutil.copytree(FIXTURES, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def position(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based line and column of the `nth` occurrence of `needle` in `text`."""
    at = -1
    for _ in range(nth + 1):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    col = at - (text.rfind("\n", 0, at) + 1) + 1
    return line, col


TYPO_FILE = "policies/shop/seller-health/1.0.0.cw"


def make_typo(root: Path) -> tuple[int, int]:
    """Misspell `input.cancellation_rate` in 1.0.0; where the misspelt field starts."""
    f = root / TYPO_FILE
    text = f.read_text().replace("input.cancellation_rate", "input.cancelation_rate")
    f.write_text(text)
    return position(text, "input.cancelation_rate")


# ---- check: GitHub annotations and SARIF --------------------------------------------------------


def test_typo_gives_a_github_error_annotation_on_its_line_and_column(repo: Path) -> None:
    line, col = make_typo(repo)
    r = run("check", "policies", "--format", "github")
    assert r.exit_code == 1
    errors = [ln for ln in r.output.splitlines() if ln.startswith("::error ")]
    assert len(errors) == 1, r.output
    assert errors[0].startswith(f"::error file={TYPO_FILE},line={line},col={col},")
    assert "title=unknown-field" in errors[0]
    assert "did you mean `cancellation_rate`?" in errors[0]


def sarif_validator() -> Draft4Validator:
    schema = json.loads(SARIF_SCHEMA.read_text())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema, format_checker=FormatChecker())


def test_sarif_validates_against_the_sarif_2_1_0_schema(repo: Path) -> None:
    line, col = make_typo(repo)
    # and a warning: a rule that cites no clause
    f = repo / "policies/shop/seller-health/1.1.0.cw"
    text = f.read_text().replace("rule odr_missed cites H1, H2 ", "rule odr_missed ")
    f.write_text(text)
    r = run("check", "policies", "--format", "sarif")
    assert r.exit_code == 1
    log = json.loads(r.output)
    errors = sorted(sarif_validator().iter_errors(log), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]

    assert log["version"] == "2.1.0"
    (run_,) = log["runs"]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "clausewise"
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", driver["version"])
    assert re.match(r"https?://", driver["informationUri"])
    rules = {rule["id"]: rule for rule in driver["rules"]}
    assert set(rules) == {"unknown-field", "missing-citation"}
    assert all(rule["shortDescription"]["text"] for rule in rules.values())
    results = {res["ruleId"]: res for res in run_["results"]}
    assert set(results) == set(rules)
    for res in run_["results"]:
        assert driver["rules"][res["ruleIndex"]]["id"] == res["ruleId"]

    typo = results["unknown-field"]
    assert typo["level"] == "error"
    assert typo["message"]["text"].endswith(". Did you mean `cancellation_rate`?")  # with its help
    loc = typo["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == TYPO_FILE  # relative, forward slashes
    region = loc["region"]
    assert (region["startLine"], region["startColumn"]) == (line, col)
    assert region["endLine"] == line
    assert region["endColumn"] == col + len("input.cancelation_rate")

    warning = results["missing-citation"]
    assert warning["level"] == "warning"
    assert warning["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "policies/shop/seller-health/1.1.0.cw"
    )
    assert (
        warning["locations"][0]["physicalLocation"]["region"]["startLine"]
        == position(text, "rule odr_missed")[0]
    )


def test_sarif_of_a_clean_folder_and_of_a_missing_path(repo: Path) -> None:
    clean = json.loads(run("check", "policies", "--format", "sarif").output)
    assert not list(sarif_validator().iter_errors(clean))
    assert clean["runs"][0]["results"] == []
    missing = run("check", "nowhere", "--format", "sarif")
    assert missing.exit_code == 1
    log = json.loads(missing.output)
    assert not list(sarif_validator().iter_errors(log))
    # about no file: a notification of the run, not a result code scanning cannot place
    assert log["runs"][0]["results"] == []
    (inv,) = log["runs"][0]["invocations"]
    assert inv["executionSuccessful"] is False
    assert "nowhere" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_failing_policy_test_case_is_annotated_at_its_line(repo: Path) -> None:
    tests = repo / "policies/shop/seller-health/1.0.0.test.yaml"
    tests.write_text(
        """policy: shop/seller-health
version: 1.0.0
cases:
  - name: all targets met
    input: {orders: 20, odr: "0.001", cancellation_rate: "0.01", late_shipment_rate: "0.01"}
    expect: {violations: [], at_risk: false, band: good}

  - name: wrong expectation
    input: {orders: 20, odr: "0.02", cancellation_rate: "0.01", late_shipment_rate: "0.01"}
    expect_subset: {at_risk: false}
"""
    )
    r = run("test", "policies", "--format", "github")
    assert r.exit_code == 1
    errors = [ln for ln in r.output.splitlines() if ln.startswith("::error ")]
    assert len(errors) == 1, r.output
    line, _ = position(tests.read_text(), "- name: wrong expectation")
    assert errors[0].startswith(
        f"::error file=policies/shop/seller-health/1.0.0.test.yaml,line={line},"
    )
    assert "wrong expectation" in errors[0] and "/at_risk" in errors[0]
    assert "1 passed, 1 failed" in r.output


# ---- lints ------------------------------------------------------------------------------------

SCHEMAS = {
    "input.schema.json": {
        "type": "object",
        "properties": {
            "orders": {"type": "integer"},
            "rate": {"type": ["string", "integer"], "format": "decimal"},
            "tier": {"type": "string", "enum": ["gold", "silver"]},
        },
        "required": ["orders", "rate", "tier"],
    },
    "output.schema.json": {
        "type": "object",
        "properties": {"a": {"type": "boolean"}, "b": {"type": ["string", "null"]}},
        "required": ["a", "b"],
    },
}

HEADER = """policy "{pid}"
version "{version}"
input schema "input.schema.json"
output schema "output.schema.json"
{extra}
"""


def write_policy(root: Path, pid: str, body: str, version: str = "1.0.0", extra: str = "") -> str:
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    for name, schema in SCHEMAS.items():
        (folder / name).write_text(json.dumps(schema))
    text = HEADER.format(pid=pid, version=version, extra=extra) + body
    (folder / f"{version}.cw").write_text(text)
    return text


def diagnostics(root: Path, *extra: str) -> tuple[int, list[dict[str, Any]]]:
    r = run("check", str(root), "--format", "json", *extra)
    return r.exit_code, json.loads(r.output)["diagnostics"]


def found(diags: list[dict[str, Any]], code: str) -> list[tuple[int, int]]:
    return sorted((d["line"], d["col"]) for d in diags if d["code"] == code)


WARNINGS_BODY = """
let enabled = false
let limit = 10
let unused = 3

rule literal_false cites A1 "Never." when false
rule folded_false cites A1 "Never either." when enabled and input.orders > 3
rule folded_arith cites A1 "Never: 2 * 10 is not below 5." when 2 * limit < 5
rule uncited "No clause." when input.orders > 100

decision same first cites A2 {
  rule big cites A2 "Big." when input.orders > 50 then "big"
  rule big_again cites A2 "Big again." when input.orders > 50 then "again"
  else "small"
}

decision catch_all first cites A3 {
  rule always cites A3 "Always: limit is 10." when limit > 1 then "always"
  rule after cites A3 "Shadowed." when input.orders > 0 then "after"
}

decision by_priority priority cites A4 {
  rule low priority 1 cites A4 "Written first, tried last." when input.orders > 0 then "low"
  rule top priority 9 cites A4 "Always, tried first." when true then "top"
}

decision collected collect cites A5 {
  rule every cites A5 "Always." when true then "every"
  rule some cites A5 "Sometimes." when input.orders > 1 then "some"
}

table band(rate: decimal) first cites A6 {
  | < 0.05    => "low"
  | < 0.01    => "lower"
  | >= 0.05   => "high"
}

output {
  a: literal_false or folded_false or folded_arith or uncited,
  b: same ?? catch_all ?? by_priority ?? band(input.rate) ?? (if count(collected) > 0 then "x" else null),
}
"""


def test_lints_are_warnings_at_the_right_place(tmp_path: Path) -> None:
    text = write_policy(tmp_path, "lint/warnings", WARNINGS_BODY)
    code, diags = diagnostics(tmp_path)
    assert [d for d in diags if d["severity"] == "error"] == []
    assert code == 0  # warnings alone pass...
    assert diagnostics(tmp_path, "--strict")[0] == 1  # ...unless --strict

    assert found(diags, "unused-definition") == [position(text, "let unused")]
    assert found(diags, "missing-citation") == [position(text, 'rule uncited "No clause."')]
    assert found(diags, "rule-never-fires") == sorted(
        [
            (position(text, "when false")[0], position(text, "when false")[1] + len("when ")),
            position(text, "enabled and input.orders > 3"),  # folds to false
            position(text, "2 * limit < 5"),  # folds to false
        ]
    )
    shadowed = {
        d["message"].split("`")[1]: (d["line"], d["col"])
        for d in diags
        if d["code"] == "rule-shadowed"
    }
    assert shadowed == {
        "big_again": position(text, "rule big_again"),  # same condition as `big`
        "after": position(text, "rule after"),  # `always` is always true
        "low": position(text, "rule low"),  # `top` has the higher priority and is always true
    }
    assert "same condition" in next(d["message"] for d in diags if "big_again" in d["message"])
    assert "always true" in next(d["message"] for d in diags if "`after`" in d["message"])
    # in a collect decision every rule is tried: nothing is shadowed there
    assert not any("`some`" in d["message"] for d in diags)
    assert found(diags, "table-row-unreachable") == [position(text, "| < 0.01")]


def test_table_overlap_and_gap_are_errors_at_the_right_place(tmp_path: Path) -> None:
    text = write_policy(
        tmp_path,
        "lint/tables",
        """
table fee(tier, rate: decimal) cites B1 {
  | "gold"   | < 0.05  => 1
  | "gold"   | < 0.10  => 2
  | "silver" | >= 0.05 => 3
}

output { a: fee(input.tier, input.rate) > 1, b: null }
""",
    )
    code, diags = diagnostics(tmp_path)
    assert code == 1
    assert found(diags, "table-overlap") == [position(text, '| "gold"   | < 0.10')]
    (gap,) = [d for d in diags if d["code"] == "table-gap"]
    assert (gap["line"], gap["col"]) == position(text, "table fee")
    assert gap["severity"] == "error"
    assert 'has no row for tier = "gold", rate = 0.10' in gap["message"]  # rows 1-2 end at 0.10


def test_effective_overlap_and_gap(tmp_path: Path) -> None:
    body = "\noutput { a: input.orders > 1, b: null }\n"
    write_policy(
        tmp_path,
        "lint/periods",
        body,
        "1.0.0",
        'effective from 2024-01-01T00:00 until 2024-07-01T00:00 in "UTC"',
    )
    t2 = write_policy(
        tmp_path,
        "lint/periods",
        body,
        "1.1.0",
        'effective from 2024-06-01T00:00 until 2024-12-01T00:00 in "UTC"',
    )
    t3 = write_policy(
        tmp_path, "lint/periods", body, "1.2.0", 'effective from 2025-01-01T00:00 in "UTC"'
    )
    code, diags = diagnostics(tmp_path)
    assert code == 1
    (overlap,) = [d for d in diags if d["code"] == "effective-overlap"]
    assert overlap["severity"] == "error" and overlap["file"].endswith("1.1.0.cw")
    assert (overlap["line"], overlap["col"]) == position(t2, "effective from")
    (gap,) = [d for d in diags if d["code"] == "effective-gap"]
    assert gap["severity"] == "warning" and gap["file"].endswith("1.2.0.cw")
    assert (gap["line"], gap["col"]) == position(t3, "effective from")


# ---- diff -------------------------------------------------------------------------------------


def diff_json(*args: str) -> tuple[int, dict[str, Any]]:
    r = run("diff", *args, "--format", "json")
    return r.exit_code, json.loads(r.output)


def summary(d: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(c["section"], c["name"], c["action"]) for c in d["changes"]}


EXPECTED = {
    ("header", "effective", "changed"),
    ("rule", "odr_missed", "changed"),
    ("rule", "violations.late_shipment_rate", "added"),
}


def test_diff_of_two_versions_lists_exactly_the_changes() -> None:
    code, out = diff_json(POLICY, "1.0.0", "1.1.0", "--policies", str(FIXTURES))
    assert code == 0 and out["changed"] is True
    (d,) = out["diffs"]
    assert (d["old"]["version"], d["new"]["version"]) == ("1.0.0", "1.1.0")
    assert summary(d) == EXPECTED
    assert len(d["changes"]) == 3
    by = {(c["section"], c["name"]): c for c in d["changes"]}
    (threshold,) = by[("rule", "odr_missed")]["details"]
    assert threshold["aspect"] == "threshold"
    assert threshold["text"] == "input.odr >= 0.01 -> >= 0.015"
    assert (threshold["old"], threshold["new"]) == ("0.01", "0.015")
    (eff,) = by[("header", "effective")]["details"]
    assert eff["old"] == 'from 2024-01-01T00:00 until 2025-01-01T00:00 in "UTC"'
    assert eff["new"] == 'from 2025-01-01T00:00 in "UTC"'

    text = run("diff", POLICY, "1.0.0", "1.1.0", "--policies", str(FIXTURES))
    assert text.exit_code == 0
    assert text.output.splitlines() == [
        "shop/seller-health 1.0.0 -> 1.1.0",
        '  ~ header effective: from 2024-01-01T00:00 until 2025-01-01T00:00 in "UTC" -> from 2025-01-01T00:00 in "UTC"',
        "  ~ rule odr_missed: input.odr >= 0.01 -> >= 0.015",
        "  + rule violations.late_shipment_rate added: when input.late_shipment_rate >= 0.04",
        "3 change(s)",
    ]
    assert (
        run("diff", POLICY, "1.0.0", "1.1.0", "--policies", str(FIXTURES), "--exit-code").exit_code
        == 1
    )


def test_diff_of_two_files_is_the_same() -> None:
    folder = FIXTURES / POLICY
    _, out = diff_json(str(folder / "1.0.0.cw"), str(folder / "1.1.0.cw"))
    assert summary(out["diffs"][0]) == EXPECTED


def reformat(text: str) -> str:
    """The same policy written differently: comments, spacing, line breaks, item order,
    and `0.01` written as `1%`."""
    head, _, rest = text.partition("\nlet min_orders = 10\n")
    rules, _, tail = rest.partition("decision violations")
    decision, _, table_and_output = tail.partition("table band")
    table, _, output = table_and_output.partition("output {")
    out = head.replace("# Seller account health", "# (reformatted) Seller account health")
    out += "\n\ntable band" + table.replace("  | < 0.01        =>", "| < 1% =>")
    out += "output {" + output.replace("\n  violations: violations,", " violations: violations,")
    out += "\ndecision violations" + decision.replace(" when ", "\n      when ")
    out += re.sub(r"\n\s+when", " when", rules).replace("input.odr >= 0.01", "input.odr>=1%")
    out += "\n# the minimum number of orders\nlet min_orders=10\n"
    return out


def test_reformatted_or_reordered_copy_shows_no_change(tmp_path: Path) -> None:
    original = (FIXTURES / POLICY / "1.0.0.cw").read_text()
    copy_ = reformat(original)
    assert copy_ != original
    folder = tmp_path / POLICY
    shutil.copytree(FIXTURES / POLICY, folder)
    (folder / "1.0.0-reformatted.cw").write_text(copy_)
    assert run("check", str(folder / "1.0.0-reformatted.cw")).exit_code == 0
    r = run("diff", str(folder / "1.0.0.cw"), str(folder / "1.0.0-reformatted.cw"), "--exit-code")
    assert r.exit_code == 0, r.output
    assert "no semantic changes" in r.output
    _, out = diff_json(str(folder / "1.0.0.cw"), str(folder / "1.0.0-reformatted.cw"))
    assert out["changed"] is False and out["diffs"][0]["changes"] == []


def test_diff_details_of_lets_tables_decisions_and_output(tmp_path: Path) -> None:
    old = (FIXTURES / POLICY / "1.0.0.cw").read_text()
    new = (
        old.replace("let min_orders = 10", "let min_orders = 20")
        .replace("| < 0.01        =>", "| < 0.02        =>")
        .replace("| 0.01 ..< 0.04 =>", "| 0.02 ..< 0.04 =>")
        .replace("decision violations collect", "decision violations first")
        .replace('title "Seller account health"', 'title "Seller health"')
        .replace(
            "  band: band(input.odr),\n", "  band: band(input.odr),\n  orders: input.orders,\n"
        )
    )
    (tmp_path / "old.cw").write_text(old)
    (tmp_path / "new.cw").write_text(new)
    r = run("diff", str(tmp_path / "old.cw"), str(tmp_path / "new.cw"))
    lines = r.output.splitlines()
    assert "  ~ let min_orders: 10 -> 20" in lines
    assert '  ~ header title: "Seller account health" -> "Seller health"' in lines
    assert "  ~ decision violations: strategy collect -> first" in lines
    assert "  ~ table band: row 1: < 0.01 -> < 0.02" in lines
    assert (
        '  ~ table band: row 2: | 0.01 ..< 0.04 => "watch" -> | 0.02 ..< 0.04 => "watch"' in lines
    )
    assert "  + output output.orders added: input.orders" in lines


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_diff_against_a_git_revision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(FIXTURES, tmp_path / "policies")
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "policies" / POLICY
    (folder / "1.1.0.cw").unlink()
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "1.0.0")
    # the pull request edits 1.0.0 in place, as 1.1.0 reads, and adds a new file
    new_text = (
        (FIXTURES / POLICY / "1.1.0.cw").read_text().replace('version "1.1.0"', 'version "1.0.0"')
    )
    (folder / "1.0.0.cw").write_text(new_text)
    (folder / "2.0.0.cw").write_text(new_text.replace('version "1.0.0"', 'version "2.0.0"'))
    code, out = diff_json(
        "--base",
        "HEAD",
        "policies/shop/seller-health/1.0.0.cw",
        "policies/shop/seller-health/2.0.0.cw",
    )
    assert code == 0
    first, second = out["diffs"]
    assert summary(first) == EXPECTED
    assert first["old"]["label"] == "policies/shop/seller-health/1.0.0.cw at HEAD"
    assert summary(second) == {("policy", POLICY, "added")}
    r = run("diff", "--base", "HEAD", "policies/shop/seller-health/1.0.0.cw", "--exit-code")
    assert r.exit_code == 1
    assert (
        run("diff", "--base", "no-such-rev", "policies/shop/seller-health/1.0.0.cw").exit_code == 2
    )


# ---- impact ------------------------------------------------------------------------------------


def expected_report(inputs: list[Any]) -> dict[str, Any]:
    groups: dict[tuple[str, ...], int] = {}
    changed = unchanged = bad = 0
    for x in inputs:
        if is_bad(x):
            bad += 1
            continue
        a, b = expected_output("1.0.0", x), expected_output("1.1.0", x)
        fields = tuple(sorted(k for k in a if a[k] != b[k]))
        if fields:
            changed += 1
            groups[fields] = groups.get(fields, 0) + 1
        else:
            unchanged += 1
    return {"changed": changed, "unchanged": unchanged, "bad": bad, "groups": groups}


def test_impact_on_1000_inputs_counts_the_flipped_decisions(tmp_path: Path) -> None:
    inputs = generate_inputs(1000)
    path = tmp_path / "inputs.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in inputs))
    want = expected_report(inputs)
    assert want["changed"] > 100 and want["unchanged"] > 100 and want["bad"] > 5  # a real mix
    args = ["impact", POLICY, "--from", "1.0.0", "--to", "1.1.0", "--inputs", str(path)]
    args += ["--policies", str(FIXTURES), "--examples", "2"]
    r = run(*args, "--format", "json")
    assert r.exit_code == 0
    got = json.loads(r.output)
    assert got["total"] == 1000
    assert got["changed"] == want["changed"]
    assert got["unchanged"] == want["unchanged"]
    assert got["bad_input"]["total"] == got["bad_input"]["both"] == want["bad"]
    assert got["bad_input"]["old_only"] == got["bad_input"]["new_only"] == 0
    assert {tuple(g["fields"]): g["count"] for g in got["groups"]} == want["groups"]
    assert sum(g["count"] for g in got["groups"]) == want["changed"]
    for g in got["groups"]:
        assert len(g["examples"]) == 2
        for ex in g["examples"]:
            line = int(ex["input"].rsplit(":", 1)[1])
            x = inputs[line - 1]
            assert isinstance(x, dict)
            assert ex["old"] == {k: expected_output("1.0.0", x)[k] for k in g["fields"]}
            assert ex["new"] == {k: expected_output("1.1.0", x)[k] for k in g["fields"]}
            # only the rules whose outcome differs, each with its reason
            assert ex["rules"], ex
            for rule in ex["rules"]:
                assert rule["old"] != rule["new"]
                assert rule["reason"]
            # the cancellation rule and the band table are the same in both versions
            names = {rule["rule"] for rule in ex["rules"]}
            assert names <= {
                "odr_missed",
                "violations › order_defect_rate",
                "violations › late_shipment_rate",
            }, names

    text = run(*args)
    assert f"decisions changed: {want['changed']} of {1000 - want['bad']}" in text.output
    assert "changed fields: at_risk, violations" in text.output
    assert run(*args, "--fail-on-change").exit_code == 1


def test_impact_on_a_folder_of_json_files(tmp_path: Path) -> None:
    folder = tmp_path / "inputs"
    folder.mkdir()
    inputs = generate_inputs(40, seed=5)
    for i, x in enumerate(inputs):
        (folder / f"{i:03d}.json").write_text(json.dumps(x))
    (folder / "broken.json").write_text("{not json")
    r = run(
        "impact",
        POLICY,
        "--from",
        "1.0.0",
        "--to",
        "1.0.0",
        "--inputs",
        str(folder),
        "--policies",
        str(FIXTURES),
        "--format",
        "json",
        "--fail-on-change",
    )
    got = json.loads(r.output)
    assert r.exit_code == 0  # a version against itself changes nothing
    assert got["total"] == 41 and got["changed"] == 0
    assert got["unreadable"][0].startswith("broken.json")
    assert got["bad_input"]["total"] == sum(1 for x in inputs if is_bad(x))


# ---- checking fast keeps the answers ------------------------------------------------------------


def test_fast_meta_schema_check_answers_like_jsonschema() -> None:
    from clausewise.engine.metaschema import check_schema

    # `pattern` is RE2's to accept or refuse (with its place in the schema file), not Python's
    formats = copy.copy(Draft202012Validator.FORMAT_CHECKER)
    formats.checkers = {k: v for k, v in formats.checkers.items() if k != "regex"}

    def official(s: Any) -> str | None:
        try:
            Draft202012Validator.check_schema(s, format_checker=formats)
        except SchemaError as e:
            return e.message
        return None

    def fast(s: Any) -> str | None:
        try:
            check_schema(s)
        except SchemaError as e:
            return e.message
        return None

    rng = random.Random(2)
    bases = [json.loads(p.read_text()) for p in sorted(Path("policies").rglob("*.schema.json"))]
    bases += [json.loads(p.read_text()) for p in sorted(FIXTURES.rglob("*.schema.json"))]
    keys = [
        "type",
        "minimum",
        "required",
        "properties",
        "items",
        "enum",
        "pattern",
        "$defs",
        "additionalProperties",
        "anyOf",
        "format",
        "$ref",
        "prefixItems",
        "dependencies",
        "definitions",
        "contentSchema",
        "unevaluatedProperties",
        "if",
        "not",
    ]
    values: list[Any] = [
        "strng",
        5,
        -1,
        [],
        {},
        None,
        1.5,
        [1, 1],
        {"type": "nope"},
        True,
        "[",
        "#/x",
    ]
    for base in bases:
        assert fast(base) == official(base) is None
        for _ in range(40):
            s = copy.deepcopy(base)
            nodes: list[dict[str, Any]] = []
            stack: list[Any] = [s]
            while stack:
                x = stack.pop()
                if isinstance(x, dict):
                    nodes.append(x)
                    stack.extend(x.values())
                elif isinstance(x, list):
                    stack.extend(x)
            rng.choice(nodes)[rng.choice(keys)] = copy.deepcopy(rng.choice(values))
            assert fast(s) == official(s)


def test_checking_in_worker_processes_gives_the_same_diagnostics(tmp_path: Path) -> None:
    from clausewise.engine.store import PolicyStore

    for i in range(30):
        body = WARNINGS_BODY if i % 3 == 0 else "\noutput { a: input.orders > 1, b: null }\n"
        write_policy(tmp_path, f"many/p{i:02d}", body)
    one = PolicyStore.load(tmp_path, strict=False, compile=False, jobs=1)
    two = PolicyStore.load(tmp_path, strict=False, compile=False, jobs=2)
    assert [d.to_json() for d in one.diagnostics] == [d.to_json() for d in two.diagnostics]
    assert len(one.diagnostics) > 30
    assert sorted(one.policies) == sorted(two.policies)
    assert [lp.program.header for lp in one.policies["many/p01"].values()] == [
        lp.program.header for lp in two.policies["many/p01"].values()
    ]
    # loaded without compiling, a policy is compiled when first evaluated...
    out, _ = one.get("many/p01").compiled.run({"orders": 3, "rate": "0.1", "tier": "gold"})
    assert out == {"a": True, "b": None}
    # ...but a store checked in workers only kept what the checks need
    with pytest.raises(RuntimeError, match="loaded to be checked only"):
        _ = two.get("many/p01").compiled
