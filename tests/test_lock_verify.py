"""`clausewise lock` (released versions are immutable) and `clausewise verify` (invariants
searched with inputs generated from the input schema), from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from clausewise.cli import main

INT = {"type": "integer", "minimum": 0}
OUT_X = {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}
REFUND_IN = {
    "type": "object",
    "properties": {"paid": INT, "refunded": INT},
    "required": ["paid", "refunded"],
}


def refund_policy(pid: str, version: str, x: str, extra: str = "") -> str:
    return f"""\
policy "{pid}"
version "{version}"
title "Refunds"
source "Refund terms R1-R2"
input schema "input.schema.json"
output schema "output.schema.json"
{extra}
output {{
  x: {x},
}}

invariant never_negative cites R1 "What is left after refunds is never negative":
  output.x >= 0
"""


# what is left can be negative: the invariant does not hold
BROKEN = "input.paid - input.refunded"
# a refund never takes more than was paid: the invariant holds
CAPPED = "if input.refunded <= input.paid then input.paid - input.refunded else 0"


def write_policy(
    root: Path,
    pid: str,
    version: str,
    text: str,
    input_schema: dict[str, Any] = REFUND_IN,
    output_schema: dict[str, Any] = OUT_X,
) -> Path:
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "input.schema.json").write_text(json.dumps(input_schema, indent=2))
    (folder / "output.schema.json").write_text(json.dumps(output_schema, indent=2))
    path = folder / f"{version}.cw"
    path.write_text(text)
    return path


def run(*args: str) -> Any:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def check_json(root: Path) -> tuple[int, list[dict[str, Any]]]:
    result = run("check", str(root), "--format", "json")
    return result.exit_code, json.loads(result.output)["diagnostics"]


def two_policies(tmp_path: Path) -> tuple[Path, Path, Path]:
    root = tmp_path / "policies"
    a = write_policy(root, "shop/refunds", "1.0.0", refund_policy("shop/refunds", "1.0.0", CAPPED))
    b = write_policy(root, "shop/credits", "1.0.0", refund_policy("shop/credits", "1.0.0", CAPPED))
    return root, a, b


# ---- lock ----


def test_lock_then_check_passes(tmp_path: Path) -> None:
    root, _, _ = two_policies(tmp_path)
    result = run("lock", str(root))
    assert result.exit_code == 0, result.output
    assert "locked shop/refunds 1.0.0" in result.output
    lock = json.loads((root / "clausewise.lock").read_text())
    entry = lock["policies"]["shop/refunds"]["1.0.0"]
    assert entry["path"] == "shop/refunds/1.0.0.cw"
    assert set(entry["files"]) == {
        "shop/refunds/1.0.0.cw",
        "shop/refunds/input.schema.json",
        "shop/refunds/output.schema.json",
    }
    assert entry["digest"].startswith("sha256:")
    assert run("check", str(root)).exit_code == 0

    # locking again changes nothing, byte for byte
    before = (root / "clausewise.lock").read_bytes()
    again = run("lock", str(root))
    assert again.exit_code == 0 and "up to date" in again.output
    assert (root / "clausewise.lock").read_bytes() == before


def test_editing_a_locked_version_fails_check_at_its_header(tmp_path: Path) -> None:
    root, a, _ = two_policies(tmp_path)
    assert run("lock", str(root)).exit_code == 0
    a.write_text(a.read_text().replace("input.paid - input.refunded", "input.paid"))

    code, diags = check_json(root)
    assert code == 1
    locked = [d for d in diags if d["code"] == "locked-version-changed"]
    assert len(locked) == 1, diags
    d = locked[0]
    assert Path(d["file"]).resolve() == a.resolve()
    assert d["line"] == 1 and d["severity"] == "error"
    assert d["message"] == (
        "shop/refunds 1.0.0 is locked but its content changed; released versions are immutable"
    )
    assert d["help"] == "bump the version (e.g. 1.0.1) and run `clausewise lock`"

    text = run("check", str(root)).output
    assert "locked-version-changed" in text and "shop/refunds/1.0.0.cw" in text


def test_changing_a_schema_of_a_locked_version_counts(tmp_path: Path) -> None:
    root, _, b = two_policies(tmp_path)
    assert run("lock", str(root)).exit_code == 0
    schema = b.parent / "input.schema.json"
    schema.write_text(schema.read_text().replace('"minimum": 0', '"minimum": 1'))
    code, diags = check_json(root)
    assert code == 1
    [d] = [d for d in diags if d["code"] == "locked-version-changed"]
    assert Path(d["file"]).resolve() == b.resolve()
    assert "shop/credits 1.0.0" in d["message"]


def test_new_unlocked_versions_are_fine(tmp_path: Path) -> None:
    root, _, _ = two_policies(tmp_path)
    assert run("lock", str(root)).exit_code == 0
    write_policy(root, "shop/refunds", "1.1.0", refund_policy("shop/refunds", "1.1.0", CAPPED))
    write_policy(root, "shop/fees", "1.0.0", refund_policy("shop/fees", "1.0.0", CAPPED))
    assert run("check", str(root)).exit_code == 0

    result = run("lock", str(root))
    assert result.exit_code == 0, result.output
    assert "locked shop/refunds 1.1.0" in result.output
    assert "locked shop/fees 1.0.0" in result.output
    assert "locked shop/refunds 1.0.0" not in result.output  # kept, not re-locked
    lock = json.loads((root / "clausewise.lock").read_text())
    assert sorted(lock["policies"]) == ["shop/credits", "shop/fees", "shop/refunds"]
    assert sorted(lock["policies"]["shop/refunds"]) == ["1.0.0", "1.1.0"]


def test_deleting_a_locked_version_is_an_error(tmp_path: Path) -> None:
    root, a, _ = two_policies(tmp_path)
    assert run("lock", str(root)).exit_code == 0
    a.unlink()
    code, diags = check_json(root)
    assert code == 1
    [d] = [d for d in diags if d["code"] == "locked-version-deleted"]
    assert "shop/refunds 1.0.0" in d["message"] and "shop/refunds/1.0.0.cw" in d["message"]
    assert Path(d["file"]).name == "clausewise.lock"


def test_lock_refuses_to_overwrite_a_changed_entry_unless_forced(tmp_path: Path) -> None:
    root, a, _ = two_policies(tmp_path)
    assert run("lock", str(root)).exit_code == 0
    before = (root / "clausewise.lock").read_text()
    a.write_text(a.read_text() + "\n# a later note\n")

    refused = run("lock", str(root))
    assert refused.exit_code == 1
    assert "shop/refunds 1.0.0 is locked but its content changed" in refused.output
    assert "shop/refunds/1.0.0.cw" in refused.output
    assert "--force" in refused.output
    assert (root / "clausewise.lock").read_text() == before

    forced = run("lock", str(root), "--force")
    assert forced.exit_code == 0, forced.output
    assert "re-locked shop/refunds 1.0.0" in forced.output
    assert run("check", str(root)).exit_code == 0


def test_lock_refuses_policies_that_do_not_check(tmp_path: Path) -> None:
    root, a, _ = two_policies(tmp_path)
    a.write_text(a.read_text().replace("input.paid", "input.payd", 1))
    result = run("lock", str(root))
    assert result.exit_code == 1
    assert "do not check" in result.output
    assert not (root / "clausewise.lock").exists()


# ---- verify ----


def test_verify_prints_a_shrunk_counterexample_for_a_broken_invariant(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    path = write_policy(
        root, "shop/refunds", "1.0.0", refund_policy("shop/refunds", "1.0.0", BROKEN)
    )
    result = run("verify", str(root), "--seed", "1", "--max-examples", "100")
    assert result.exit_code == 1, result.output
    out = result.output
    assert "FAIL  shop/refunds 1.0.0: invariant never_negative does not hold" in out
    assert 'invariant never_negative cites R1 "What is left after refunds is never negative"' in out
    assert f"at {path}:12:1" in out  # the invariant's location, and its text
    assert "     13 |   output.x >= 0" in out
    # the counterexample is shrunk to the smallest refund above the payment
    block = out.split("counterexample input:\n", 1)[1].split("  explanation:", 1)[0]
    assert json.loads(block) == {"paid": 0, "refunded": 1}
    # and explained
    explanation = out.split("  explanation:\n", 1)[1]
    assert "shop/refunds 1.0.0" in explanation and '"x": -1' in explanation
    assert re.search(r"\d+ input\(s\) tried", out)
    assert "rerun with `clausewise verify" in out and "--seed 1" in out


def test_verify_passes_when_the_invariants_hold(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    write_policy(root, "shop/refunds", "1.0.0", refund_policy("shop/refunds", "1.0.0", CAPPED))
    result = run("verify", str(root), "--seed", "2", "--max-examples", "50")
    assert result.exit_code == 0, result.output
    assert "ok    shop/refunds 1.0.0: 1 invariant(s) held (50 input(s) tried, 50 valid)" in (
        result.output
    )


def test_verify_is_deterministic_with_a_seed(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    write_policy(root, "shop/refunds", "1.0.0", refund_policy("shop/refunds", "1.0.0", BROKEN))
    first = run("verify", str(root), "--seed", "7", "--max-examples", "30").output
    second = run("verify", str(root), "--seed", "7", "--max-examples", "30").output
    assert first == second


def test_verify_skips_inputs_the_policy_rejects(tmp_path: Path) -> None:
    # the invariant holds only because a `require` turns away refunds above the payment
    rule = """
require refund_too_large:
  input.refunded <= input.paid
  at input.refunded "A refund cannot exceed the payment."
"""
    root = tmp_path / "policies"
    write_policy(
        root, "shop/refunds", "1.0.0", refund_policy("shop/refunds", "1.0.0", BROKEN, rule)
    )
    result = run("verify", str(root), "--seed", "3", "--max-examples", "40")
    assert result.exit_code == 0, result.output
    assert "rejected as bad input" in result.output


FORMATS_IN = {
    "type": "object",
    "properties": {
        "day": {"type": "string", "format": "date"},
        "at": {"type": "string", "format": "date-time"},
        "zone": {"type": "string", "format": "time-zone"},
        "rate": {
            "type": ["string", "integer"],
            "format": "rate",
            "pattern": "^\\d+(\\.\\d+)?$",
            "minimum": 0,
        },
        "fees": {"type": "array", "items": {"$ref": "#/$defs/money"}},
        "limit": {"anyOf": [{"$ref": "#/$defs/money"}, {"type": "null"}]},
        "until": {"type": ["string", "null"], "format": "date"},
    },
    "required": ["day", "at", "zone", "rate", "fees", "limit", "until"],
    "$defs": {
        "money": {
            "type": "object",
            "format": "money",
            "properties": {
                "amount": {
                    "type": ["string", "integer"],
                    "format": "decimal",
                    "pattern": "^\\d+(\\.\\d+)?$",
                    "minimum": 0,
                },
                "currency": {"type": "string", "minLength": 1},
            },
            "required": ["amount", "currency"],
        }
    },
}
FORMATS_OUT = {
    "type": "object",
    "properties": {"same_day": {"type": "boolean"}, "fees": {"type": "integer"}},
    "required": ["same_day", "fees"],
}
FORMATS = """\
policy "shop/formats"
version "1.0.0"
title "Formats"
source "F1"
input schema "input.schema.json"
output schema "output.schema.json"

let total = sum(f.amount for f in input.fees)

output {
  same_day: local_date(input.at, input.zone) == input.day,
  fees: count(input.fees) + (if input.limit is not null and total is not null and total > input.limit.amount then 1 else 0),
}

invariant fees_counted cites F1 "Fees are counted":
  output.fees >= 0 and (input.rate >= 0 or input.until is null)
"""


def test_verify_generates_inputs_the_engine_accepts(tmp_path: Path) -> None:
    # dates, datetimes with offsets, zones, decimals, rates and money in one currency: every
    # generated input is valid, none is turned away as bad input
    root = tmp_path / "policies"
    write_policy(root, "shop/formats", "1.0.0", FORMATS, FORMATS_IN, FORMATS_OUT)
    result = run("verify", str(root), "--seed", "5", "--max-examples", "60")
    assert result.exit_code == 0, result.output
    assert "(60 input(s) tried, 60 valid)" in result.output


def test_verify_without_invariants(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    text = refund_policy("shop/refunds", "1.0.0", CAPPED).split("invariant")[0]
    write_policy(root, "shop/refunds", "1.0.0", text)
    result = run("verify", str(root))
    assert result.exit_code == 0
    assert "no invariants" in result.output
