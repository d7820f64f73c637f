"""A policy written with `with`, `implies`, list `+`, `days(a .. b)`, `unique`, `pairs`, instant
differences, integer conversion and trigonometry, driven through the command line as an author
would: check, eval, explain, fmt, diff and verify."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from clausewise import Engine
from clausewise.cli import main

POLICY = """policy "travel/stay-credit"
version "1.0.0"
input schema "input.schema.json"
output schema "output.schema.json"

require unique_booking_ids: unique(b.id for b in input.bookings) at input.bookings "Booking ids repeat."

let earth_radius_km = 6371

let half_chord(a, b) = with s = sin(radians(b - a) / 2): s * s

let distance_km =
  with h = half_chord(input.home.lat, input.hotel.lat)
    + cos(radians(input.home.lat)) * cos(radians(input.hotel.lat)) * half_chord(input.home.lon, input.hotel.lon):
    2 * earth_radius_km * asin(sqrt(h))

let stays = pairs(b for b in input.bookings + input.extra order by b.check_in)

let back_to_back = count(p for p in stays where p.item.check_out == p.next.check_in)

let weekend_nights = count(d for d in days(input.period.start .. input.period.end) where weekday(d) in ["saturday", "sunday"])

let late_hours = with arrival = input.arrived - input.expected: if arrival > 0 hours then ceil(hours_between(input.expected, input.arrived)) else 0

rule far_away "The hotel is more than 1000 km from home." when distance_km > 1000

invariant long_trips_far "A credit is only given far from home": output.credit > 0 implies output.far

output {
  far: far_away,
  km: round(distance_km),
  back_to_back: back_to_back,
  weekend_nights: weekend_nights,
  late_hours: late_hours,
  credit: if far_away then back_to_back + weekend_nights else 0,
}
"""

BOOKING = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "check_in": {"type": "string", "format": "date"},
        "check_out": {"type": "string", "format": "date"},
    },
    "required": ["id", "check_in", "check_out"],
}
POINT = {
    "type": "object",
    "properties": {
        "lat": {"type": "string", "format": "decimal"},
        "lon": {"type": "string", "format": "decimal"},
    },
    "required": ["lat", "lon"],
}
INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "bookings": {"type": "array", "items": BOOKING},
        "extra": {"type": "array", "items": BOOKING},
        "home": POINT,
        "hotel": POINT,
        "period": {
            "type": "object",
            "properties": {
                "start": {"type": "string", "format": "date"},
                "end": {"type": "string", "format": "date"},
            },
            "required": ["start", "end"],
        },
        "expected": {"type": "string", "format": "date-time"},
        "arrived": {"type": "string", "format": "date-time"},
    },
    "required": ["bookings", "extra", "home", "hotel", "period", "expected", "arrived"],
}

INPUT: dict[str, Any] = {
    "bookings": [
        {"id": "b2", "check_in": "2026-03-04", "check_out": "2026-03-06"},
        {"id": "b1", "check_in": "2026-03-01", "check_out": "2026-03-04"},
    ],
    "extra": [{"id": "b3", "check_in": "2026-03-06", "check_out": "2026-03-08"}],
    "home": {"lat": "49.0097", "lon": "2.5479"},
    "hotel": {"lat": "35.5494", "lon": "139.7798"},
    "period": {"start": "2026-03-01", "end": "2026-03-08"},
    "expected": "2026-03-01T15:00:00Z",
    "arrived": "2026-03-01T17:10:00+00:00",
}
EXPECTED = {
    "far": True,
    "km": 9707,
    "back_to_back": 2,
    "weekend_nights": 3,
    "late_hours": 3,
    "credit": 5,
}


def cli(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def on_input(command: str, root: Path) -> Result:
    """`clausewise COMMAND travel/stay-credit` on the input file of the folder `root`."""
    policies, data = str(root / "policies"), str(root / "input.json")
    return cli(command, "travel/stay-credit", "--policies", policies, "--input", data)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "policies" / "travel" / "stay-credit"
    folder.mkdir(parents=True)
    (folder / "1.0.0.cw").write_text(POLICY)
    (folder / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (folder / "output.schema.json").write_text("{}")
    (tmp_path / "input.json").write_text(json.dumps(INPUT))
    return tmp_path


def test_check_and_eval_from_the_command_line(root: Path) -> None:
    checked = cli("check", str(root / "policies"))
    assert checked.exit_code == 0, checked.output
    result = on_input("eval", root)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output"] == EXPECTED


def test_the_embedding_api_gives_the_same_decision_at_every_trace_level(root: Path) -> None:
    engine = Engine.from_directory(root / "policies")
    for trace in ("off", "rules", "full"):
        assert engine.evaluate("travel/stay-credit", INPUT, trace=trace).output == EXPECTED


def test_a_repeated_id_is_rejected_at_the_list(root: Path) -> None:
    data = json.loads(json.dumps(INPUT))
    data["extra"][0]["id"] = "b1"
    data["bookings"][0]["id"] = "b1"
    (root / "input.json").write_text(json.dumps(data))
    result = on_input("eval", root)
    assert result.exit_code == 3, result.output
    assert "unique_booking_ids" in result.output
    assert "/bookings" in result.output


def test_explain_shows_the_rule_and_its_values(root: Path) -> None:
    result = on_input("explain", root)
    assert result.exit_code == 0, result.output
    assert "far_away" in result.output
    assert "The hotel is more than 1000 km from home." in result.output


def test_fmt_keeps_the_meaning_and_is_stable(root: Path) -> None:
    path = root / "policies" / "travel" / "stay-credit" / "1.0.0.cw"
    first = cli("fmt", str(path))
    assert first.exit_code == 0, first.output
    formatted = path.read_text()
    assert "implies output.far" in formatted
    assert "with s = sin(radians(b - a) / 2): s * s" in formatted
    assert cli("fmt", "--check", str(path)).exit_code == 0
    engine = Engine.from_directory(root / "policies")
    assert engine.evaluate("travel/stay-credit", INPUT).output == EXPECTED


def test_diff_prints_the_new_constructs(root: Path) -> None:
    folder = root / "policies" / "travel" / "stay-credit"
    newer = POLICY.replace('version "1.0.0"', 'version "1.1.0"').replace(
        "output.credit > 0 implies output.far", "output.credit > 1 implies output.far"
    )
    newer = newer.replace(
        "with s = sin(radians(b - a) / 2): s * s", "with s = sin(radians(b - a) / 2): s * s * 1"
    )
    (folder / "1.1.0.cw").write_text(newer)
    result = cli("diff", str(folder / "1.0.0.cw"), str(folder / "1.1.0.cw"))
    assert result.exit_code == 0, result.output
    assert "invariant long_trips_far: output.credit > 0 -> > 1" in result.output
    assert "with s = sin(radians(b - a) / 2): s * s * 1" in result.output


def test_verify_finds_a_false_invariant_written_with_implies(root: Path) -> None:
    folder = root / "policies" / "travel" / "stay-credit"
    path = folder / "1.0.0.cw"
    path.write_text(
        path.read_text().replace(
            "output.credit > 0 implies output.far", "output.far implies output.credit > 0"
        )
    )
    result = cli("verify", str(root / "policies"), "--seed", "1", "--max-examples", "300")
    assert result.exit_code == 1, result.output
    assert "long_trips_far" in result.output
