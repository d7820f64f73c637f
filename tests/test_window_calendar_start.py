"""A window that reaches back past 0001-01-01 is off the calendar, never an OverflowError; the
policy cannot write its start, which is the policy's evaluation error at its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from clausewise import Engine, EvaluationError

POLICIES = Path(__file__).resolve().parents[1] / "policies"
HEALTH = "health/amazon-seller-account-health"


@pytest.mark.parametrize("as_of", ["0001-01-01", "0001-01-05", "0001-03-30"])
@pytest.mark.parametrize("trace", ["off", "rules"])
def test_windows_near_the_calendar_start_are_typed_evaluation_errors(
    as_of: str, trace: str
) -> None:
    engine = Engine.from_directory(POLICIES)
    with pytest.raises(EvaluationError) as e:
        engine.evaluate(HEALTH, {"as_of": as_of, "orders": [], "return_requests": []}, trace=trace)
    assert e.value.code == "date_out_of_range"
    assert "before 0001-01-01" in e.value.message
    assert "amazon-seller-account-health/1.0.0.cw:" in e.value.location


def test_a_window_well_inside_the_calendar_still_decides() -> None:
    engine = Engine.from_directory(POLICIES)
    d = engine.evaluate(HEALTH, {"as_of": "0002-06-01", "orders": [], "return_requests": []})
    assert isinstance(d.output, dict)
