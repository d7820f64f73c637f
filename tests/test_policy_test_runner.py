"""`clausewise test`: policy tests beside the policies, readable failures, coverage."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from click.testing import CliRunner

from clausewise.cli import main
from tests.discount_policy import TESTS, write_discount_policy


def test_passing_tests_exit_zero(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path)
    r = CliRunner().invoke(main, ["test", str(root)])
    assert r.exit_code == 0, r.output
    assert "3 passed, 0 failed" in r.output


def test_a_failing_case_shows_a_diff_and_the_explanation(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path, TESTS.replace('amount: "120.00"', 'amount: "110.00"'))
    r = CliRunner().invoke(main, ["test", str(root)])
    assert r.exit_code == 1
    assert "FAIL" in r.output and "gold, big order" in r.output
    assert '-    "amount": "110.00",' in r.output
    assert '+    "amount": "120.00",' in r.output
    assert "✓ big_order [S2]: applies" in r.output
    assert "2 passed, 1 failed" in r.output


def test_wrong_expected_error_and_rules(tmp_path: Path) -> None:
    tests = TESTS.replace("path: /tier", "path: /total").replace(
        "not_fired: [blocked]", "not_fired: [big_order]"
    )
    root = write_discount_policy(tmp_path, tests)
    r = CliRunner().invoke(main, ["test", str(root), "--format", "json"])
    assert r.exit_code == 1
    report = json.loads(r.output)
    messages = " ".join(f["message"] for f in report["failures"])
    assert "rule `big_order` was expected not to fire but did" in messages
    assert "path: expected '/total', got '/tier'" in messages


def test_coverage_reports_what_no_test_exercised(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path)
    r = CliRunner().invoke(main, ["test", str(root), "--coverage", "--format", "json"])
    assert r.exit_code == 0, r.output
    cov = json.loads(r.output)["coverage"][0]
    assert cov["rules_never_fired"] == ["blocked"]
    assert cov["rows_never_matched"] == ["rate row 3"]
    assert "S3" in cov["clauses_not_exercised"]
    assert cov["percent"]["rules"] == 50.0
    text = CliRunner().invoke(main, ["test", str(root), "--coverage"]).output
    assert "rules never fired: blocked" in text
    r = CliRunner().invoke(main, ["test", str(root), "--min-coverage", "90"])
    assert r.exit_code == 1
    assert "below 90.0%" in r.output


def test_full_coverage_passes_the_minimum(tmp_path: Path) -> None:
    more = textwrap.dedent("""\
      - name: on hold
        input: {tier: bronze, on_hold: true, total: {amount: "5000", currency: EUR}}
        expect: {discount: {amount: "0.00", currency: EUR}}
      - name: bronze small
        input: {tier: bronze, on_hold: false, total: {amount: "5", currency: EUR}}
        expect: {discount: {amount: "0.00", currency: EUR}}
    """)
    root = write_discount_policy(tmp_path, TESTS + textwrap.indent(more, "  "))
    r = CliRunner().invoke(main, ["test", str(root), "--min-coverage", "100"])
    assert r.exit_code == 0, r.output


def test_unreadable_test_file_is_an_error(tmp_path: Path) -> None:
    root = write_discount_policy(tmp_path, "policy: shop/discount\ncases: [unclosed\n")
    r = CliRunner().invoke(main, ["test", str(root)])
    assert r.exit_code == 1
    assert "error[test-yaml-syntax]: the test file is not valid YAML" in r.output
