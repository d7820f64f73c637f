"""How decision inputs are read: decimal strings, datetimes with offsets, dates kept in records,
and the explanation of a traced decision built when first asked for (through the embedding API
and the command line)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clausewise import Engine, InputError
from tests.policy_support import run_cli, write_policy

# the decimal strings the input takes (docs/schemas.md): digits with an optional fraction
DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?")
MAX_CHARS = 100
DATETIME_TEXT = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})"
)

DECIMAL = {"type": "string", "format": "decimal"}
SIGNED = {"type": "string", "format": "decimal", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"}
NUMBERS = {
    "type": "object",
    "properties": {
        "d": DECIMAL,
        "s": SIGNED,
        "m": {
            "type": "object",
            "format": "money",
            "properties": {"amount": DECIMAL, "currency": {"type": "string"}},
            "required": ["amount", "currency"],
        },
        "ds": {"type": "array", "items": DECIMAL},
        "t": {"type": "string", "format": "date-time"},
        "u": {"type": "string", "format": "date-time"},
    },
}
NUMBERS_BODY = """
output {d: input.d, s: input.s, m: input.m, ds: input.ds, t: input.t,
  before: if input.t is not null and input.u is not null then input.t < input.u else null}
"""


@pytest.fixture(scope="module")
def numbers(tmp_path_factory: pytest.TempPathFactory) -> Engine:
    root = write_policy(tmp_path_factory.mktemp("numbers"), NUMBERS_BODY, NUMBERS)
    return Engine.from_directory(root)


def decide(engine: Engine, data: dict[str, Any]) -> dict[str, Any] | InputError:
    try:
        return engine.evaluate("t/p", data).output
    except InputError as e:
        return e


def expected_decimal(text: str, signed: bool) -> tuple[str, str] | Decimal:
    """What the input makes of `text`: its value, or the error's code and path."""
    body = text[1:] if signed and text[:1] == "-" else text
    if len(body) <= MAX_CHARS and DECIMAL_TEXT.fullmatch(body) and body.isascii():
        return Decimal(text)
    return ("number_too_long" if len(text) > MAX_CHARS else "invalid_format", "")


def check_decimal(engine: Engine, text: str) -> None:
    for field, signed in (("d", False), ("s", True)):
        got = decide(engine, {field: text})
        want = expected_decimal(text, signed)
        if isinstance(want, Decimal):
            assert not isinstance(got, InputError), (text, got)
            assert Decimal(got[field]) == want, text
        else:
            assert isinstance(got, InputError), (text, got)
            assert (got.code, got.path) == (want[0], "/" + field), (text, got)
            assert repr(text)[:40] in str(got) or got.code == "number_too_long", got
    # the same string as a money amount and as an item of a list: the same verdict
    in_money = decide(engine, {"m": {"amount": text, "currency": "EUR"}})
    in_list = decide(engine, {"ds": ["1", text]})
    if isinstance(expected_decimal(text, False), Decimal):
        assert not isinstance(in_money, InputError) and not isinstance(in_list, InputError)
    else:
        assert isinstance(in_money, InputError) and in_money.path == "/m/amount"
        assert isinstance(in_list, InputError) and in_list.path == "/ds/1"


@pytest.mark.parametrize(
    "text",
    [
        "0", "007", "00.50", "1.0", "12345678901234567890.123456789", "1" * 100,
        "1." + "0" * 98, "1" * 101, "1." + "0" * 99, "9" * 5000,  # huge digit counts
        "1e5", "1E-5", "1.5e3", "-1", "-0", "+1", "-1.5", "--1", "-",  # exponents and signs
        "1_000", "1.", ".5", "", ".", "1..2", "1.2.3",
        " 1", "1 ", "\t1", "1\n", "1\u00a0",  # whitespace
        "\u0661\u0662", "\uff11\uff12", "\u00b2", "1\u0663", "\U0001d7d7",  # non-ASCII digits
        "NaN", "Infinity", "-Infinity", "sNaN", "inf",
    ],
)  # fmt: skip
def test_decimal_strings_accepted_and_rejected(numbers: Engine, text: str) -> None:
    check_decimal(numbers, text)


@given(st.text(alphabet="0123456789.-+eE_ \u0663", max_size=12))
def test_any_decimal_string_is_read_as_the_pattern_says(text: str) -> None:
    engine = _numbers_engine()
    check_decimal(engine, text)


_ENGINES: dict[str, Engine] = {}


def _numbers_engine() -> Engine:
    """The numbers policy for property tests (hypothesis does not take function fixtures)."""
    if "numbers" not in _ENGINES:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="cw-numbers-"))
        _ENGINES["numbers"] = Engine.from_directory(write_policy(root, NUMBERS_BODY, NUMBERS))
    return _ENGINES["numbers"]


def utc_text(text: str) -> str:
    t = dt.datetime.fromisoformat(text).astimezone(dt.UTC)
    return t.replace(tzinfo=None).isoformat() + "Z"


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-29T23:30:00+05:30",  # a leap day, the same day in UTC
        "2024-02-29T22:00:00-03:00",  # a leap day, the next day in UTC
        "2024-03-01T01:00:00+02:00",  # back onto the leap day in UTC
        "2024-03-10T02:30:00-05:00",  # a wall time New York skips, with its offset
        "2024-11-03T01:30:00-04:00",  # the hour New York repeats: both instants
        "2024-11-03T01:30:00-05:00",
        "2024-03-31T02:30:00+02:00",  # Europe's spring gap, with an offset
        "2022-10-05T16:30Z",
        "2022-10-05T16:30:00.5+14:00",
        "2022-10-05T16:30:00.123456-12:00",
        "2022-10-05T16:30:00+23:59",
        "2022-10-05T16:30:00-00:00",
        "0001-01-01T01:00:00+01:00",  # the first instant there is
        "9999-12-31T22:59:59-01:00",
    ],
)
def test_datetimes_with_offsets_are_the_same_instant_in_utc(numbers: Engine, text: str) -> None:
    out = decide(numbers, {"t": text, "u": "2024-03-01T00:00:00Z"})
    assert not isinstance(out, InputError), out
    assert out["t"] == utc_text(text)
    instant = dt.datetime.fromisoformat(text)
    assert out["before"] == (instant < dt.datetime(2024, 3, 1, tzinfo=dt.UTC))


@pytest.mark.parametrize(
    "text",
    [
        "2023-02-29T10:00:00Z",  # no leap day that year
        "2022-10-05T16:30:00+24:00",  # an offset of a day
        "2022-10-05T16:30:00+05:60",  # offset minutes past 59 (`fromisoformat` reads +06:00)
        "2022-10-05T16:30:00+05:99",
        "2022-10-05T16:30:00-00:60",
        "2022-10-05T16:30:00+30:00",
        "2022-10-05T16:30:00+05:30:15",  # an offset with seconds
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:30:00-01:00",  # after 9999 in UTC
        "2022-10-05T16:30:60Z",
        "2022-10-05T24:00:00Z",
        "2022-10-05T16:30:00",  # no offset
        "2022-10-05 16:30:00Z",
        "2022-10-05T16:30:00+0800",
        "2022-10-05T16:30:00.1234567Z",
        "2022-10-05T16:30:00z",
        "\u0662022-10-05T16:30:00Z",
    ],
)
def test_datetimes_that_are_not_instants_are_rejected(numbers: Engine, text: str) -> None:
    out = decide(numbers, {"t": text})
    assert isinstance(out, InputError), out
    assert (out.code, out.path) == ("invalid_format", "/t")


@given(
    st.datetimes(
        min_value=dt.datetime(1, 1, 2),
        max_value=dt.datetime(9999, 12, 30),
        timezones=st.builds(
            dt.timezone,
            st.integers(-(24 * 60) + 1, 24 * 60 - 1).map(lambda m: dt.timedelta(minutes=m)),
        ),
    )
)
def test_any_datetime_with_an_offset_is_its_instant(t: dt.datetime) -> None:
    text = t.isoformat()
    if DATETIME_TEXT.fullmatch(text) is None:  # an offset with seconds: not RFC 3339
        return
    out = decide(_numbers_engine(), {"t": text, "u": text})
    assert not isinstance(out, InputError), (text, out)
    assert out["t"] == utc_text(text) and out["before"] is False


# ---- dates in records -------------------------------------------------------------------------

STAYS = {
    "type": "object",
    "properties": {
        "as_of": {"type": "string", "format": "date"},
        "stays": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "from": {"type": "string", "format": "date"},
                    "to": {"type": ["string", "null"], "format": "date"},
                },
                "required": ["id", "from", "to"],
            },
        },
    },
    "required": ["as_of", "stays"],
}
STAYS_OUT = {
    "type": "object",
    "properties": {
        "open": {"type": "array", "items": STAYS["properties"]["stays"]["items"]},  # type: ignore[index]
        "nights": {"type": "integer"},
        "first": {"type": ["string", "null"], "format": "date"},
        "same": {"type": "integer"},
    },
}
BODIES = {
    # records only read and passed on
    "read": """
let open = [s for s in input.stays where s.to is null or s.to >= input.as_of]
output {open: open, nights: sum(days_between(s.from, s.to) for s in input.stays where s.to is not null),
  first: first(s.from for s in input.stays order by s.from), same: 0}
""",
    # a record of the input compared with one the policy builds
    "compare": """
let open = [s for s in input.stays where s.to is null or s.to >= input.as_of]
output {open: open, nights: 0, first: first(s.from for s in input.stays order by s.from),
  same: count(s for s in input.stays where s == {id: s.id, from: input.as_of, to: null})}
""",
    # records of the input and built ones, told apart by value
    "distinct": """
let open = [s for s in input.stays where s.to is null or s.to >= input.as_of]
let kinds = distinct(s for s in input.stays + [{id: "x", from: input.as_of, to: null}])
output {open: open, nights: 0, first: first(s.from for s in input.stays order by s.from),
  same: count(kinds)}
""",
}


def stays_expected(name: str, data: dict[str, Any]) -> dict[str, Any]:
    as_of = dt.date.fromisoformat(data["as_of"])
    stays = data["stays"]

    def day(text: str) -> dt.date:
        return dt.date.fromisoformat(text)

    opened = [s for s in stays if s["to"] is None or day(s["to"]) >= as_of]
    nights = sum((day(s["to"]) - day(s["from"])).days for s in stays if s["to"] is not None)
    first = min((day(s["from"]) for s in stays), default=None)
    if name == "compare":
        same = sum(1 for s in stays if day(s["from"]) == as_of and s["to"] is None)
        nights = 0
    elif name == "distinct":
        keys = {(s["id"], day(s["from"]), s["to"] and day(s["to"])) for s in stays}
        same = len(keys | {("x", as_of, None)})
        nights = 0
    else:
        same = 0
    return {
        "open": opened,
        "nights": nights,
        "first": first.isoformat() if first else None,
        "same": same,
    }


day_text = st.dates(dt.date(2024, 1, 1), dt.date(2024, 3, 31)).map(dt.date.isoformat)
stays_inputs = st.fixed_dictionaries(
    {
        "as_of": day_text,
        "stays": st.lists(
            st.fixed_dictionaries(
                {
                    "id": st.sampled_from(["a", "b", "x"]),
                    "from": day_text,
                    "to": st.none() | day_text,
                }
            ),
            max_size=6,
        ),
    }
)


def _stays_engine() -> Engine:
    if "stays" not in _ENGINES:
        import tempfile

        root = Path(tempfile.mkdtemp(prefix="cw-stays-"))
        for name, body in BODIES.items():
            folder = root / "t" / name
            folder.mkdir(parents=True)
            (folder / "input.schema.json").write_text(json.dumps(STAYS))
            (folder / "output.schema.json").write_text(json.dumps(STAYS_OUT))
            header = f'policy "t/{name}"\nversion "1.0.0"\n'
            header += 'input schema "input.schema.json"\noutput schema "output.schema.json"\n'
            (folder / "1.0.0.cw").write_text(header + body)
        _ENGINES["stays"] = Engine.from_directory(root)
    return _ENGINES["stays"]


@given(stays_inputs)
def test_dates_in_records_read_written_and_compared(data: dict[str, Any]) -> None:
    engine = _stays_engine()
    sent = copy.deepcopy(data)
    for name in BODIES:
        for trace in ("off", "full"):
            decision = engine.evaluate(f"t/{name}", data, trace=trace)
            assert decision.output == stays_expected(name, data), (name, trace)
            assert data == sent  # the input is never changed
            # the output is the decision's own: changing it changes nothing else
            for record in decision.output["open"]:
                record["id"] = "changed"
            assert data == sent


@given(stays_inputs, st.lists(st.booleans(), max_size=6))
def test_records_with_more_fields_than_the_schema_names_are_read_alike(
    data: dict[str, Any], more: list[bool]
) -> None:
    # a list of records is the input's own until a record has a field the schema does not
    # name; from there on it is a list of records of the schema's fields
    # (and the output's records have the schema's fields alone)
    plain = copy.deepcopy(data)
    for stay, extra in zip(data["stays"], more, strict=False):
        if extra:
            stay["note"] = "a field the schema does not name"
    engine = _stays_engine()
    sent = copy.deepcopy(data)
    for name in BODIES:
        for trace in ("off", "full"):
            decision = engine.evaluate(f"t/{name}", data, trace=trace)
            assert decision.output == stays_expected(name, plain), (name, trace)
            assert data == sent


def test_a_bad_date_in_a_record_is_reported_at_its_place() -> None:
    engine = _stays_engine()
    good = {"id": "a", "from": "2024-01-01", "to": None}
    for bad, code in (
        ("2024-02-30", "invalid_format"),
        ("2024-1-01", "invalid_format"),
        ("\u0662024-01-01", "invalid_format"),
        (20240101, "wrong_type"),
        (None, "null_not_allowed"),
    ):
        for field in ("from", "to"):
            if field == "to" and bad is None:
                continue
            data = {"as_of": "2024-01-01", "stays": [good, {**good, field: bad}]}
            with pytest.raises(InputError) as caught:
                engine.evaluate("t/read", data)
            assert (caught.value.code, caught.value.path) == (code, f"/stays/1/{field}")


# ---- the explanation of a traced decision --------------------------------------------------


HEALTH = "health/amazon-seller-account-health"
ROOT = Path(__file__).resolve().parent.parent


def test_an_explanation_built_later_is_the_one_built_at_once(tmp_path: Path) -> None:
    from tests.generators.seller_portfolio_inputs import generate_orders

    engine = Engine.from_directory(ROOT / "policies")
    data = generate_orders(60, 3)
    first = engine.evaluate(HEALTH, data, trace="full")
    at_once = engine.evaluate(HEALTH, data, trace="full")
    text, trace = at_once.explain(), at_once.trace
    reader = at_once.explain(audience="reader")
    # other decisions in between, then the first one is explained
    for seed in range(3):
        engine.evaluate(HEALTH, generate_orders(20, seed), trace="full")
    assert first.explain() == text
    assert first.trace == trace
    assert first.explain(audience="reader") == reader
    assert first.rule_outcomes() == at_once.rule_outcomes()
    # and the command line, in a process of its own, prints the same trace
    (tmp_path / "in.json").write_text(json.dumps(data))
    done = run_cli("eval", HEALTH, "--input", str(tmp_path / "in.json"), "--trace", "full")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["trace"] == trace


def test_a_reason_showing_a_record_of_the_input_shows_its_dates(tmp_path: Path) -> None:
    body = """
rule has_stays "The first stay is {first(s for s in input.stays)} on {input.as_of}."
  when count(input.stays) > 0
output {why: reasons(has_stays)}
"""
    engine = Engine.from_directory(write_policy(tmp_path / "reasons", body, STAYS))
    data = {"as_of": "2024-01-05", "stays": [{"id": "a", "from": "2024-01-02", "to": None}]}
    want = 'The first stay is {id: "a", from: 2024-01-02, to: null} on 2024-01-05.'
    why = engine.evaluate("t/p", data).output["why"]
    assert [r["reason"] for r in why] == [want], why
