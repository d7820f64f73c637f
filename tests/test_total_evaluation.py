"""Evaluation is total: every operation yields a value or raises `EvaluationError` with a stable
code, never another exception; a shipped policy decides or rejects its input with `InputError`
at every calendar edge of every date and datetime field.

Seen from the user's side: the embedding API (`Engine`) and the `clausewise eval` command.
"""

from __future__ import annotations

import contextlib
import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clausewise import Engine, EvaluationError, InputError
from clausewise.engine import compiler as C
from clausewise.dsl.runtime import EVALUATION_ERRORS
from tests.policy_support import JsonishLoader, run_cli
from tests.policy_support import write_policy as write_test_policy

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "policies"
LEVELS = ("off", "rules", "full")


DATE = {"type": "string", "format": "date"}
DATETIME = {"type": "string", "format": "date-time"}
INT = {"type": "integer"}


def write_policy(
    root: Path, body: str, fields: dict[str, Any], out: dict[str, Any] | None = None
) -> Path:
    """A policy `t/p` under `root` whose input has `fields`, all required."""
    schema = {"type": "object", "properties": fields, "required": list(fields)}
    return write_test_policy(root, body, schema, output_schema=out)


def outcomes(root: Path, data: Any) -> list[Any]:
    """The output, or the error's (class, code), at each trace level."""
    engine = Engine.from_directory(root)
    found = []
    for level in LEVELS:
        try:
            found.append(engine.evaluate("t/p", data, trace=level).output)
        except (InputError, EvaluationError) as e:
            found.append((type(e).__name__, e.code))
    return found


def only(found: list[Any]) -> Any:
    """The one outcome every trace level gave."""
    assert all(f == found[0] for f in found), found
    return found[0]


# ---- the error codes --------------------------------------------------------------------


def test_every_evaluation_error_code_is_documented() -> None:
    text = (ROOT / "docs" / "errors.md").read_text()
    for code in EVALUATION_ERRORS:
        assert f"`{code}`" in text, code


# ---- each date function at each edge of the calendar -----------------------------------

# (body, fields, input, expected outcome): an output value, or (error class, code)
EDGE_CASES = [
    # months past 9999 or before year 1: off the calendar, later (earlier) than every date
    ("output { r: input.d + 1 month > 9999-12-31 }", {"d": DATE}, {"d": "9999-12-01"}, True),
    ("output { r: input.d - 1 month < 0001-01-01 }", {"d": DATE}, {"d": "0001-01-31"}, True),
    ("output { r: input.d + 1 month }", {"d": DATE}, {"d": "9999-11-30"}, "9999-12-30"),
    ("output { r: input.d - 1 month }", {"d": DATE}, {"d": "0001-02-28"}, "0001-01-28"),
    (
        "output { r: input.d + input.n * 1 month > 2020-01-01 }",
        {"d": DATE, "n": INT},
        {"d": "2020-01-01", "n": 10**30},
        True,
    ),
    # ... but it cannot be written out, nor be a weekday
    (
        "output { r: input.d + 1 month }",
        {"d": DATE},
        {"d": "9999-12-01"},
        ("InputError", "out_of_range"),
    ),
    (
        "output { r: weekday(input.d + 1 month) }",
        {"d": DATE},
        {"d": "9999-12-01"},
        ("EvaluationError", "date_out_of_range"),
    ),
    # durations past 999,999,999 days
    (
        "output { r: input.n * 1 day }",
        {"n": INT},
        {"n": 10**15},
        ("EvaluationError", "duration_out_of_range"),
    ),
    (
        "output { r: input.d + input.n * 1 day }",
        {"d": DATE, "n": INT},
        {"d": "2020-01-01", "n": -(10**15)},
        ("EvaluationError", "duration_out_of_range"),
    ),
    (
        "output { r: days(input.n) + days(input.n) }",
        {"n": INT},
        {"n": 10**12},
        ("EvaluationError", "duration_out_of_range"),
    ),
    (
        "output { r: -(days(input.n) + 1 hour) }",
        {"n": INT},
        {"n": 10**12},
        ("EvaluationError", "duration_out_of_range"),
    ),
    # window(...) reaching before year 1 holds every date up to its end
    (
        "output { r: 0001-01-01 in window(input.d, 30 days) }",
        {"d": DATE},
        {"d": "0001-01-10"},
        True,
    ),
    (
        "output { r: 0001-01-01 in window(input.d, days(input.n)) }",
        {"d": DATE, "n": INT},
        {"d": "9999-12-31", "n": 10**12},
        True,
    ),
    (
        "output { r: [0001-01-01 in window(input.d, 1 day), 0001-01-02 in window(input.d, 1 day)] }",
        {"d": DATE},
        {"d": "0001-01-01"},
        [True, False],
    ),
    (
        "output { r: 9999-12-31 in window(input.d, 1 day) }",
        {"d": DATE},
        {"d": "9999-12-31"},
        True,
    ),
    # local_date at the edges, in the zones furthest from UTC
    (
        'output { r: local_date(input.t, "Etc/GMT-14") > 9999-12-31 }',
        {"t": DATETIME},
        {"t": "9999-12-31T23:00:00Z"},
        True,
    ),
    (
        'output { r: local_date(input.t, "Etc/GMT+12") < 0001-01-01 }',
        {"t": DATETIME},
        {"t": "0001-01-01T01:00:00Z"},
        True,
    ),
    (
        'output { r: local_date(input.t, "Etc/GMT-14") }',
        {"t": DATETIME},
        {"t": "0001-01-01T00:00:00Z"},
        "0001-01-01",
    ),
    (
        'output { r: days_between(local_date(input.t, "Etc/GMT-14"), 9999-12-31) }',
        {"t": DATETIME},
        {"t": "9999-12-31T23:00:00Z"},
        ("EvaluationError", "date_out_of_range"),
    ),
    # start_of_day at the edges
    (
        'output { r: start_of_day(input.d, "America/Los_Angeles") > 9999-12-31T00:00:00Z }',
        {"d": DATE},
        {"d": "9999-12-31"},
        True,
    ),
    (
        'output { r: start_of_day(input.d, "Asia/Tokyo") < 0001-01-02T00:00:00Z }',
        {"d": DATE},
        {"d": "0001-01-01"},
        True,
    ),
    (
        'output { r: start_of_day(input.d, "UTC") }',
        {"d": DATE},
        {"d": "0001-01-01"},
        "0001-01-01T00:00:00Z",
    ),
    (
        'output { r: start_of_day(input.d, "Asia/Tokyo") }',
        {"d": DATE},
        {"d": "0001-01-01"},
        ("InputError", "out_of_range"),
    ),
    # in_zone at the edges
    (
        'output { r: in_zone(9999-12-31T23:00, "America/Los_Angeles") > input.t }',
        {"t": DATETIME},
        {"t": "9999-12-31T23:59:59Z"},
        True,
    ),
    (
        'output { r: in_zone(0001-01-01T01:00, "Asia/Tokyo") < input.t }',
        {"t": DATETIME},
        {"t": "0001-01-01T00:00:00Z"},
        True,
    ),
    # utc_date, start_of_month, end_of_month, first_weekday, weekday, days_between
    (
        "output { r: utc_date(input.t) }",
        {"t": DATETIME},
        {"t": "9999-12-31T23:59:59Z"},
        "9999-12-31",
    ),
    (
        "output { r: utc_date(input.t) }",
        {"t": DATETIME},
        {"t": "0001-01-01T00:00:00Z"},
        "0001-01-01",
    ),
    ("output { r: start_of_month(input.d) }", {"d": DATE}, {"d": "0001-01-01"}, "0001-01-01"),
    ("output { r: end_of_month(input.d) }", {"d": DATE}, {"d": "9999-12-31"}, "9999-12-31"),
    (
        "output { r: end_of_month(input.d + days(input.n)) > 9999-12-31 }",
        {"d": DATE, "n": INT},
        {"d": "9999-12-31", "n": 1},
        True,
    ),
    (
        "output { r: start_of_month(input.d - 1 day) < 0001-01-01 }",
        {"d": DATE},
        {"d": "0001-01-01"},
        True,
    ),
    (
        'output { r: first_weekday(input.d, "sunday") }',
        {"d": DATE},
        {"d": "9999-12-31"},
        "9999-12-05",
    ),
    (
        'output { r: first_weekday(input.d, "monday") }',
        {"d": DATE},
        {"d": "0001-01-01"},
        "0001-01-01",
    ),
    (
        'output { r: first_weekday(input.d + 1 day, "monday") > 9999-12-31 }',
        {"d": DATE},
        {"d": "9999-12-31"},
        True,
    ),
    ("output { r: weekday(input.d) }", {"d": DATE}, {"d": "9999-12-31"}, "friday"),
    ("output { r: weekday(input.d) }", {"d": DATE}, {"d": "0001-01-01"}, "monday"),
    (
        "output { r: weekday(input.d - 1 day) }",
        {"d": DATE},
        {"d": "0001-01-01"},
        ("EvaluationError", "date_out_of_range"),
    ),
    (
        "output { r: days_between(input.a, input.b) }",
        {"a": DATE, "b": DATE},
        {"a": "0001-01-01", "b": "9999-12-31"},
        3652058,
    ),
    (
        "output { r: days_between(input.a + days(input.n), input.a) }",
        {"a": DATE, "n": INT},
        {"a": "2020-01-01", "n": 10**15},
        ("EvaluationError", "date_out_of_range"),
    ),
    (
        "output { r: days_between(input.a, input.a - 1 day) }",
        {"a": DATE},
        {"a": "0001-01-01"},
        ("EvaluationError", "date_out_of_range"),
    ),
    # datetimes with offsets at the edges are input errors, not crashes
    (
        "output { r: input.t }",
        {"t": DATETIME},
        {"t": "0001-01-01T00:00:00+05:00"},
        ("InputError", "invalid_format"),
    ),
    (
        "output { r: input.t }",
        {"t": DATETIME},
        {"t": "9999-12-31T23:00:00-05:00"},
        ("InputError", "invalid_format"),
    ),
    (
        "output { r: input.t + 1 day > input.t }",
        {"t": DATETIME},
        {"t": "9999-12-31T12:00:00Z"},
        True,
    ),
    (
        "output { r: input.t - 1 second < input.t }",
        {"t": DATETIME},
        {"t": "0001-01-01T00:00:00Z"},
        True,
    ),
    # division by zero, and untyped input fields of the wrong type
    (
        "output { r: 1 / input.n }",
        {"n": INT},
        {"n": 0},
        ("EvaluationError", "division_by_zero"),
    ),
    ("output { r: input.x + 1 }", {"x": {}}, {"x": "a"}, ("EvaluationError", "type_mismatch")),
    ("output { r: input.x < 1 }", {"x": {}}, {"x": [1]}, ("EvaluationError", "type_mismatch")),
    ("output { r: input.x.y }", {"x": {}}, {"x": 3}, ("EvaluationError", "type_mismatch")),
    ("output { r: count(input.x) }", {"x": {}}, {"x": 3}, ("EvaluationError", "type_mismatch")),
    ("output { r: sum(input.x) }", {"x": {}}, {"x": ["a"]}, ("EvaluationError", "type_mismatch")),
    ("output { r: input.x + 1 }", {"x": {}}, {"x": 2}, 3),
    # integers past what JSON writers take
    (
        "output { r: " + " * ".join(["input.n"] * 50) + " }",
        {"n": INT},
        {"n": 10**99},
        ("EvaluationError", "number_out_of_range"),
    ),
    (
        "output { r: [" + " * ".join(["input.x"] * 50) + "] }",
        {"x": {}},
        {"x": 10**99},
        ("EvaluationError", "number_out_of_range"),
    ),
    (
        "output { r: input.n is not null and input.n > 0 USD }",
        {"n": {}},
        {"n": "a"},
        ("EvaluationError", "type_mismatch"),
    ),
    (
        "output { r: (0 USD / input.u).amount }",
        {"u": {}},
        {"u": 45},
        ("EvaluationError", "type_mismatch"),
    ),
    (
        "output { r: sum(c.amount for c in input.costs) }",
        {"costs": {"type": "array", "items": {"type": "object", "properties": {"amount": {}}}}},
        {"costs": [{"amount": None}]},
        ("EvaluationError", "type_mismatch"),
    ),
    (
        "output { r: (2022-09-12 + days(-input.n)) + 9 months < 0001-01-01 }",
        {"n": INT},
        {"n": 1099511627776},
        True,
    ),
]


@pytest.mark.parametrize(
    ("body", "fields", "data", "expected"), EDGE_CASES, ids=[c[0] for c in EDGE_CASES]
)
def test_each_date_operation_at_the_calendar_edges(
    tmp_path: Path, body: str, fields: dict[str, Any], data: Any, expected: Any
) -> None:
    root = write_policy(tmp_path, body, fields)
    got = only(outcomes(root, data))
    assert got == (expected if isinstance(expected, tuple) else {"r": expected})


def test_an_evaluation_error_names_the_policy_text(tmp_path: Path) -> None:
    root = write_policy(tmp_path, "let ratio = 10 / input.n\noutput { r: ratio }\n", {"n": INT})
    engine = Engine.from_directory(root)
    for level in LEVELS:
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate("t/p", {"n": 0}, trace=level)
        assert caught.value.code == "division_by_zero"
        assert caught.value.location.endswith("1.0.0.cw:5:1"), caught.value.location


# ---- the safety net ----------------------------------------------------------------------


def test_an_unforeseen_failure_is_an_internal_evaluation_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug of the engine (here: a library function that fails) is reported as
    `internal_error` with the location of the policy text, never as a Python exception."""

    def broken(d: Any) -> str:
        raise KeyError("a bug")

    monkeypatch.setitem(C.BASE_NS, "_fn_weekday", broken)
    root = write_policy(
        tmp_path,
        "let day = weekday(input.d)\noutput { r: day }\n",
        {"d": DATE},
    )
    engine = Engine.from_directory(root)
    for level in LEVELS:
        with pytest.raises(EvaluationError) as caught:
            engine.evaluate("t/p", {"d": "2022-10-20"}, trace=level)
        assert caught.value.code == "internal_error"
        assert "KeyError" in caught.value.message
        assert caught.value.location.endswith("1.0.0.cw:5:1"), caught.value.location


# ---- the CLI -------------------------------------------------------------------------------


def test_cli_prints_a_policy_failure_as_json_and_exits_4(tmp_path: Path) -> None:
    root = write_policy(tmp_path, "output { r: weekday(input.d - 1 day) }\n", {"d": DATE})
    done = run_cli(
        "eval", "t/p", "--policies", str(root), "--input", "-", stdin='{"d": "0001-01-01"}'
    )
    assert done.returncode == 4, done.stderr
    error = json.loads(done.stdout)["error"]
    assert error["code"] == "date_out_of_range"
    assert error["location"].endswith("1.0.0.cw:5:13")
    assert "Traceback" not in done.stderr
    text = run_cli(
        "eval",
        "t/p",
        "--policies",
        str(root),
        "--input",
        "-",
        "--format",
        "text",
        stdin='{"d": "0001-01-01"}',
    )
    assert text.returncode == 4
    assert "date_out_of_range" in text.stderr and "Traceback" not in text.stderr


# ---- the shipped policies at the calendar's edges ------------------------------------------

_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})")
EDGE_DATES = ("0001-01-01", "0001-01-02", "9999-12-30", "9999-12-31")
EDGE_DATETIMES = (
    "0001-01-01T00:00:00Z",
    "0001-01-01T12:00:00+14:00",
    "0001-01-02T00:00:00+14:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T00:00:00-12:00",
    "9999-12-30T12:00:00-11:00",
)


def _date_paths(x: Any, path: tuple[Any, ...] = ()) -> list[tuple[tuple[Any, ...], str]]:
    """Every date or datetime string in `x`, with its path and kind."""
    if isinstance(x, dict):
        return [p for k, v in x.items() for p in _date_paths(v, (*path, k))]
    if isinstance(x, list):
        return [p for i, v in enumerate(x) for p in _date_paths(v, (*path, i))]
    if isinstance(x, str) and _DATETIME_TEXT.fullmatch(x):
        return [(path, "datetime")]
    if isinstance(x, str) and _DATE_TEXT.fullmatch(x):
        return [(path, "date")]
    return []


def _with(data: Any, path: tuple[Any, ...], value: Any) -> Any:
    out = copy.deepcopy(data)
    at = out
    for k in path[:-1]:
        at = at[k]
    at[path[-1]] = value
    return out


def _shipped_inputs() -> list[tuple[str, Any]]:
    found = []
    for test_file in sorted(POLICIES.rglob("*.test.yaml")):
        doc = yaml.load(test_file.read_text(), Loader=JsonishLoader)
        cases = [c for c in doc["cases"] if isinstance(c.get("input"), dict)]
        # the first decided case and the one with the most dates: every field is present
        decided = [c for c in cases if "error" not in c]
        picks = {id(c): c for c in decided[:1]}
        richest = max(decided, key=lambda c: len(_date_paths(c["input"])))
        picks[id(richest)] = richest
        for case in picks.values():
            found.append((str(doc["policy"]), case["input"]))
    return found


SHIPPED = _shipped_inputs()


@pytest.mark.parametrize(("policy", "data"), SHIPPED, ids=[p for p, _ in SHIPPED])
def test_shipped_policies_decide_or_reject_at_every_calendar_edge(policy: str, data: Any) -> None:
    engine = _shipped_engine()
    paths = _date_paths(data)
    if not paths:
        pytest.skip(f"{policy} takes no dates")
    tried = 0
    for path, kind in paths:
        for edge in EDGE_DATES if kind == "date" else EDGE_DATETIMES:
            edited = _with(data, path, edge)
            for level in ("off", "full"):
                tried += 1
                try:
                    engine.evaluate(policy, edited, trace=level)
                except InputError:
                    pass
                except EvaluationError as e:  # pragma: no cover - the failure's report
                    pytest.fail(f"{policy} {path}={edge} ({level}): {e}")
    # and every date field at the same edge at once (as_of and the data it windows over)
    for edge_date, edge_dt in zip(EDGE_DATES, EDGE_DATETIMES, strict=False):
        edited = data
        for path, kind in paths:
            edited = _with(edited, path, edge_date if kind == "date" else edge_dt)
        with contextlib.suppress(InputError):
            engine.evaluate(policy, edited)
    assert tried > 0


_ENGINE: list[Engine] = []


def _shipped_engine() -> Engine:
    if not _ENGINE:
        _ENGINE.append(Engine.from_directory(POLICIES))
    return _ENGINE[0]


def test_account_health_at_the_first_days_of_the_calendar() -> None:
    """The account-health policy writes the start of each window it measures. From the first
    `as_of` whose windows all start on the calendar it decides; from 0001-01-01 its windows
    would start before year 1, which cannot be written: the input is rejected, through the API
    and the CLI alike, never with a Python exception."""
    engine = _shipped_engine()
    policy = "health/amazon-seller-account-health"
    late_enough = {"as_of": "0001-03-31", "orders": [], "return_requests": []}
    out = engine.evaluate(policy, late_enough).output
    assert out["metrics"]["order_defect_rate"]["window_start"] == "0001-01-01"
    for level in LEVELS:
        assert engine.evaluate(policy, late_enough, trace=level).output == out
    too_early = {"as_of": "0001-01-01", "orders": [], "return_requests": []}
    for level in LEVELS:
        with pytest.raises(InputError) as caught:
            engine.evaluate(policy, too_early, trace=level)
        assert caught.value.code == "out_of_range"
    for data, code in ((late_enough, 0), (too_early, 3)):
        done = run_cli(
            "eval", policy, "--policies", str(POLICIES), "--input", "-", stdin=json.dumps(data)
        )
        assert done.returncode == code, done.stderr
        assert "Traceback" not in done.stderr
        if code == 3:
            assert json.loads(done.stdout)["error"]["code"] == "out_of_range"
