"""What a new policy author meets: which version decides by default, lookups of unknown policies,
errors that point at the mistake, and the messages of the version checks."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from clausewise import Engine, InputError, UnknownPolicyError
from clausewise.cli import main

INPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"n": {"type": "integer"}},
    "required": ["n"],
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"v": {"type": "integer"}},
    "required": ["v"],
}

HEADER = """policy "{pid}"
version "{version}"
input schema "input.schema.json"
output schema "output.schema.json"
{extra}
"""


def write_policy(
    root: Path, pid: str, version: str, body: str, extra: str = "", bom: bool = False
) -> Path:
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (folder / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA))
    path = folder / f"{version}.cw"
    text = HEADER.format(pid=pid, version=version, extra=extra) + body
    path.write_text(("\ufeff" if bom else "") + text, encoding="utf-8")
    return path


def run(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(main, list(args), input=input)


def staged(root: Path) -> Path:
    """A released version in force since 2020 and a reform staged for 2999."""
    write_policy(root, "air/comp", "1.0.0", "output {v: 1}\n", 'effective from 2020-01-01 in "UTC"')
    write_policy(root, "air/comp", "2.0.0", "output {v: 2}\n", 'effective from 2999-01-01 in "UTC"')
    return root


# ---- the default version is the one in force now -----------------------------------------------


def test_evaluate_without_version_uses_the_version_in_force_now(tmp_path: Path) -> None:
    engine = Engine.from_directory(staged(tmp_path))
    for _ in range(2):  # the second call takes the remembered version
        decision = engine.evaluate("air/comp", {"n": 1})
        assert (decision.version, decision.output) == ("1.0.0", {"v": 1})
    assert engine.evaluate("air/comp", {"n": 1}, trace="rules").version == "1.0.0"
    assert engine.policy("air/comp").version == "1.0.0"
    later = engine.evaluate("air/comp", {"n": 1}, at="2999-06-01T00:00:00Z")
    assert (later.version, later.output) == ("2.0.0", {"v": 2})
    aware = dt.datetime(2999, 6, 1, tzinfo=dt.UTC)
    assert engine.evaluate("air/comp", {"n": 1}, at=aware).version == "2.0.0"
    assert engine.evaluate("air/comp", {"n": 1}, version="2.0.0").output == {"v": 2}


def test_cli_eval_without_version_uses_the_version_in_force_now(tmp_path: Path) -> None:
    root = staged(tmp_path / "policies")
    data = tmp_path / "in.json"
    data.write_text('{"n": 1}')
    r = run("eval", "air/comp", "--policies", str(root), "--input", str(data))
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["version"] == "1.0.0"
    r = run("eval", "air/comp", "--policies", str(root), "--input", str(data), "--at", "2999-01-01T00:00:00Z")
    assert json.loads(r.output)["version"] == "2.0.0"
    r = run("check", str(root))
    assert r.exit_code == 0, r.output  # staging a version leaves the released one as it is


def test_no_version_in_force_is_a_plain_error(tmp_path: Path) -> None:
    write_policy(tmp_path, "air/comp", "2.0.0", "output {v: 2}\n", 'effective from 2999-01-01 in "UTC"')
    engine = Engine.from_directory(tmp_path)
    with pytest.raises(UnknownPolicyError) as info:
        engine.evaluate("air/comp", {"n": 1})
    assert str(info.value).startswith("no version of air/comp is in force now (2.0.0 from 2999-01-01T00:00:00Z")


# ---- `at` as a string, unknown policies and versions -------------------------------------------


def test_at_accepts_an_rfc3339_string_and_rejects_other_types_clearly(tmp_path: Path) -> None:
    engine = Engine.from_directory(staged(tmp_path))
    assert engine.evaluate("air/comp", {"n": 1}, at="2026-01-01T00:00:00+01:00").version == "1.0.0"
    with pytest.raises(TypeError, match="`at` must be an aware datetime or an RFC 3339 string, not int"):
        engine.evaluate("air/comp", {"n": 1}, at=2026)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="RFC 3339 instant"):
        engine.evaluate("air/comp", {"n": 1}, at="next tuesday")
    with pytest.raises(ValueError, match="needs a time zone"):
        engine.evaluate("air/comp", {"n": 1}, at="2026-01-01T00:00:00")
    for text in ("2026-01-01T00:00:00+05:60", "2026-01-01T00:00:00+24:00", "2026-01-01 00:00:00Z"):
        with pytest.raises(ValueError, match="RFC 3339 instant"):
            engine.evaluate("air/comp", {"n": 1}, at=text)


@pytest.mark.parametrize("text", ["2999-01-01T00:00:00+05:60", "2999-01-01T00:00:00-99:00", "20990101T000000Z"])
def test_cli_at_outside_rfc3339_is_a_usage_error(tmp_path: Path, text: str) -> None:
    root = staged(tmp_path / "policies")
    data = tmp_path / "in.json"
    data.write_text('{"n": 1}')
    r = run("eval", "air/comp", "--policies", str(root), "--input", str(data), "--at", text)
    assert r.exit_code == 2, r.output
    assert "--at" in r.output and "RFC 3339" in r.output


def test_an_effective_instant_with_an_offset_past_rfc3339_is_a_diagnostic(tmp_path: Path) -> None:
    write_policy(tmp_path, "air/comp", "1.0.0", "output {v: 1}\n", "effective from 2022-01-01T00:00:00+05:60")
    r = run("check", str(tmp_path))
    assert r.exit_code == 1, r.output
    assert "[invalid-literal]" in r.output and "2022-01-01T00:00:00+05:60" in r.output


def test_unknown_policy_or_version_raises_a_plain_message(tmp_path: Path) -> None:
    engine = Engine.from_directory(staged(tmp_path))
    with pytest.raises(UnknownPolicyError) as info:
        engine.evaluate("air/compp", {"n": 1})
    assert str(info.value) == "unknown policy `air/compp`: did you mean `air/comp`?"
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownPolicyError) as info:
        engine.evaluate("air/comp", {"n": 1}, version="3.0.0")
    assert str(info.value) == "air/comp has no version 3.0.0 (it has 1.0.0, 2.0.0)"
    with pytest.raises(UnknownPolicyError) as info:
        engine.evaluate("air/comp", {"n": 1}, at="2019-01-01T00:00:00Z")
    assert "no version of air/comp is in force at 2019-01-01T00:00:00Z" in str(info.value)


# ---- effective periods --------------------------------------------------------------------------


def test_effective_overlap_names_the_new_version_and_does_not_ask_to_edit_the_released_one(
    tmp_path: Path,
) -> None:
    write_policy(tmp_path, "air/comp", "1.0.0", "output {v: 1}\n", 'effective from 2020-01-01 until 2025-01-01 in "UTC"')
    write_policy(tmp_path, "air/comp", "1.1.0", "output {v: 2}\n", 'effective from 2024-06-01 in "UTC"')
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 1
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["code"] == "effective-overlap"]
    assert d["message"] == (
        "air/comp 1.1.0 is in force from 2024-06-01T00:00:00Z, before 1.0.0 ends (2025-01-01T00:00:00Z)"
    )
    assert d["help"].startswith("start 1.1.0 where 1.0.0 ends (`effective from` 2025-01-01T00:00:00Z)")
    assert "the open start" not in r.output


def test_two_periods_open_at_the_start_overlap(tmp_path: Path) -> None:
    write_policy(tmp_path, "air/comp", "1.0.0", "output {v: 1}\n", 'effective until 2025-01-01 in "UTC"')
    write_policy(tmp_path, "air/comp", "1.1.0", "output {v: 2}\n", 'effective until 2026-01-01 in "UTC"')
    r = run("check", str(tmp_path), "--format", "json")
    diags = json.loads(r.output)["diagnostics"]
    (d,) = [d for d in diags if d["code"] == "effective-overlap"]
    assert "are both in force from the open start" in d["message"]


# ---- why-not --------------------------------------------------------------------------------


CLAIM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "delay_minutes": {"type": "integer"},
        "cancelled_notice_days": {"type": "integer"},
    },
    "required": ["delay_minutes", "cancelled_notice_days"],
}

CLAIM = """decision outcome first {
  rule notice_given "Notice was given two weeks ahead." when input.cancelled_notice_days >= 14 then "refused"
  rule long_delay "A delay of three hours or more." when input.delay_minutes >= 180 then "paid"
  rule medium_delay "A delay of two hours or more." when input.delay_minutes >= 120 then "care"
  else "refused"
}
output {v: 0, outcome: outcome}
"""


def claim_root(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    path = write_policy(root, "air/claim", "1.0.0", CLAIM)
    (path.parent / "input.schema.json").write_text(json.dumps(CLAIM_SCHEMA))
    (path.parent / "output.schema.json").write_text(
        json.dumps({"type": "object", "properties": {"v": {"type": "integer"}, "outcome": {"type": "string"}}})
    )
    return root


def test_why_not_an_outcome_names_the_rule_that_made_it_so_first(tmp_path: Path) -> None:
    root = claim_root(tmp_path)
    data = tmp_path / "in.json"
    data.write_text('{"delay_minutes": 200, "cancelled_notice_days": 20}')
    r = run("explain", "air/claim", "--policies", str(root), "--input", str(data), "--why-not", "outcome")
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[1] == "Rules that applied:"
    assert "notice_given" in lines[2] and "applies" in lines[2]


def test_why_not_an_unknown_name_fails_with_did_you_mean(tmp_path: Path) -> None:
    root = claim_root(tmp_path)
    data = tmp_path / "in.json"
    data.write_text('{"delay_minutes": 200, "cancelled_notice_days": 20}')
    r = run("explain", "air/claim", "--policies", str(root), "--input", str(data), "--why-not", "outcom")
    assert r.exit_code == 2
    assert "`outcom` is neither an output field nor a rule of this policy: did you mean `outcome`?" in r.output
    engine = Engine.from_directory(root)
    decision = engine.evaluate("air/claim", json.loads(data.read_text()), trace="full")
    assert decision.can_explain_why_not("long_delay") and not decision.can_explain_why_not("outcom")


# ---- syntax errors at the mistake -------------------------------------------------------------


def test_a_leading_byte_order_mark_is_not_part_of_the_policy(tmp_path: Path) -> None:
    write_policy(tmp_path / "p", "air/comp", "1.0.0", "output {v: input.n}\n", bom=True)
    assert run("check", str(tmp_path / "p")).exit_code == 0
    data = tmp_path / "in.json"
    data.write_text('{"n": 4}')
    r = run("eval", "air/comp", "--policies", str(tmp_path / "p"), "--input", str(data))
    assert json.loads(r.output)["output"] == {"v": 4}
    # a mistake further down is still reported at its own column
    write_policy(tmp_path / "q", "air/comp", "1.0.0", "output {v: input.nn}\n", bom=True)
    r = run("check", str(tmp_path / "q"), "--format", "json")
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert (d["code"], d["line"], d["col"]) == ("unknown-field", 6, 12)


# ---- schemas ----------------------------------------------------------------------------------


def test_an_unknown_format_is_an_error_at_its_place_in_the_schema(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "air/comp", "1.0.0", "output {v: input.n}\n")
    schema = path.parent / "input.schema.json"
    schema.write_text(
        '{\n  "type": "object",\n  "properties": {\n    "n": {"type": "integer"},\n'
        '    "flown": {"type": "string", "format": "data"}\n  },\n  "required": ["n"]\n}\n'
    )
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 1
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert d["file"] == str(schema)
    assert (d["line"], d["col"]) == (5, 43)
    assert "/properties/flown/format" in d["message"]
    assert "unknown format 'data': did you mean `date`?" in d["message"]


def test_x_annotations_are_accepted_and_standard_formats_are_annotations(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "air/comp", "1.0.0", "output {v: input.n}\n")
    schema = {
        **INPUT_SCHEMA,
        "x-owner": "claims team",
        "properties": {
            "n": {"type": "integer", "x-unit": "minutes"},
            "contact": {"type": "string", "format": "email"},
        },
    }
    (path.parent / "input.schema.json").write_text(json.dumps(schema))
    r = run("check", str(tmp_path))
    assert r.exit_code == 0, r.output
    data = tmp_path / "in.json"
    data.write_text('{"n": 7, "contact": "not checked"}')
    r = run("eval", "air/comp", "--policies", str(tmp_path), "--input", str(data))
    assert json.loads(r.output)["output"] == {"v": 7}


# ---- one policy that does not check stops no other ---------------------------------------------


def mixed_root(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    good = write_policy(
        root,
        "air/good",
        "1.0.0",
        'output {v: input.n}\ninvariant copies "v is n": output.v == input.n\n',
    )
    (good.parent / "1.0.0.test.yaml").write_text(
        'policy: air/good\nversion: "1.0.0"\ncases:\n- name: copies\n  input: {n: 3}\n  expect: {v: 3}\n'
    )
    bad = write_policy(root, "air/bad", "1.0.0", "output {v: input.nn}\n")
    (bad.parent / "1.0.0.test.yaml").write_text(
        'policy: air/bad\nversion: "1.0.0"\ncases:\n- name: copies\n  input: {n: 3}\n  expect: {v: 3}\n'
    )
    return root


def test_eval_of_a_good_policy_is_not_stopped_by_a_bad_one(tmp_path: Path) -> None:
    root = mixed_root(tmp_path)
    data = tmp_path / "in.json"
    data.write_text('{"n": 5}')
    r = CliRunner().invoke(main, ["eval", "air/good", "--policies", str(root), "--input", str(data)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["output"] == {"v": 5}
    assert "1 other policy file(s)" in r.stderr
    r = CliRunner().invoke(main, ["eval", "air/bad", "--policies", str(root), "--input", str(data)])
    assert r.exit_code == 2
    assert "1.0.0.cw:6:12: error[unknown-field]" in r.stderr
    assert "error: air/bad does not check" in r.stderr


def test_test_and_verify_of_good_policies_go_on_past_a_bad_one(tmp_path: Path) -> None:
    root = mixed_root(tmp_path)
    r = run("test", str(root))
    assert r.exit_code == 1
    assert "1 passed, 0 failed" in r.output
    assert "air/bad does not check (1 error(s)); first: " in r.output
    r = CliRunner().invoke(main, ["verify", str(root), "--max-examples", "20", "--seed", "1"])
    assert r.exit_code == 2, r.output
    assert "1 policy version(s) verified, 0 failed" in r.stdout
    assert "error[unknown-field]" in r.stderr


def test_verify_takes_a_subfolder_as_test_does(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    for pid in ("air/one", "air/two", "rail/three"):
        write_policy(root, pid, "1.0.0", 'output {v: input.n}\ninvariant copies "v is n": output.v == input.n\n')
    for sub, verified in ((root / "air", 2), (root / "air" / "two", 1), (root, 3)):
        r = run("verify", str(sub), "--max-examples", "10", "--seed", "3")
        assert r.exit_code == 0, r.output
        assert f"{verified} policy version(s) verified, 0 failed" in r.output


def test_check_and_lock_suggest_the_same_version_for_a_changed_release(tmp_path: Path) -> None:
    write_policy(tmp_path, "air/comp", "1.0.0", "output {v: 1}\n", 'effective from 2020-01-01 in "UTC"')
    write_policy(tmp_path, "air/comp", "1.1.0", "output {v: 2}\n", 'effective from 2021-01-01 in "UTC"')
    assert run("lock", str(tmp_path)).exit_code == 0
    write_policy(tmp_path, "air/comp", "1.0.0", "output {v: 3}\n", 'effective from 2020-01-01 in "UTC"')
    r = run("check", str(tmp_path), "--format", "json")
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert "bump the version (e.g. 1.1.1)" in d["help"]
    r = run("lock", str(tmp_path))
    assert r.exit_code == 1
    assert "bump the version (e.g. 1.1.1)" in r.output


def syntax_error(tmp_path: Path, body: str) -> dict[str, Any]:
    write_policy(tmp_path, "air/comp", "1.0.0", body)
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 1
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert d["code"] == "syntax-error"
    return d


@pytest.mark.parametrize(
    ("body", "op", "col", "next_word"),
    [
        ('rule big "Big." when input.n > 3 and\noutput {v: input.n}\n', "and", 34, "output"),
        (
            'decision d first {\n  rule big "Big." when input.n > 3 or\n    then 1\n  else 2\n}\noutput {v: d}\n',
            "or",
            36,
            "then",
        ),
        ("let x = input.n +  # the fee\n\noutput {v: x}\n", "+", 17, "output"),
        ("let x = input.n > 2 and\n}\n", "and", 21, "}"),
    ],
)
def test_an_operator_ending_a_line_is_reported_at_the_operator(
    tmp_path: Path, body: str, op: str, col: int, next_word: str
) -> None:
    d = syntax_error(tmp_path, body)
    line = 6 + body.split(op + "\n")[0].count("\n") if op + "\n" in body else 6
    assert (d["line"], d["col"]) == (line, col), d
    assert d["message"] == f"`{op}` ends line {line} with nothing after it"
    assert f"the `{next_word}` on the next line is not part of this expression" in d["help"]


def test_an_unclosed_bracket_names_where_it_was_opened(tmp_path: Path) -> None:
    d = syntax_error(tmp_path, 'let x = [f(1), (input.n + 2\n]\noutput {v: x}\n')
    assert "the `(` opened at line 6, col 16 is not closed" in d["message"]
    d = syntax_error(tmp_path, 'let s = "a ( in a string" # and ( in a comment\nlet x = {a: 1\noutput {v: x}\n')
    assert "the `{` opened at line 7, col 9 is not closed" in d["message"]


@pytest.mark.parametrize(
    "condition",
    ["input.nn == 3", "input.nn in [1, 2]", "input.nn == 3 and input.n > 1", "not (input.nn != 3)"],
)
def test_a_field_typo_is_the_only_finding_about_its_rule(tmp_path: Path, condition: str) -> None:
    write_policy(
        tmp_path, "air/comp", "1.0.0", f'rule big cites A1 "Big." when {condition}\noutput {{v: if big then 1 else 0}}\n'
    )
    r = run("check", str(tmp_path), "--format", "json")
    codes = [d["code"] for d in json.loads(r.output)["diagnostics"] if d["severity"] != "note"]
    assert codes == ["unknown-field"]


# ---- paths as a reader (and a CI annotation) can open them ------------------------------------


def test_paths_in_errors_annotations_and_coverage_are_relative_and_normalised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "policies"
    write_policy(root, "air/comp", "1.0.0", 'import "../../shared/util.cw" as util\noutput {v: util.double(input.n)}\n')
    (root / "shared").mkdir()
    (root / "shared" / "util.cw").write_text('module "shared/util"\n\nlet double(x) = x * "2"\n')
    monkeypatch.chdir(tmp_path)
    r = run("check", str(root), "--format", "github")
    assert r.output.startswith("::error file=policies/shared/util.cw,line=3,col=17,"), r.output
    r = run("check", "policies/air/../")
    assert "\npolicies/shared/util.cw:3:17: error[type-mismatch]" in r.output, r.output
    sub = tmp_path / "policies" / "air"
    monkeypatch.chdir(sub)
    r = run("check", "..", "--format", "github")
    assert f"file={root / 'shared' / 'util.cw'}," in r.output  # outside the working folder: absolute

    (root / "shared" / "util.cw").write_text('module "shared/util"\n\nlet double(x) = x * 2\n')
    write_policy(root, "air/comp", "1.0.0", 'rule big cites A1 "Big." when input.n > 3\noutput {v: if big then 1 else 0}\n')
    (root / "air" / "comp" / "1.0.0.test.yaml").write_text(
        'policy: air/comp\nversion: "1.0.0"\ncases:\n- name: big\n  input: {n: 5}\n  expect: {v: 1}\n'
    )
    monkeypatch.chdir(tmp_path)
    r = run("test", str(root), "--coverage")
    assert "condition never false: input.n > 3 (6:31) at policies/air/comp/1.0.0.cw:6:31" in r.output, r.output


# ---- documented choices: daylight-saving gaps and overlaps ------------------------------------


def test_a_local_time_in_a_daylight_saving_gap_or_overlap_follows_the_documented_rule(tmp_path: Path) -> None:
    # 2024-03-10 02:00 jumps to 03:00 in New York; 2024-11-03 02:00 goes back to 01:00
    write_policy(
        tmp_path,
        "air/comp",
        "1.0.0",
        "output {v: 1}\n",
        'effective from 2024-03-10T02:30 until 2024-11-03T01:30 in "America/New_York"',
    )
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 0, r.output
    warned = [d for d in json.loads(r.output)["diagnostics"] if d["code"] == "ambiguous-local-time"]
    assert [d["message"] for d in warned] == [
        "2024-03-10T02:30 does not exist in America/New_York: the clocks skip it",
        "2024-11-03T01:30 occurs twice in America/New_York: the clocks go back over it",
    ]
    assert "as much later as the gap is long" in warned[0]["help"]
    assert "the earlier of the two" in warned[1]["help"]
    engine = Engine.from_directory(tmp_path)
    # the gap: 02:30 is read with the offset before it (-05:00), i.e. 03:30 EDT
    with pytest.raises(UnknownPolicyError):
        engine.evaluate("air/comp", {"n": 1}, at="2024-03-10T07:29:59Z")
    assert engine.evaluate("air/comp", {"n": 1}, at="2024-03-10T07:30:00Z").version == "1.0.0"
    # the overlap: 01:30 is the earlier one (-04:00), 05:30Z
    assert engine.evaluate("air/comp", {"n": 1}, at="2024-11-03T05:29:59Z").version == "1.0.0"
    with pytest.raises(UnknownPolicyError):
        engine.evaluate("air/comp", {"n": 1}, at="2024-11-03T05:30:00Z")


# ---- negative decimals ------------------------------------------------------------------------


DELTA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "n": {"type": "integer"},
        "delta": {"type": ["string", "integer"], "format": "decimal", "pattern": "^-?\\d+(\\.\\d+)?$"},
        "fee": {"type": ["string", "integer"], "format": "decimal", "pattern": "^\\d+(\\.\\d+)?$"},
    },
    "required": ["n", "delta", "fee"],
}


def test_a_negative_decimal_is_taken_when_the_schema_pattern_allows_it(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "air/comp", "1.0.0", "output {v: if input.delta < 0 then 1 else 2}\n")
    schema = {**DELTA_SCHEMA, "properties": {**DELTA_SCHEMA["properties"]}}
    schema["properties"]["limit"] = {
        "type": ["string", "integer"], "format": "decimal", "pattern": "^-?\\d+$", "maximum": 5
    }
    (path.parent / "input.schema.json").write_text(json.dumps(schema))
    engine = Engine.from_directory(tmp_path)
    for trace in ("off", "full"):
        assert engine.evaluate("air/comp", {"n": 1, "delta": "-2.50", "fee": "1"}, trace=trace).output == {"v": 1}
        assert engine.evaluate("air/comp", {"n": 1, "delta": -3, "fee": "1"}, trace=trace).output == {"v": 1}
        assert engine.evaluate("air/comp", {"n": 1, "delta": "0.5", "fee": "1", "limit": "-4"}, trace=trace).output == {"v": 2}
        for bad, where in (({"fee": "-1"}, "/fee"), ({"fee": -1}, "/fee"), ({"delta": "-1.5.2"}, "/delta"), ({"limit": "-4.5"}, "/limit"), ({"limit": 6}, "/limit")):
            with pytest.raises(InputError) as info:
                engine.evaluate("air/comp", {"n": 1, "delta": "2", "fee": "1", **bad}, trace=trace)
            assert info.value.path == where, (bad, info.value)


def test_check_warns_when_a_decimal_pattern_lets_through_what_the_format_refuses(tmp_path: Path) -> None:
    path = write_policy(tmp_path, "air/comp", "1.0.0", "output {v: input.n}\n")
    schema = {**DELTA_SCHEMA, "properties": {**DELTA_SCHEMA["properties"]}}
    schema["properties"]["fee"] = {"type": "string", "format": "decimal", "pattern": "^[+]?\\d+([.,]\\d+)?$"}
    (path.parent / "input.schema.json").write_text(json.dumps(schema, indent=2))
    for _ in range(2):  # also when the schema is remembered as valid
        r = run("check", str(tmp_path), "--format", "json")
        assert r.exit_code == 0, r.output
        (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["code"] == "decimal-pattern-mismatch"]
        assert d["severity"] == "warning" and d["file"].endswith("input.schema.json")
        assert "at /properties/fee/pattern: the pattern accepts '+1', '1,5', which" in d["message"]


# ---- impact by each input's own date, with money totals ---------------------------------------


MONEY_DEF = {
    "type": "object",
    "format": "money",
    "properties": {
        "amount": {"type": "string", "pattern": "^\\d+\\.\\d{2}$"},
        "currency": {"type": "string", "minLength": 1},
    },
    "required": ["amount", "currency"],
}


def test_impact_picks_each_inputs_version_by_its_date_and_totals_money(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    for version, start, amount in (("1.0.0", "2020-01-01", "250 EUR"), ("2.0.0", "2026-01-01", "300 EUR")):
        path = write_policy(
            root,
            "air/eu",
            version,
            f"output {{v: input.n, pay: {amount}}}\n",
            f'effective from {start} in "UTC"',
        )
        (path.parent / "input.schema.json").write_text(
            json.dumps(
                {
                    "type": "object",
                    "properties": {"n": {"type": "integer"}, "flown": {"type": "string", "format": "date"}},
                    "required": ["n", "flown"],
                }
            )
        )
        (path.parent / "output.schema.json").write_text(
            json.dumps(
                {
                    "type": "object",
                    "$defs": {"money": MONEY_DEF},
                    "properties": {"v": {"type": "integer"}, "pay": {"$ref": "#/$defs/money"}},
                    "required": ["v", "pay"],
                }
            )
        )
    claims = tmp_path / "claims.jsonl"
    claims.write_text(
        '{"n": 1, "flown": "2025-06-01"}\n{"n": 2, "flown": "2026-02-01"}\n'
        '{"n": 3, "flown": "2026-03-01"}\n{"n": 4}\n'
    )
    r = run(
        "impact", "air/eu", "--from", "1.0.0", "--at-field", "/flown",
        "--inputs", str(claims), "--policies", str(root), "--format", "json",
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["picked"] == {"1.0.0": 1, "2.0.0": 2}
    assert report["undated"] == ["claims.jsonl:4: no field at /flown"]
    assert report["changed"] == 2 and report["unchanged"] == 1
    assert report["totals"] == {"pay": {"EUR": {"old": "750.00", "new": "850.00", "change": "100.00"}}}
    r = run("impact", "air/eu", "--from", "1.0.0", "--to", "2.0.0", "--inputs", str(claims), "--policies", str(root))
    assert "total pay EUR: 750.00 -> 900.00 (+150.00)" in r.output, r.output
    r = run("impact", "air/eu", "--from", "1.0.0", "--inputs", str(claims), "--policies", str(root))
    assert r.exit_code == 2 and "give either --to VERSION or --at-field POINTER" in r.output


def test_a_table_gap_that_a_call_causes_is_reported_at_the_call(tmp_path: Path) -> None:
    path = write_policy(
        tmp_path,
        "air/comp",
        "1.0.0",
        'import "../../shared/bands.cw" as bands\n\noutput {v: bands.band(input.zone) ?? 0}\n',
    )
    schema = {
        "type": "object",
        "properties": {"zone": {"type": "string", "enum": ["eu", "uk", "us"]}},
        "required": ["zone"],
    }
    (path.parent / "input.schema.json").write_text(json.dumps(schema))
    (tmp_path / "shared").mkdir()
    module = tmp_path / "shared" / "bands.cw"
    module.write_text('module "shared/bands"\n\ntable band(zone) {\n  | "eu" => 1\n  | "uk" => 2\n}\n')
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 1
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert d["code"] == "table-gap"
    assert d["file"] == str(path) and (d["line"], d["col"]) == (8, 12), d
    assert "when called with zone:" in d["message"]
    assert f"(the table is at {module}:3:1)" in d["message"]


@pytest.mark.parametrize(
    ("definition", "code", "says"),
    [
        ("let d = weeks(3)", "unknown-function", "`3 weeks`"),
        ("let d = years(2)", "unknown-function", "write `2 years`, or `n * 1 year`"),
        ("let d = seconds(input.n)", "unknown-function", "or `n * 1 second` for a count `n`"),
    ],
)
def test_a_duration_written_another_way_gets_a_hint(tmp_path: Path, definition: str, code: str, says: str) -> None:
    write_policy(tmp_path, "air/comp", "1.0.0", f"{definition}\noutput {{v: input.n}}\n")
    r = run("check", str(tmp_path), "--format", "json")
    (d,) = [d for d in json.loads(r.output)["diagnostics"] if d["severity"] == "error"]
    assert d["code"] == code
    assert says in d["message"] + (d["help"] or "")


def test_a_constant_in_zone_in_a_gap_is_read_by_the_rule_and_check_says_so(tmp_path: Path) -> None:
    body = (
        'let gap = in_zone(2024-03-10T02:30, "America/New_York")\n'
        'let twice = in_zone(2024-11-03T01:30, "America/New_York")\n'
        "output {v: if gap == 2024-03-10T07:30:00Z and twice == 2024-11-03T05:30:00Z then 1 else 0}\n"
    )
    write_policy(tmp_path, "air/comp", "1.0.0", body)
    r = run("check", str(tmp_path), "--format", "json")
    assert r.exit_code == 0, r.output
    found = [(d["line"], d["code"]) for d in json.loads(r.output)["diagnostics"] if d["severity"] == "warning"]
    assert found == [(6, "ambiguous-local-time"), (7, "ambiguous-local-time")]
    assert Engine.from_directory(tmp_path).evaluate("air/comp", {"n": 1}).output == {"v": 1}
