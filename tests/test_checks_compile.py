"""A policy that checks always compiles and loads: every literal or argument the compiler or the
loader cannot take is a check diagnostic at its span, never an exception.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from clausewise import Engine, EvaluationError, InputError, PolicyError, PolicySyntaxError
from clausewise.cli import main
from clausewise.dsl.check import check_policy
from clausewise.dsl.parser import parse
from clausewise.engine.compiler import compile_program
from tests.generators.policies import compiled_case, policy_cases
from tests.policy_support import POLICY_HEADER as HEADER
from tests.policy_support import write_policy

SCHEMA = {
    "type": "object",
    "properties": {
        "d": {"type": "string", "format": "date"},
        "t": {"type": "string", "format": "date-time"},
        "x": {"type": "string", "format": "decimal"},
        "n": {"type": "integer"},
    },
    "required": ["d", "t", "x", "n"],
}
BIG = "9" * 101

# (text after the header, the diagnostic code, the text its span underlines)
REFUSED = [
    (
        "table t(a: int) {\n  | 1 | 2 => 3\n  else => 4\n}\noutput { r: t(input.n) }",
        "table-arity",
        "| 1 | 2 => 3",
    ),
    (
        "table t(a: int, b: int) {\n  | 1 => 3\n  else => 4\n}\noutput { r: t(input.n, 1) }",
        "table-arity",
        "| 1 => 3",
    ),
    (
        'table t(a: int) unique {\n  | 1 | 2 | 3 => "x"\n  | 2 => "y"\n}\noutput { r: t(input.n) }',
        "table-arity",
        '| 1 | 2 | 3 => "x"',
    ),
    (
        'table band(rate: decimal) first {\n  | < 0.5 => "low"\n  | < "" => "very low"\n'
        '  else => "high"\n}\noutput { b: band(0.05) }',
        "type-mismatch",
        '< ""',
    ),
    ("output { r: round(input.x, 999999999) }", "literal-out-of-range", "999999999"),
    ("output { r: round(input.x, 51) }", "literal-out-of-range", "51"),
    ("output { r: input.d + 1000000000000 days }", "literal-out-of-range", "1000000000000 days"),
    ("output { r: input.d + 3652060 days }", "literal-out-of-range", "3652060 days"),
    ("output { r: input.t + 100000000 hours }", "literal-out-of-range", "100000000 hours"),
    ("output { r: input.t - 10000000000 minutes }", "literal-out-of-range", "10000000000 minutes"),
    (
        "output { r: input.t + 999999999999 seconds }",
        "literal-out-of-range",
        "999999999999 seconds",
    ),
    ("output { r: input.d + 600000 weeks }", "literal-out-of-range", "600000 weeks"),
    (
        "output { r: input.d + 1000000000000 months }",
        "literal-out-of-range",
        "1000000000000 months",
    ),
    ("output { r: input.d - 120000 months }", "literal-out-of-range", "120000 months"),
    (
        "output { r: input.n * 100000000000000000000 days }",
        "literal-out-of-range",
        "100000000000000000000 days",
    ),
    (f"output {{ r: {BIG} }}", "invalid-literal", BIG),
    (f"output {{ r: 1.{BIG} }}", "invalid-literal", f"1.{BIG}"),
    (f"output {{ r: {BIG}% }}", "invalid-literal", f"{BIG}%"),
    (f"output {{ r: {BIG} USD }}", "invalid-literal", f"{BIG} USD"),
    (f"output {{ r: input.d + {BIG} days }}", "invalid-literal", f"{BIG} days"),
    ("output { r: 0000-01-01 }", "invalid-literal", "0000-01-01"),
    ("output { r: 0001-01-01T00:00:00+05:00 }", "invalid-literal", "0001-01-01T00:00:00+05:00"),
    ("output { r: 9999-12-31T23:00:00-05:00 }", "invalid-literal", "9999-12-31T23:00:00-05:00"),
    ("output { r: 2022-10-05T16:30:00+05:60 }", "invalid-literal", "2022-10-05T16:30:00+05:60"),
    ("output { r: 2022-10-05T16:30:00-00:99 }", "invalid-literal", "2022-10-05T16:30:00-00:99"),
    ("output { r: 2022-10-05T16:30:00+24:00 }", "invalid-literal", "2022-10-05T16:30:00+24:00"),
]

# header lines that cannot be loaded
REFUSED_HEADERS = [
    'effective from 0001-01-01 in "Asia/Tokyo"',
    'effective until 9999-12-31T23:59 in "America/Los_Angeles"',
    "effective from 0001-01-01T00:00:00+05:00",
    'effective from 2022-01-01 until 9999-12-31T20:00 in "Pacific/Honolulu"',
]


def write(root: Path, body: str, header: str = "") -> Path:
    return write_policy(root, body, SCHEMA, header)


def diagnostics(text: str) -> list[Any]:
    try:
        tree = parse(text, "p.cw")
    except (PolicyError, PolicySyntaxError) as e:
        return list(e.diagnostics)
    result = check_policy(tree, "p.cw", SCHEMA, {})
    return result.diagnostics if result.program is None else []


@pytest.mark.parametrize(("body", "code", "underlined"), REFUSED, ids=[r[0][:60] for r in REFUSED])
def test_what_the_engine_cannot_take_is_a_diagnostic_at_its_span(
    body: str, code: str, underlined: str
) -> None:
    found = diagnostics(HEADER + body)
    assert [d.code for d in found if d.code == code], [d.render() for d in found]
    spot = next(d for d in found if d.code == code)
    assert spot.span.text() == underlined


def test_a_batch_of_such_policies_is_reported_by_check_not_crashed_on(tmp_path: Path) -> None:
    """`clausewise check` on each: exit 1 with the diagnostic, no traceback."""
    for i, (body, code, _) in enumerate(REFUSED):
        root = write(tmp_path / str(i), body)
        result = CliRunner().invoke(main, ["check", str(root)])
        assert result.exit_code == 1, (body, result.output)
        assert f"[{code}]" in result.output, result.output
        assert result.exception is None or isinstance(result.exception, SystemExit)
        with pytest.raises(PolicyError):
            Engine.from_directory(root)


@pytest.mark.parametrize("header", REFUSED_HEADERS)
def test_an_effective_instant_off_the_calendar_is_a_diagnostic(tmp_path: Path, header: str) -> None:
    root = write(tmp_path, "output { r: 1 }", header)
    result = CliRunner().invoke(main, ["check", str(root)])
    assert result.exit_code == 1, result.output
    assert "[literal-out-of-range]" in result.output
    with pytest.raises(PolicyError):
        Engine.from_directory(root)


# the largest literals the engine takes: they check, compile and evaluate
ACCEPTED = [
    ("output { r: round(input.x, 50) }", {"r": "1." + "0" * 50}),
    ("output { r: input.d + 3652059 days > 9999-12-31 }", {"r": True}),
    ("output { r: input.d - 119988 months < 0001-01-01 }", {"r": True}),
    ("output { r: input.t + 87649416 hours > 9999-12-31T00:00:00Z }", {"r": True}),
    (f"output {{ r: {'9' * 100} }}", {"r": int("9" * 100)}),
    ("table t(a: int) {\n  | 1 => 3\n  else => 4\n}\noutput { r: t(input.n) }", {"r": 3}),
]


@pytest.mark.parametrize(("body", "expected"), ACCEPTED, ids=[a[0][:50] for a in ACCEPTED])
def test_the_largest_literals_check_compile_and_evaluate(
    tmp_path: Path, body: str, expected: Any
) -> None:
    root = write(tmp_path, body)
    engine = Engine.from_directory(root)
    data = {"d": "2000-01-01", "t": "2000-01-01T00:00:00Z", "x": "1", "n": 1}
    for level in ("off", "full"):
        assert engine.evaluate("t/p", data, trace=level).output == expected


# ---- every policy that checks compiles -------------------------------------------------------

_UNITS = ("days", "weeks", "hours", "minutes", "seconds", "months")


@st.composite
def edgy_policies(draw: st.DrawFn) -> str:
    """Policies built around literals near and past the engine's bounds: durations, month
    counts, rounding places, table rows of every width, effective periods at the edges."""
    count = draw(
        st.one_of(
            st.integers(0, 10),
            st.integers(3_652_000, 3_653_000),
            st.integers(119_980, 120_010),
            st.integers(0, 10**30),
        )
    )
    unit = draw(st.sampled_from(_UNITS))
    places = draw(st.one_of(st.integers(0, 60), st.integers(0, 10**12)))
    width = draw(st.integers(1, 3))
    cells = draw(st.integers(1, 4))
    row = " ".join(f"| {i}" for i in range(cells))
    params = ", ".join(f"a{i}: int" for i in range(width))
    args = ", ".join("input.n" for _ in range(width))
    base = "input.d" if unit in ("days", "weeks", "months") else "input.t"
    header = draw(
        st.sampled_from(
            [
                "",
                'effective from 0001-01-01 in "Asia/Tokyo"',
                'effective from 0001-01-02 in "Asia/Tokyo"',
                'effective until 9999-12-31T12:00 in "America/Los_Angeles"',
                'effective until 9999-12-30 in "America/Los_Angeles"',
            ]
        )
    )
    body = (
        f"table t({params}) {{\n  {row} => 1\n  else => 2\n}}\n"
        f"output {{ a: t({args}), b: {base} + {count} {unit} > {base}, "
        f"c: round(input.x, {places}) }}"
    )
    return (header + "\n" if header else "") + body


@given(text=edgy_policies())
def test_every_edgy_policy_that_checks_compiles_and_evaluates(text: str) -> None:
    try:
        result = check_policy(parse(HEADER + text, "p.cw"), "p.cw", SCHEMA, {})
    except (PolicyError, PolicySyntaxError) as e:
        assert e.diagnostics  # refused with diagnostics: fine
        return
    if result.program is None:
        assert result.diagnostics  # refused with diagnostics: fine
        return
    prog = result.program
    compiled = compile_program(prog)
    data = {"d": "2000-01-01", "t": "2000-01-01T00:00:00Z", "x": "1.5", "n": 0}
    for level in ("off", "full"):
        with contextlib.suppress(InputError, EvaluationError):
            compiled.run(data, level)


@given(case=policy_cases())
def test_every_generated_policy_that_checks_compiles(case: Any) -> None:
    """The generators of the differential tests: whatever checks, compiles (compile errors
    would surface in `compiled_case`) and evaluates to a value or a decision error."""
    got = compiled_case(case)
    if got is None:
        return
    _prog, compiled = got
    for data in case.inputs:
        try:
            compiled.run(data, "off")
        except (InputError, EvaluationError):
            pass
        except Exception as e:  # a currency mismatch is a decision error of its own
            assert getattr(e, "code", None) == "currency_mismatch", repr(e)
