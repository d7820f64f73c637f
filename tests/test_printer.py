"""One printer of policy text: `clausewise fmt` and `clausewise diff` show every literal as the
author wrote it, and print each expression the same way.

For every kind of literal, a change from one value to another is shown by `diff` with the two
values written as in the files (a datetime keeps its offset, a decimal its trailing zeros), and
`fmt` keeps them as written too; strings are escaped the one way both use, so no separator or
control character is ever shown raw. For generated policies, the text `diff` gives for each
added definition and rule is the text `fmt` writes for it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clausewise.cli import main
from clausewise.dsl import ast as A
from clausewise.dsl.parser import parse
from tests.generators.policies import HypothesisDraw, policy_text


def run(*args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=stdin, catch_exceptions=False)


def fmt(text: str) -> str:
    r = run("fmt", "-", stdin=text)
    assert r.exit_code == 0, r.output
    return str(r.output)


def policy(body: str, head: str = "") -> str:
    return f'policy "t/p"\nversion "1.0.0"\n{head}\n{body}\n'


def write_pair(tmp_path: Path, old: str, new: str) -> tuple[str, str]:
    (tmp_path / "old.cw").write_text(old, encoding="utf-8")
    (tmp_path / "new.cw").write_text(new, encoding="utf-8")
    return str(tmp_path / "old.cw"), str(tmp_path / "new.cw")


def diff_text(tmp_path: Path, old: str, new: str) -> list[str]:
    r = run("diff", *write_pair(tmp_path, old, new))
    assert r.exit_code == 0, r.output
    return list(r.output.splitlines())


def diff_json(tmp_path: Path, old: str, new: str) -> dict[str, Any]:
    r = run("diff", *write_pair(tmp_path, old, new), "--format", "json")
    assert r.exit_code == 0, r.output
    (d,) = json.loads(r.output)["diffs"]
    return dict(d)


# (old, new): two values of one kind, each as an author may write it
WRITTEN = [
    pytest.param("2024-01-01T10:00:00+02:00", "2024-01-01T10:30:00+02:00", id="datetime-offset"),
    pytest.param("2024-06-30T23:59-07:00", "2024-07-01T00:00Z", id="datetime-minutes"),
    pytest.param("2024-01-01T10:00:00.250Z", "2024-01-01T10:00:00.500+00:00", id="datetime-frac"),
    pytest.param("2024-01-01T10:00", "2024-01-01T11:00:00", id="local-datetime"),
    pytest.param("2024-02-29", "2024-03-01", id="date"),
    pytest.param("1.50", "2.500", id="decimal-trailing-zeros"),
    pytest.param("0.10", "10", id="decimal-to-int"),
    pytest.param("2.50%", "3.0%", id="percent"),
    pytest.param("1000.00 USD", "1500.5 USD", id="money"),
    pytest.param("1 day", "30 days", id="duration-days"),
    pytest.param("2 hours", "1 hour", id="duration-hours"),
    pytest.param("1 month", "12 months", id="duration-months"),
    pytest.param("true", "false", id="bool"),
    pytest.param("null", "0.0", id="null"),
    pytest.param('"a"', '"line\\u2028break"', id="string-line-separator"),
    pytest.param('"tab\\there"', '"para\\u2029graph"', id="string-paragraph-separator"),
    pytest.param('"q\\"uote\\\\"', '"bell\\u0007 and\\nnewline"', id="string-escapes"),
]


@pytest.mark.parametrize(("old", "new"), WRITTEN)
def test_diff_and_fmt_show_literals_as_written(tmp_path: Path, old: str, new: str) -> None:
    def source(lit: str) -> str:
        return policy(f'let x = {lit}\n\nrule r "why"\n  when input.v == {lit}')

    for lit in (old, new):
        assert f"let x = {lit}\n" in fmt(source(lit))
        assert f"  when input.v == {lit}\n" in fmt(source(lit))
    lines = diff_text(tmp_path, source(old), source(new))
    assert f"  ~ let x: {old} -> {new}" in lines
    assert f"  ~ rule r: input.v == {old} -> == {new}" in lines
    details = {
        c["name"]: c["details"] for c in diff_json(tmp_path, source(old), source(new))["changes"]
    }
    assert [(d["old"], d["new"]) for d in details["x"]] == [(old, new)]


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("\u0085", "\\u0085"),
        ("\u009f", "\\u009f"),
    ],
)
def test_strings_with_separators_written_raw_are_shown_escaped(
    tmp_path: Path, raw: str, escaped: str
) -> None:
    old = policy('let s = "plain"\n\nrule r "one' + raw + 'two"\n  when true')
    new = policy('let s = "a' + raw + 'b"\n\nrule r "one two"\n  when true')
    assert f'let s = "a{escaped}b"\n' in fmt(new)
    assert f'rule r "one{escaped}two"\n' in fmt(old)
    r = run("diff", *write_pair(tmp_path, old, new))
    assert r.exit_code == 0
    assert raw not in r.output
    lines = r.output.splitlines()
    assert f'  ~ let s: "plain" -> "a{escaped}b"' in lines
    assert f'  ~ rule r: reason "one{escaped}two" -> "one two"' in lines


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("from 2024-01-01T10:00:00+02:00", "from 2024-01-01T10:00:00+02:00 until 2025-01-01"),
        ("until 2024-12-31T23:59-05:00", "until 2024-12-31T23:59:30-05:00"),
        ('from 2024-01-01T00:00 in "Europe/Paris"', 'from 2024-01-01T00:00:30 in "Europe/Paris"'),
    ],
)
def test_effective_period_is_shown_as_written(tmp_path: Path, old: str, new: str) -> None:
    def source(effective: str) -> str:
        return policy("let x = 1", f"effective {effective}")

    lines = diff_text(tmp_path, source(old), source(new))
    assert f"  ~ header effective: {old} -> {new}" in lines
    for eff in (old, new):
        assert f"effective {eff}\n" in fmt(source(eff))


def test_same_values_written_differently_are_no_change(tmp_path: Path) -> None:
    old = policy("let a = 1.5\nlet b = 2024-01-01T10:00:00+02:00\nlet c = 2.5%\nlet d = 3 USD")
    new = policy("let a = 1.50\nlet b = 2024-01-01T08:00Z\nlet c = 0.025\nlet d = 3.00 USD")
    assert diff_text(tmp_path, old, new)[-1] == "no semantic changes"


# ---- fmt and diff print each expression the same way ------------------------------------------


def _squeeze(text: str) -> str:
    """The text without layout: no whitespace, no trailing comma before a closing bracket."""
    return re.sub(r",(?=[\])}])", "", re.sub(r"\s+", "", text))


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.data())
def test_fmt_and_diff_print_each_expression_alike(tmp_path_factory: Any, data: Any) -> None:
    text, _, _ = policy_text(HypothesisDraw(data.draw))
    text += '\nrule shown "r"\n  when input.n > 0.50 or input.n < 2024-01-01T10:00:00+02:00\n'
    tmp = tmp_path_factory.mktemp("same")
    empty = policy("")
    d = diff_json(tmp, empty, text)
    from_diff = {
        (c["section"], c["name"]): c["details"][0]["new"]
        for c in d["changes"]
        if c["section"] in ("let", "rule") and c["action"] == "added"
    }
    formatted = fmt(text)
    tree = parse(formatted)
    from_fmt: dict[tuple[str, str], str] = {}
    for item in tree.items:
        if isinstance(item, A.Let):
            from_fmt[("let", item.name)] = A.span_of(item.body).text()
        elif isinstance(item, A.Rule):
            from_fmt[("rule", item.name)] = A.span_of(item.when).text()
    assert from_diff.keys() == from_fmt.keys()
    for key, shown in from_diff.items():
        written = from_fmt[key]
        if "\n" not in written:
            assert shown == written, key
        else:  # fmt broke it over lines: the same text, laid out
            assert _squeeze(shown) == _squeeze(written), key


@pytest.mark.parametrize(
    "cell", ['"a\u2028b"', '"a\u2029b"', '"say \\"hi\\""', '"back\\\\slash"', '"tab\\tnew\\nline"']
)
def test_table_diagnostics_write_values_as_fmt_does(tmp_path: Path, cell: str) -> None:
    written = fmt(policy(f"let s = {cell}")).split("let s = ")[1].strip()
    rows = f"  | {cell} => 1\n  | {cell} => 2"
    text = policy(f'table t(k: string) {{\n{rows}\n}}\n\noutput {{ r: t("x") }}')
    (tmp_path / "p.cw").write_text(text, encoding="utf-8")
    r = run("check", str(tmp_path / "p.cw"), "--format", "json")
    messages = [d["message"] for d in json.loads(r.output)["diagnostics"]]
    assert f"rows 1 and 2 of table `t` both match k = {written}" in messages
