"""The reader's view of a decision, reason texts with placeholders, and rounded numbers in text
explanations: from the command line and from the embedding API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from clausewise import Engine
from clausewise.cli import main

HERE = Path(__file__).parent
FIXTURES = HERE / "fixtures" / "reader"
POLICIES = FIXTURES / "policies"
LEVELS = "sellers/performance-levels"
HEALTH = "health/amazon-seller-account-health"
SHIPPED = HERE.parent / "policies"


def _input(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.fixture(scope="module")
def engine() -> Engine:
    return Engine.from_directory(POLICIES)


def _cli(*args: str) -> tuple[int, str]:
    r = CliRunner().invoke(main, list(args))
    return r.exit_code, r.output


def _explain(policy: str, root: Path, input_path: Path, *options: str) -> tuple[int, str]:
    """`clausewise explain POLICY --policies ROOT --input FILE OPTIONS...`."""
    return _cli("explain", policy, "--policies", str(root), "--input", str(input_path), *options)


# ---- the reader's view ----


def test_reader_view_gives_the_reasons_with_values_filled_in(engine: Engine) -> None:
    decision = engine.evaluate(LEVELS, _input("below-standard"), trace="rules")
    text = decision.explain(audience="reader")
    # a value that is not an output field: a few significant digits
    assert "4 of your 150 transactions had a defect, a rate of 2.66667%: more than 2%." in text
    # the output's `defect_rate` (a rate): with the four places the output gives it
    assert "Your defect rate is 0.0267, above 2%: you are below standard. [P4]" in text
    assert decision.output["defect_rate"] == "0.0267"
    # the clauses behind it, quoted from the terms file
    assert "P4: A seller whose transaction defect rate is above 2% is below standard." in text
    # no helper internals, requirement lines or comparisons
    assert "==" not in text and ">=" not in text and "✗" not in text
    assert "{" not in text


def test_reader_view_leaves_out_rules_that_did_not_apply(engine: Engine) -> None:
    text = engine.evaluate(LEVELS, _input("top-rated"), trace="rules").explain(audience="reader")
    assert "You are top rated" in text
    assert "you are below standard" not in text
    assert "P4" not in text


def test_reader_view_from_a_full_trace_is_the_same(engine: Engine) -> None:
    data = _input("below-standard")
    rules = engine.evaluate(LEVELS, data, trace="rules").explain(audience="reader")
    full = engine.evaluate(LEVELS, data, trace="full").explain(audience="reader")
    assert rules == full


def test_reader_view_of_an_untraced_decision_says_how_to_get_one(engine: Engine) -> None:
    text = engine.evaluate(LEVELS, _input("top-rated")).explain(audience="reader")
    assert 'trace="rules"' in text


def test_unknown_audience_is_a_clear_error(engine: Engine) -> None:
    decision = engine.evaluate(LEVELS, _input("top-rated"), trace="rules")
    with pytest.raises(ValueError, match="audience must be one of author, reader"):
        decision.explain(audience="seller")


def test_cli_explain_for_reader() -> None:
    code, out = _explain(LEVELS, POLICIES, FIXTURES / "ninety-nine.json", "--for", "reader")
    assert code == 0, out
    assert "0 of your 99 transactions had a defect (0%); the limit is 0.5%. [P3]" in out
    assert "You are top rated" not in out


def test_cli_explain_for_reader_on_a_shipped_policy(tmp_path: Path) -> None:
    case = SHIPPED / "health" / "amazon-seller-account-health" / "cases"
    code, out = _explain(HEALTH, SHIPPED, case / "cancellation-at-target.json", "--for", "reader")
    assert code == 0, out
    assert "The cancellation rate is 2.5% or more, which can lead to deactivation." in out
    assert "C8: Cancellation rate" in out
    # the order-by-order helper rules (`negative_feedback(o)`, `in_odr_period(o)`) are internals
    assert "negative feedback" not in out and "orders[" not in out
    assert len(out.splitlines()) < 40


def test_cli_explain_rejects_an_unknown_audience() -> None:
    code, out = _explain(LEVELS, POLICIES, FIXTURES / "top-rated.json", "--for", "seller")
    assert code == 2
    assert "'seller' is not one of 'author', 'reader'" in out


# ---- placeholders in reasons ----


def test_author_view_fills_in_placeholders_of_rules_that_applied(engine: Engine) -> None:
    text = engine.evaluate(LEVELS, _input("top-rated"), trace="full").explain()
    assert "You had 120 transactions in the last 12 months; top rated needs at least 100." in text


def test_placeholders_are_evaluated_only_when_rendering() -> None:
    engine = Engine.from_directory(POLICIES)
    policy = engine.policy(LEVELS).compiled
    engine.evaluate(LEVELS, _input("top-rated"))
    engine.evaluate(LEVELS, _input("top-rated"), trace="rules")
    assert "reasons" not in policy.variants  # deciding, traced or not, never compiles them
    engine.evaluate(LEVELS, _input("top-rated"), trace="rules").explain(audience="reader")
    assert "reasons" in policy.variants
    assert "_T." not in policy.variants["reasons"].source


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(POLICIES, root)
    return root


def _edit(root: Path, old: str, new: str) -> None:
    f = root / LEVELS / "1.0.0.cw"
    text = f.read_text()
    assert old in text
    f.write_text(text.replace(old, new, 1))


def _line_col(root: Path, needle: str) -> str:
    text = (root / LEVELS / "1.0.0.cw").read_text()
    at = text.index(needle)
    line = text.count("\n", 0, at) + 1
    col = at - text.rfind("\n", 0, at)
    return f"{LEVELS}/1.0.0.cw:{line}:{col}"


@pytest.mark.parametrize(
    ("old", "new", "needle", "message"),
    [
        ("{defects} of your {count(in_twelve)} transactions had a defect (",
         "{defecs} of your {count(in_twelve)} transactions had a defect (",
         "defecs}", "unknown name `defecs`"),
        ("{count(in_twelve)} transactions in the last",
         "{count(in_twelf)} transactions in the last", "in_twelf", "unknown name `in_twelf`"),
        ("a rate of {defect_rate * 100}%", "a rate of {defect_rate + input.as_of}",
         "defect_rate + input.as_of", "cannot apply `+` to decimal and date"),
        ("a rate of {defect_rate * 100}%", "a rate of {defect_rate.x}", "defect_rate.x", ""),
        ("{count(in_twelve)} transactions in the last",
         "{count(in_twelve} transactions in the last", "{count(in_twelve}",
         "in the placeholder `{count(in_twelve}`"),
        ("a rate of {defect_rate * 100}%", "a rate of {defect_rate} }", "}: more", "closes no placeholder"),
        ("a rate of {defect_rate * 100}%", "a rate of { }", "{ }", "an empty placeholder"),
        ("a rate of {defect_rate * 100}%", "a rate of {defect_rate", "{defect_rate: more",
         "never closed"),
    ],
)  # fmt: skip
def test_a_bad_placeholder_is_a_check_error_at_its_place(
    tmp_path: Path, old: str, new: str, needle: str, message: str
) -> None:
    root = _copy(tmp_path)
    _edit(root, old, new)
    code, out = _cli("check", str(root))
    assert code == 1, out
    where = _line_col(root, needle)
    assert f"{where}: error[" in out, out
    assert message in out


def test_a_misspelt_placeholder_name_suggests_the_right_one(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "{defects} of your {count(in_twelve)} transactions had a defect (",
          "{defecs} of your {count(in_twelve)} transactions had a defect (")  # fmt: skip
    _code, out = _cli("check", str(root))
    assert "did you mean `defects`?" in out


def test_literal_braces_are_written_doubled(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "a rate of {defect_rate * 100}%", "a rate of {{{defect_rate}}}")
    code, out = _explain(LEVELS, root, FIXTURES / "below-standard.json", "--for", "reader")
    assert code == 0, out
    assert "a rate of {0.0267}: more than 2%." in out


def test_a_placeholder_sees_the_rules_parameters(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(
        root,
        "decision level first",
        'rule big_batch(n: int) cites P2 "A batch of {n} transactions, {n - 100} over the floor."\n'
        "  when n >= 100\n\nlet batch_is_big = big_batch(count(in_twelve))\n\n"
        "decision level first",
    )
    _edit(
        root,
        "when count(top_rated_misses) == 0",
        "when count(top_rated_misses) == 0 and batch_is_big",
    )
    decision = Engine.from_directory(root).evaluate(LEVELS, _input("top-rated"), trace="rules")
    assert "A batch of 120 transactions, 20 over the floor. [P2]" in decision.explain(
        audience="reader"
    )


# ---- numbers as a reader sees them ----


def test_text_explanations_round_long_decimals_and_the_trace_keeps_them(engine: Engine) -> None:
    decision = engine.evaluate(LEVELS, _input("below-standard"), trace="full")
    text = decision.explain()
    assert "defect_rate = 0.0266667" in text
    assert "0.02666666" not in text
    exact = [e for e in decision.trace["events"] if e.get("name") == "defect_rate"]
    assert exact[0]["value"].startswith("0.026666666666666666")


def test_why_not_rounds_long_decimals_too(engine: Engine) -> None:
    decision = engine.evaluate(LEVELS, _input("below-standard"), trace="full")
    text = decision.explain(why_not="few_defects")
    assert "0.0266667" in text and "0.02666666" not in text


# ---- why-not follows the chain ----


def test_why_not_follows_the_chain_to_the_leaf_condition(engine: Engine) -> None:
    decision = engine.evaluate(LEVELS, _input("ninety-nine"), trace="full")
    text = decision.explain(why_not="top_rated")
    assert "count(top_rated_misses) = 1 == 0: false" in text
    # one level down: the condition that really failed
    chain = text.split("count(top_rated_misses) = 1 == 0: false", 1)[1]
    assert "it reads ✗ enough_transactions [P2], which does not apply:" in chain
    assert "count(in_twelve) = 99 >= 100: false (off by 1)" in chain
    assert "it reads ✓ few_defects [P3]: 0 of your 99 transactions had a defect" in chain


def test_why_not_says_when_a_first_decision_never_tried_a_rule(engine: Engine) -> None:
    text = engine.evaluate(LEVELS, _input("top-rated"), trace="full").explain(
        why_not="below_standard"
    )
    assert "no rule behind it was evaluated" not in text
    assert "level › below_standard [P4] was never tried" in text
    assert "`top_rated`, which comes first, applied: You are top rated" in text


def test_cli_why_not_chain_on_the_shipped_seller_health_policy() -> None:
    case = SHIPPED / "health" / "amazon-seller-account-health" / "cases"
    code, out = _explain(
        HEALTH, SHIPPED, case / "odr-below-target.json", "--why-not", "order_defect_rate"
    )
    assert code == 0, out
    assert "metrics.order_defect_rate.meets = true == false: false" in out
    # through `metrics` and the `metric(...)` helper, to the rule that decided `meets`
    assert "it reads ✓ odr_meets_target [C1, C2]: The order defect rate is below 1%" in out
    # only the rules behind that one field of `metrics`, not those of the other metrics
    assert "cancellation_meets_target" not in out
    # rules tried on each order are summed up, not listed order by order
    assert "it reads defective [C2, C3], tried on 101 items: 1 applied" in out
    assert "orders[0]" not in out


def test_why_not_chain_ends_at_the_failed_threshold_on_the_shipped_policy() -> None:
    case = SHIPPED / "health" / "amazon-seller-account-health" / "cases"
    data = json.loads((case / "odr-below-target.json").read_text())
    decision = Engine.from_directory(SHIPPED).evaluate(HEALTH, data, trace="full")
    text = decision.explain(why_not="at_risk")
    lines = text.splitlines()
    at = lines.index("      it reads ✗ order_defect_rate [C1, C2, C13], which does not apply:")
    assert lines[at + 1] == "          metrics.order_defect_rate.meets = true == false: false"
    assert "odr_meets_target" in lines[at + 2] + lines[at + 3] + lines[at + 4]


# ---- reasons(d) in the output ----


def test_output_carries_the_code_and_rendered_reason_of_the_rule_that_decided(
    engine: Engine,
) -> None:
    out = engine.evaluate(LEVELS, _input("below-standard")).output
    assert out["level"] == "below_standard"
    assert out["reasons"] == [
        {
            "code": "below_standard",
            "reason": "Your defect rate is 0.0267, above 2%: you are below standard.",
        }
    ]
    # a decision that fell to its default has no rule to give
    assert engine.evaluate(LEVELS, _input("ninety-nine")).output["reasons"] == []


def test_reasons_in_the_output_are_the_same_at_every_trace_level(engine: Engine) -> None:
    data = _input("top-rated")
    outs = [engine.evaluate(LEVELS, data, trace=t).output for t in ("off", "rules", "full")]
    assert outs[0] == outs[1] == outs[2]
    assert outs[0]["reasons"][0]["code"] == "top_rated"
    # computing them records nothing more in the trace: each rule is tried once
    events = engine.evaluate(LEVELS, data, trace="rules").trace["events"]
    assert [e["rule"] for e in events].count("top_rated") == 1


def test_a_reason_naming_input_records_reads_the_same_at_every_trace_level(
    tmp_path: Path,
) -> None:
    """A traced decision knows where each input record came from (`orders[1]`); the reason a
    user reads shows the record itself, as the untraced decision does."""
    d = tmp_path / "t" / "rec"
    d.mkdir(parents=True)
    record = {
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "amount": {"type": "string", "format": "decimal"},
            "day": {"type": "string", "format": "date"},
        },
        "required": ["id", "amount", "day"],
    }
    (d / "input.schema.json").write_text(
        json.dumps(
            {
                "type": "object",
                "properties": {"r": record, "orders": {"type": "array", "items": record}},
                "required": ["r", "orders"],
            }
        )
    )
    (d / "output.schema.json").write_text("{}")
    (d / "1.0.0.cw").write_text(
        'policy "t/rec"\nversion "1.0.0"\ninput schema "input.schema.json"\n'
        'output schema "output.schema.json"\n'
        "decision big collect {\n"
        '  rule one "record {input.r}, orders {input.orders}, first {input.orders[0]}" '
        "when input.r.amount > 1 then 1\n"
        '  rule each "the last {last(o for o in input.orders)}" when count(input.orders) > 0 then 2\n'
        "}\n"
        "output { why: reasons(big) }\n"
    )
    engine = Engine.from_directory(tmp_path)
    item = {"id": "a", "amount": "2.50", "day": "2022-01-01"}
    data = {"r": item, "orders": [item, {**item, "id": "b"}]}
    outs = [engine.evaluate("t/rec", data, trace=t).output for t in ("off", "rules", "full")]
    assert outs[0] == outs[1] == outs[2], outs
    first, last = (r["reason"] for r in outs[0]["why"])
    assert first.startswith('record {id: "a", amount: 2.50, day: 2022-01-01}, orders [{id: "a"')
    assert last == 'the last {id: "b", amount: 2.50, day: 2022-01-01}'


def test_cli_eval_prints_the_reasons_of_a_collect_decision(tmp_path: Path) -> None:
    root = tmp_path / "policies"
    src = SHIPPED / "health" / "amazon-seller-account-health"
    dst = root / "health" / "amazon-seller-account-health"
    shutil.copytree(src, dst)
    schema = json.loads((dst / "output.schema.json").read_text())
    schema["properties"]["violation_reasons"] = {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "reason": {"type": "string"}},
            "required": ["code", "reason"],
        },
    }
    (dst / "output.schema.json").write_text(json.dumps(schema))
    policy = (dst / "1.0.0.cw").read_text()
    policy = policy.replace(
        "  violations: violations,\n",
        "  violations: violations,\n  violation_reasons: reasons(violations),\n",
        1,
    ).replace(
        '"The cancellation rate is 2.5% or more, which can lead to deactivation."',
        '"The cancellation rate is {metrics.cancellation_rate.numerator} of '
        "{metrics.cancellation_rate.denominator} orders ({metrics.cancellation_rate.value}), "
        '2.5% or more: this can lead to deactivation."',
    )
    (dst / "1.0.0.cw").write_text(policy)
    code, out = _cli(
        "eval", HEALTH, "--policies", str(root),
        "--input", str(src / "cases" / "cancellation-at-target.json"),
    )  # fmt: skip
    assert code == 0, out
    assert json.loads(out)["output"]["violation_reasons"] == [
        {
            "code": "cancellation_rate",
            "reason": "The cancellation rate is 1 of 40 orders (0.025), 2.5% or more: "
            "this can lead to deactivation.",
        }
    ]


@pytest.mark.parametrize(
    ("arg", "message", "hint"),
    [
        ("levl", "not `levl`", "did you mean `level`?"),
        ("defects", "not `defects`", "did you mean `few_defects`?"),
        ("level, level", "not 2 arguments", None),
    ],
)
def test_reasons_of_something_that_is_no_decision_is_a_check_error(
    tmp_path: Path, arg: str, message: str, hint: str | None
) -> None:
    root = _copy(tmp_path)
    _edit(root, "reasons(level)", f"reasons({arg})")
    code, out = _cli("check", str(root))
    assert code == 1, out
    assert "error[reasons-needs-decision]" in out
    assert message in out
    if hint:
        assert hint in out


def test_reasons_of_a_rule_gives_it_when_it_applies(tmp_path: Path) -> None:
    root = _copy(tmp_path)
    _edit(root, "reasons(level)", "reasons(enough_transactions)")
    eng = Engine.from_directory(root)
    assert eng.evaluate(LEVELS, _input("top-rated")).output["reasons"] == [
        {
            "code": "enough_transactions",
            "reason": "You had 120 transactions in the last 12 months; "
            "top rated needs at least 100.",
        }
    ]
    assert eng.evaluate(LEVELS, _input("ninety-nine")).output["reasons"] == []


# ---- impact shows only the rules whose outcome differs ----

PR_POLICIES = HERE / "data" / "pr_tools" / "policies"


def test_impact_examples_show_only_the_rules_whose_outcome_differs(tmp_path: Path) -> None:
    inputs = tmp_path / "inputs.jsonl"
    row = {"orders": 50, "odr": "0.012", "cancellation_rate": "0.03", "late_shipment_rate": "0.05"}
    inputs.write_text(json.dumps(row) + "\n")
    args = ["impact", "shop/seller-health", "--from", "1.0.0", "--to", "1.1.0"]
    args += ["--inputs", str(inputs), "--policies", str(PR_POLICIES)]
    code, out = _cli(*args)
    assert code == 0, out
    assert "rules whose outcome differs (1.0.0 -> 1.1.0):" in out
    assert "odr_missed [H1, H2]: applies -> does not apply" in out
    assert "violations › late_shipment_rate [H4]: not tried -> applies" in out
    assert "        The late shipment rate is 4% or more." in out
    # the cancellation rule applies in both versions: it is not an example of the change
    assert "cancellation" not in out.split("rules whose outcome differs", 1)[1]
    assert "Rules tried" not in out
    code, out = _cli(*args, "--format", "json")
    rules = json.loads(out)["groups"][0]["examples"][0]["rules"]
    assert {(r["rule"], r["old"], r["new"]) for r in rules} == {
        ("odr_missed", "applies", "does not apply"),
        ("violations › order_defect_rate", "applies", "does not apply"),
        ("violations › late_shipment_rate", "not tried", "applies"),
    }
    assert all(r["reason"] and r["clauses"] for r in rules)


def test_rule_outcomes_from_the_embedding_api(engine: Engine) -> None:
    outcomes = engine.evaluate(LEVELS, _input("top-rated"), trace="rules").rule_outcomes()
    top = outcomes[("level › top_rated", "")]
    assert top.applied and top.cites == ("P1", "P2", "P3")
    assert outcomes[("enough_transactions", "")].reason.startswith("You had 120 transactions")
    assert ("level › below_standard", "") not in outcomes  # never tried: top_rated came first
    assert engine.evaluate(LEVELS, _input("top-rated")).rule_outcomes() == {}


@pytest.mark.parametrize("name", ["ninety-nine", "below-standard", "top-rated"])
def test_reasons_agree_with_the_reference_interpreter(engine: Engine, name: str) -> None:
    from tests.oracles.interpreter import Interpreter

    program = engine.policy(LEVELS).compiled.program
    data = _input(name)
    assert Interpreter(program).run(data) == engine.evaluate(LEVELS, data).output
