"""Policy test files are checked like policies: every key known and typed, every rule, output
field, version and policy they name must exist, each problem at its file:line:col with a
did-you-mean; and `test --coverage` counts a version without tests at 0%."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from clausewise.cli import main
from tests.discount_policy import TESTS, write_discount_policy

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "policies"


def run_json(root: Path) -> tuple[int, dict[str, Any]]:
    r = CliRunner().invoke(main, ["test", str(root), "--format", "json"])
    return r.exit_code, json.loads(r.output)


def only(diags: list[dict[str, Any]], code: str) -> dict[str, Any]:
    found = [d for d in diags if d["code"] == code]
    assert len(found) == 1, diags
    return found[0]


def line_of(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


def test_a_misspelt_key_is_an_error_at_its_line_with_did_you_mean(tmp_path: Path) -> None:
    tests = TESTS.replace("expect_subset:", "expect_subst:")
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    d = only(report["diagnostics"], "test-unknown-key")
    assert d["message"] == "unknown key `expect_subst` in case 2"
    assert d["help"] == "did you mean `expect_subset`?"
    assert (d["line"], d["col"], d["text"]) == (line_of(tests, "expect_subst"), 5, "expect_subst")
    assert d["file"].endswith("shop/discount/1.0.0.test.yaml")
    # no case of a file with errors runs: nothing passes unchecked
    assert report["passed"] == 0


def test_a_misspelt_name_key_and_a_top_level_key(tmp_path: Path) -> None:
    tests = TESTS.replace("  - name: bad tier", "  - nme: bad tier").replace(
        "policy:", "polcy: x\npolicy:"
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    helps = {d["text"]: d["help"] for d in report["diagnostics"]}
    assert helps == {"nme": "did you mean `name`?", "polcy": "did you mean `policy`?"}


def test_a_string_where_a_list_is_expected(tmp_path: Path) -> None:
    tests = TESTS.replace("fired: [big_order, rate row 1]", "fired: big_order")
    root = write_discount_policy(tmp_path, tests)
    r = CliRunner().invoke(main, ["test", str(root)])
    assert r.exit_code == 1
    line = line_of(tests, "fired: big_order")
    # the same format as a policy diagnostic: code, file:line:col, the line underlined, help
    assert (
        f"1.0.0.test.yaml:{line}:12: error[test-wrong-type]: `fired` of case 1 must be a list, not a string"
        in r.output
    )
    assert "    fired: big_order\n" in r.output
    assert "               ^^^^^^^^^\n" in r.output
    assert "= help: write a list of rule names, e.g. `fired: [big_order]`" in r.output
    assert "0 passed, 0 failed, 1 error(s) in test files" in r.output


def test_other_wrong_types(tmp_path: Path) -> None:
    tests = (
        TESTS.replace("not_fired: [blocked]", "not_fired: [[blocked]]")
        .replace("error: {code: unknown_enum_value, path: /tier}", "error: unknown_enum_value")
        .replace("policy: shop/discount", "policy: shop/discount\nversion: 1.0")
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    messages = {d["message"]: d["help"] for d in report["diagnostics"]}
    assert messages == {
        "`version` must be a string, not a number": 'write the version in quotes, e.g. `version: "1.0.0"`',
        "`not_fired.0` of case 1 must be a string, not a list": None,
        "`error` of case 3 must be a mapping, not a string": None,
    }


def test_a_misspelt_rule_name(tmp_path: Path) -> None:
    tests = TESTS.replace("not_fired: [blocked]", "not_fired: [blokced]").replace(
        "rate row 1]", "rate rwo 1]"
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    found = {d["text"]: (d["message"], d["help"]) for d in report["diagnostics"]}
    assert found == {
        "blokced": ("shop/discount 1.0.0 has no rule `blokced`", "did you mean `blocked`?"),
        "rate rwo 1": (
            "shop/discount 1.0.0 has no rule `rate rwo 1`",
            "did you mean `rate row 1`?",
        ),
    }
    lines = {d["text"]: d["line"] for d in report["diagnostics"]}
    assert lines == {"blokced": line_of(tests, "blokced"), "rate rwo 1": line_of(tests, "rate rwo")}


def test_a_misspelt_output_field_at_any_depth(tmp_path: Path) -> None:
    tests = TESTS.replace(
        'expect: {discount: {amount: "120.00", currency: EUR}}',
        'expect: {discont: {amount: "120.00", currency: EUR}}',
    ).replace(
        'expect_subset: {discount: {amount: "5.00"}}', 'expect_subset: {discount: {amonut: "5.00"}}'
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    found = {d["text"]: (d["message"], d["help"], d["line"]) for d in report["diagnostics"]}
    assert found == {
        "discont": (
            "the output of shop/discount 1.0.0 has no field `discont`",
            "did you mean `discount`?",
            line_of(tests, "discont"),
        ),
        "amonut": (
            "the output of shop/discount 1.0.0 has no field `amonut` in `discount`",
            "did you mean `amount`?",
            line_of(tests, "amonut"),
        ),
    }


def test_an_unknown_version_and_policy(tmp_path: Path) -> None:
    root = write_discount_policy(
        tmp_path, TESTS.replace("policy: shop/discount", "policy: shop/discount\nversion: 1.0.1")
    )
    code, report = run_json(root)
    assert code == 1
    d = only(report["diagnostics"], "test-unknown-version")
    assert d["message"] == "shop/discount has no version 1.0.1"
    assert d["help"] == "did you mean `1.0.0`? its versions are: 1.0.0"
    assert (d["line"], d["col"]) == (2, 10)

    tmp2 = tmp_path / "b"
    root = write_discount_policy(
        tmp2, TESTS.replace("policy: shop/discount", "policy: shop/discuont")
    )
    code, report = run_json(root)
    assert code == 1
    d = only(report["diagnostics"], "test-unknown-policy")
    assert d["help"] == "did you mean `shop/discount`?"
    assert (d["line"], d["col"], d["text"]) == (1, 9, "shop/discuont")


def test_cases_that_check_nothing_or_contradict(tmp_path: Path) -> None:
    tests = TESTS + (
        "  - name: nothing checked\n"
        "    input: {tier: gold, on_hold: false, total: {amount: '1', currency: EUR}}\n"
        "  - name: two inputs\n"
        "    input: {}\n"
        "    input_file: silver.json\n"
        "    expect_subset: {}\n"
        "  - name: missing file\n"
        "    input_file: nowhere.json\n"
        "    error: {code: x}\n"
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 1
    codes = sorted(d["code"] for d in report["diagnostics"])
    assert codes == ["test-conflicting-keys", "test-input-file-not-found", "test-nothing-checked"]
    d = only(report["diagnostics"], "test-nothing-checked")
    assert d["line"] == line_of(tests, "nothing checked")


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path, "policy: shop/discount\ncases: [unclosed\n")
    code, report = run_json(root)
    assert code == 1
    d = only(report["diagnostics"], "test-yaml-syntax")
    assert d["line"] == 3 and "not valid YAML" in d["message"]


def test_github_format_annotates_the_test_file(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path, TESTS.replace("expect_subset:", "expect_subst:"))
    r = CliRunner().invoke(main, ["test", str(root), "--format", "github"])
    assert r.exit_code == 1
    line = line_of(TESTS, "expect_subset:")
    assert (
        f"::error file={root}/shop/discount/1.0.0.test.yaml,line={line},col=5,endLine={line},"
        "endColumn=17,title=test-unknown-key::unknown key `expect_subst` in case 2 "
        "(did you mean `expect_subset`?)"
    ) in r.output


def test_yaml_anchors_in_defaults_are_accepted(tmp_path: Path) -> None:
    tests = (
        "policy: shop/discount\n"
        "defaults:\n"
        "  base: &base {tier: gold, on_hold: false, total: {amount: '10', currency: EUR}}\n"
        "cases:\n"
        "  - name: merged\n"
        "    input: {<<: *base, tier: bronze}\n"
        "    expect: {discount: {amount: '0.00', currency: EUR}}\n"
    )
    root = write_discount_policy(tmp_path, tests)
    code, report = run_json(root)
    assert code == 0, report
    assert report["passed"] == 1 and report["diagnostics"] == []


def test_the_shipped_test_files_check_clean() -> None:
    code, report = run_json(SHIPPED)
    assert code == 0, report["diagnostics"]
    assert report["diagnostics"] == [] and report["failed"] == 0


def test_a_version_without_tests_is_listed_at_zero_percent(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    shutil.copytree(SHIPPED, root)
    (root / "budgets" / "google-ads-credit-budget" / "1.0.0.test.yaml").unlink()
    r = CliRunner().invoke(main, ["test", str(root), "--coverage", "--format", "json"])
    assert r.exit_code == 0, r.output
    cov = {c["policy"]: c for c in json.loads(r.output)["coverage"]}
    assert len(cov) == 5
    untested = cov["budgets/google-ads-credit-budget"]
    assert untested["cases"] == 0 and set(untested["percent"].values()) == {0.0}
    r = CliRunner().invoke(main, ["test", str(root), "--min-coverage", "50"])
    assert r.exit_code == 1
    assert "coverage budgets/google-ads-credit-budget 1.0.0: 0%, no test cases" in r.output
    assert "coverage of budgets/google-ads-credit-budget 1.0.0 is 0.0%, below 50.0%" in r.output
    # a subfolder lists only its own versions
    r = CliRunner().invoke(main, ["test", str(root / "health"), "--min-coverage", "50"])
    assert r.exit_code == 0, r.output
