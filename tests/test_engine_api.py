"""The embedding API and the CLI, from a host app's and a policy author's side."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

import clausewise
from clausewise import Engine, InputError, PolicyError
from clausewise.cli import main

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench" / "policies"
W1 = "bench/w1-health-thresholds"
W2 = "bench/w2-promotion-credit"

W2_INPUT = {
    "marketplace": "FR",
    "launches": [
        {"ad_product": "sp", "launched_at": "2022-10-01T00:00:00Z", "active_days": 31, "first_time": True},
        {"ad_product": "sb", "launched_at": "2023-01-01T08:00:00Z", "active_days": 29, "first_time": True},
    ],
}


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_directory(BENCH)


def test_evaluate_returns_a_json_ready_decision(engine: Engine) -> None:
    d = engine.evaluate(W2, W2_INPUT)
    assert d.output == {"eligible": True, "total_credit": "400.00"}
    assert (d.policy_id, d.version) == (W2, "1.0.0")
    assert d.trace is None
    assert d.input_digest.startswith("sha256:")
    json.dumps(d.output)  # plain JSON


def test_output_follows_the_output_schema(engine: Engine) -> None:
    schema = json.loads((BENCH / W2 / "output.schema.json").read_text())
    for inp in (W2_INPUT, {"marketplace": "BR", "launches": []}):
        jsonschema.validate(engine.evaluate(W2, inp).output, schema)


@pytest.mark.parametrize(
    ("mutate", "code", "path"),
    [
        (lambda d: d.pop("marketplace"), "missing_field", "/marketplace"),
        (lambda d: d["launches"][1].update(launched_at="2022-10-01T00:00:00"), "invalid_format", "/launches/1/launched_at"),
        (lambda d: d["launches"][0].update(active_days=-1), "out_of_range", "/launches/0/active_days"),
        (lambda d: d["launches"][0].update(active_days=3.5), "wrong_type", "/launches/0/active_days"),
        (lambda d: d["launches"][0].update(first_time=None), "null_not_allowed", "/launches/0/first_time"),
        (lambda d: d.update(launches="x"), "wrong_type", "/launches"),
    ],
)
def test_bad_input_raises_with_code_and_json_path(engine: Engine, mutate, code: str, path: str) -> None:
    data = json.loads(json.dumps(W2_INPUT))
    mutate(data)
    with pytest.raises(InputError) as err:
        engine.evaluate(W2, data)
    assert (err.value.code, err.value.path) == (code, path)
    assert err.value.message


def test_trace_levels(engine: Engine) -> None:
    off = engine.evaluate(W2, W2_INPUT, trace="off")
    rules = engine.evaluate(W2, W2_INPUT, trace="rules")
    full = engine.evaluate(W2, W2_INPUT, trace="full")
    assert off.output == rules.output == full.output
    kinds_rules = {e["type"] for e in rules.trace["events"]}
    kinds_full = {e["type"] for e in full.trace["events"]}
    assert kinds_rules == {"rule"}
    assert {"rule", "definition", "aggregate"} <= kinds_full
    qual = [e for e in full.trace["events"] if e["type"] == "rule" and e["rule"] == "qualifies"]
    assert [e["subject"] for e in qual] == ["launches[0]", "launches[1]"]
    assert qual[1]["fired"] is False
    assert qual[1]["clauses"] == ["A1", "A6"]
    detail = next(x for x in qual[1]["detail"] if "active_days" in x["expression"])
    assert detail["expression"] == "launches[1].active_days >= 30"
    assert (detail["left"], detail["right"], detail["result"]) == (29, 30, False)
    with pytest.raises(ValueError):
        engine.evaluate(W2, W2_INPUT, trace="verbose")


def test_explain_and_why_not(engine: Engine) -> None:
    d = engine.evaluate(W2, W2_INPUT, trace="full")
    text = d.explain()
    assert "✗ qualifies for launches[1] [A1, A6]: does not apply" in text
    assert "launches[1].active_days = 29 >= 30: false" in text
    why = d.explain(why_not="qualifies")
    assert "launches[1].active_days = 29 >= 30: false (off by 1)" in why
    assert "neither an output field nor a rule" in d.explain(why_not="nonsense")


def test_aggregates_summarise_instead_of_listing(engine: Engine) -> None:
    many = {"marketplace": "US", "launches": [dict(W2_INPUT["launches"][1]) for _ in range(500)]}
    d = engine.evaluate(W2, many, trace="full")
    assert len(json.dumps(d.trace)) < 60_000
    assert d.trace["omitted"]["qualifies"]["evaluations"] == 500


def test_engine_is_thread_safe(engine: Engine) -> None:
    expected = engine.evaluate(W1, {"odr": "0.02", "cancellation_rate": "0", "late_shipment_rate_10d": "0.05",
                                    "late_shipment_rate_30d": "0.01"}).output
    errors: list[object] = []

    def work() -> None:
        for _ in range(200):
            out = engine.evaluate(W1, {"odr": "0.02", "cancellation_rate": "0", "late_shipment_rate_10d": "0.05",
                                       "late_shipment_rate_30d": "0.01"}, trace="full").output
            if out != expected:
                errors.append(out)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert expected == {"violations": ["late_shipment_rate_10d", "odr"], "at_risk": True}


def test_public_names() -> None:
    for name in ("Engine", "Decision", "InputError", "PolicyError", "PolicySyntaxError"):
        assert hasattr(clausewise, name)


def _copy_bench(tmp_path: Path) -> Path:
    dst = tmp_path / "policies"
    shutil.copytree(BENCH, dst)
    return dst


def test_policy_with_a_typo_is_reported_with_location_and_did_you_mean(tmp_path: Path) -> None:
    root = _copy_bench(tmp_path)
    f = root / W1 / "1.0.0.cw"
    f.write_text(f.read_text().replace("input.odr >= 1%", "input.odrr >= 1%"))
    with pytest.raises(PolicyError) as err:
        Engine.from_directory(root)
    d = err.value.diagnostics[0]
    assert d.code == "unknown-field"
    assert d.span.text() == "input.odrr"
    assert d.help == "did you mean `odr`?"
    result = CliRunner().invoke(main, ["check", str(root)])
    assert result.exit_code == 1
    assert f"{f}:{d.span.line}:{d.span.col}: error[unknown-field]" in result.output
    assert "^^^^^^^^^^" in result.output


def test_cli_eval_json_and_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "in.json"
    good.write_text(json.dumps(W2_INPUT))
    r = CliRunner().invoke(main, ["eval", W2, "--policies", str(BENCH), "--input", str(good)])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output) == {"policy": W2, "version": "1.0.0", "output": {"eligible": True, "total_credit": "400.00"}}
    r = CliRunner().invoke(main, ["eval", W2, "--policies", str(BENCH), "--input", str(good), "--trace", "rules"])
    assert "trace" in json.loads(r.output)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"marketplace": "FR", "launches": [{"ad_product": "x"}]}))
    r = CliRunner().invoke(main, ["eval", W2, "--policies", str(BENCH), "--input", str(bad)])
    assert r.exit_code == 3
    assert json.loads(r.output) == {"error": {"code": "missing_field", "path": "/launches/0/launched_at",
                                              "message": "the field `launched_at` is required"}}
    r = CliRunner().invoke(main, ["eval", W2, "--policies", str(BENCH), "--input", "-"], input="{nope")
    assert r.exit_code == 3 and json.loads(r.output)["error"]["code"] == "invalid_json"
    r = CliRunner().invoke(main, ["eval", "bench/w3", "--policies", str(BENCH), "--input", str(good)])
    assert r.exit_code == 2 and "unknown policy" in r.output


def test_cli_explain_why_not(tmp_path: Path) -> None:
    good = tmp_path / "in.json"
    good.write_text(json.dumps(W2_INPUT))
    r = CliRunner().invoke(main, ["explain", W2, "--policies", str(BENCH), "--input", str(good), "--why-not", "qualifies"])
    assert r.exit_code == 0
    assert "launches[1].active_days = 29 >= 30: false" in r.output
