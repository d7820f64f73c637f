"""The reference implementations of contracts 4 and 5 against the contract's worked examples,
and the generators / schemas / fast implementation against each other."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from tests.generators.seller_portfolio_inputs import (
    AT_TARGET,
    at_target_input,
    generate_orders,
    portfolio_cap_inputs,
    seller_health_inputs,
)
from tests.oracles.contracts import portfolio_cap, seller_health, seller_health_fast
from tests.oracles.contracts.errors import ReferenceInputError
from tests.oracles.contracts.values import CodedInputError, validate

HEALTH = "health/amazon-seller-account-health"
PORTFOLIO = "budgets/amazon-ads-portfolio-cap"
AS_OF = date(2022, 10, 20)

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------------------------------------
# Health helpers
# ---------------------------------------------------------------------------------------------


def order(placed: date, **fields: Any) -> dict[str, Any]:
    """A clean seller-fulfilled order (no defect, shipped on time, delivered on time)."""
    expected = placed + timedelta(days=1)
    base: dict[str, Any] = {
        "id": f"o-{placed.isoformat()}",
        "placed_on": placed.isoformat(),
        "channel": "seller",
        "product_line": "books",
        "negative_feedback": False,
        "feedback_removed": False,
        "az_claim": "none",
        "chargeback": False,
        "cancelled_by_seller": False,
        "cancel_requested_by_buyer": False,
        "expected_ship_date": expected.isoformat(),
        "ship_confirmed_on": expected.isoformat(),
        "tracking_valid": True,
        "estimated_delivery_date": (expected + timedelta(days=3)).isoformat(),
        "delivered_on": (expected + timedelta(days=3)).isoformat(),
    }
    base.update(fields)
    return base


def health(
    orders: list[dict[str, Any]], returns: list[dict[str, Any]] | None = None, as_of: date = AS_OF
) -> dict[str, Any]:
    """Run both health implementations, check they agree and the output schema; return one."""
    data = {"as_of": as_of.isoformat(), "orders": orders, "return_requests": returns or []}
    result = seller_health.decide(copy.deepcopy(data))
    assert seller_health_fast.decide(copy.deepcopy(data)) == result
    validate(result, HEALTH, "output")
    return result


def days_before(n: int, as_of: date = AS_OF) -> date:
    return as_of - timedelta(days=n)


# ---------------------------------------------------------------------------------------------
# Health: windows, populations, examples
# ---------------------------------------------------------------------------------------------


def test_health_empty_populations() -> None:
    result = health([])
    for name, metric in result["metrics"].items():
        assert metric["value"] is None
        assert (metric["numerator"], metric["denominator"]) == (0, 0)
        assert metric["meets"] is (None if metric["target"] is None else True), name
    assert result["violations"] == []
    assert result["warnings"] == []
    assert result["at_risk"] is False
    assert set(result["by_channel"]) == {"seller", "fba"}
    assert result["by_channel"]["fba"]["order_defect_rate"]["value"] is None
    assert result["by_channel"]["fba"]["order_defect_rate"]["meets"] is True
    assert result["by_product_line"] == {}


def test_health_windows_and_targets() -> None:
    metrics = health([])["metrics"]
    expected = {
        "order_defect_rate": ("2022-07-23", "2022-09-20", "< 0.01", True),
        "negative_feedback_rate": ("2022-07-23", "2022-09-20", None, False),
        "az_claim_rate": ("2022-07-23", "2022-09-20", None, False),
        "chargeback_rate": ("2022-07-23", "2022-09-20", None, False),
        "cancellation_rate": ("2022-10-14", "2022-10-20", "< 0.025", True),
        "late_shipment_rate_10d": ("2022-10-11", "2022-10-20", "< 0.04", True),
        "late_shipment_rate_30d": ("2022-09-21", "2022-10-20", "< 0.04", True),
        "valid_tracking_rate": ("2022-09-21", "2022-10-20", None, False),
        "on_time_delivery_rate": ("2022-09-21", "2022-10-20", "> 0.97", False),
        "return_dissatisfaction_rate": ("2022-09-21", "2022-10-20", "< 0.10", False),
    }
    assert list(metrics) == list(expected)  # table order
    for name, (start, end, target, contractual) in expected.items():
        metric = metrics[name]
        assert (metric["window_start"], metric["window_end"]) == (start, end), name
        assert (metric["target"], metric["contractual"]) == (target, contractual), name


@pytest.mark.parametrize(
    ("metric", "first", "last"),
    [
        ("order_defect_rate", 89, 30),
        ("cancellation_rate", 6, 0),
        ("late_shipment_rate_10d", 9, 0),
        ("late_shipment_rate_30d", 29, 0),
        ("valid_tracking_rate", 29, 0),
    ],
)
def test_health_window_edges(metric: str, first: int, last: int) -> None:
    """Orders on the first and last day are in the window; a day either side is not."""
    placed = [days_before(first + 1), days_before(first), days_before(last), days_before(last - 1)]
    orders = [order(day, id=f"o{i}") for i, day in enumerate(placed)]
    assert health(orders)["metrics"][metric]["denominator"] == 2


@pytest.mark.parametrize("metric", list(AT_TARGET))
def test_health_rate_exactly_at_target_misses_it(metric: str) -> None:
    data = at_target_input(metric, AS_OF)
    result = health(data["orders"], data["return_requests"])
    value = {
        "order_defect_rate": "0.0100",
        "cancellation_rate": "0.0250",
        "late_shipment_rate_10d": "0.0400",
        "late_shipment_rate_30d": "0.0400",
        "on_time_delivery_rate": "0.9700",
        "return_dissatisfaction_rate": "0.1000",
    }[metric]
    assert result["metrics"][metric]["value"] == value
    assert result["metrics"][metric]["meets"] is False
    contractual = result["metrics"][metric]["contractual"]
    assert (metric in result["violations"]) is contractual
    assert (metric in result["warnings"]) is not contractual
    assert result["at_risk"] is contractual


@pytest.mark.parametrize("metric", list(AT_TARGET))
def test_health_rate_one_item_better_than_target_meets_it(metric: str) -> None:
    data = at_target_input(metric, AS_OF, size_delta=1)  # e.g. 1 defect in 101 orders
    result = health(data["orders"], data["return_requests"])
    assert result["metrics"][metric]["meets"] is True
    assert result["violations"] == [] and result["warnings"] == []
    worse = at_target_input(metric, AS_OF, size_delta=-1)
    assert health(worse["orders"], worse["return_requests"])["metrics"][metric]["meets"] is False


def test_health_rate_rounds_half_even() -> None:
    in_odr = [order(days_before(40), id=f"o{i}") for i in range(32)]
    in_odr[0]["chargeback"] = True  # 1/32 = 0.03125 -> 0.0312
    result = health(in_odr)
    assert result["metrics"]["order_defect_rate"]["value"] == "0.0312"
    for o in in_odr[1:3]:
        o["chargeback"] = True  # 3/32 = 0.09375 -> 0.0938
    assert health(in_odr)["metrics"]["order_defect_rate"]["value"] == "0.0938"


def test_health_defect_counted_once_and_its_parts() -> None:
    placed = days_before(45)
    orders = [
        order(placed, id="both", negative_feedback=True, az_claim="granted"),
        order(placed, id="removed", negative_feedback=True, feedback_removed=True),
        order(placed, id="denied", az_claim="denied"),
        order(placed, id="open", az_claim="open", channel="fba", product_line="toys"),
        order(placed, id="chargeback", chargeback=True),
    ]
    result = health(orders)
    metrics = result["metrics"]
    assert (
        metrics["order_defect_rate"]["numerator"],
        metrics["order_defect_rate"]["denominator"],
    ) == (3, 5)
    assert metrics["order_defect_rate"]["value"] == "0.6000"
    assert metrics["negative_feedback_rate"]["numerator"] == 1
    assert metrics["az_claim_rate"]["numerator"] == 3  # every claim, denied included (C4)
    assert metrics["chargeback_rate"]["numerator"] == 1
    assert result["violations"] == ["order_defect_rate"] and result["at_risk"] is True
    assert result["by_channel"]["seller"]["order_defect_rate"]["numerator"] == 2
    assert result["by_channel"]["fba"]["order_defect_rate"]["value"] == "1.0000"
    assert list(result["by_product_line"]) == ["books", "toys"]
    assert result["by_product_line"]["toys"]["order_defect_rate"]["denominator"] == 1


def test_health_by_product_line_only_lines_in_the_odr_window() -> None:
    orders = [
        order(days_before(10), product_line="recent"),
        order(days_before(60), product_line="old"),
    ]
    result = health(orders)
    assert list(result["by_product_line"]) == ["old"]
    assert result["by_product_line"]["old"]["order_defect_rate"]["meets"] is True


def test_health_cancellation_population_and_numerator() -> None:
    day = days_before(3)
    orders = [
        order(day, id="seller-cancel", cancelled_by_seller=True, ship_confirmed_on=None),
        order(
            day,
            id="buyer-cancel",
            cancelled_by_seller=True,
            cancel_requested_by_buyer=True,
            ship_confirmed_on=None,
        ),
        order(day, id="fine"),
        order(day, id="fba-cancel", channel="fba", cancelled_by_seller=True),
    ]
    metrics = health(orders)["metrics"]
    cancellation = metrics["cancellation_rate"]
    assert (cancellation["numerator"], cancellation["denominator"]) == (1, 3)
    # cancelled orders, whoever asked, leave the late-shipment population
    assert metrics["late_shipment_rate_10d"]["denominator"] == 1


def test_health_late_shipment() -> None:
    expected = AS_OF - timedelta(days=1)
    placed = days_before(2)
    orders = [
        order(
            placed,
            id="on-expected-day",
            expected_ship_date=expected.isoformat(),
            ship_confirmed_on=expected.isoformat(),
        ),
        order(
            placed,
            id="day-late",
            expected_ship_date=expected.isoformat(),
            ship_confirmed_on=AS_OF.isoformat(),
        ),
        order(
            placed,
            id="unshipped-past-expected",
            expected_ship_date=expected.isoformat(),
            ship_confirmed_on=None,
            tracking_valid=None,
        ),
        order(
            placed,
            id="unshipped-due-today",
            expected_ship_date=AS_OF.isoformat(),
            ship_confirmed_on=None,
            tracking_valid=None,
        ),
        order(
            placed,
            id="no-expected-date",
            expected_ship_date=None,
            ship_confirmed_on=AS_OF.isoformat(),
        ),
    ]
    metric = health(orders)["metrics"]["late_shipment_rate_10d"]
    assert (metric["numerator"], metric["denominator"]) == (2, 5)


def test_health_tracking_and_delivery() -> None:
    placed = days_before(10)
    orders = [
        order(placed, id="valid"),
        order(placed, id="null-tracking", tracking_valid=None),
        order(placed, id="invalid", tracking_valid=False),
        order(placed, id="no-estimate", estimated_delivery_date=None),
        order(
            placed,
            id="late-delivery",
            delivered_on=AS_OF.isoformat(),
            estimated_delivery_date=days_before(1).isoformat(),
        ),
        order(placed, id="not-delivered", delivered_on=None),
        order(placed, id="unshipped", ship_confirmed_on=None, tracking_valid=None),
    ]
    metrics = health(orders)["metrics"]
    vtr = metrics["valid_tracking_rate"]
    assert (vtr["numerator"], vtr["denominator"], vtr["meets"]) == (4, 6, None)
    otd = metrics["on_time_delivery_rate"]
    assert (otd["numerator"], otd["denominator"]) == (2, 3)


def test_health_return_dissatisfaction() -> None:
    def request(offset: int, **fields: Any) -> dict[str, Any]:
        base = {
            "id": f"r{offset}",
            "requested_on": days_before(offset).isoformat(),
            "negative_feedback": False,
            "answered_within_48h": True,
            "wrongly_rejected": False,
        }
        base.update(fields)
        return base

    returns = [
        request(0, negative_feedback=True),
        request(29, wrongly_rejected=True),
        request(30, answered_within_48h=False),  # one day outside
        request(5),
    ]
    metric = health([], returns)["metrics"]["return_dissatisfaction_rate"]
    assert (metric["numerator"], metric["denominator"], metric["value"]) == (2, 3, "0.6667")
    assert metric["meets"] is False


@pytest.mark.parametrize(
    ("mutate", "path", "code", "fast_too"),
    [
        (lambda d: d["orders"][1].pop("placed_on"), "/orders/1/placed_on", "missing_field", True),
        (
            lambda d: d["orders"][0].update(channel="merchant"),
            "/orders/0/channel",
            "unknown_enum_value",
            True,
        ),
        (
            lambda d: d["orders"][0].update(az_claim=None),
            "/orders/0/az_claim",
            "null_not_allowed",
            True,
        ),
        (
            lambda d: d["orders"][1].pop("delivered_on"),
            "/orders/1/delivered_on",
            "missing_field",
            True,
        ),
        (
            lambda d: d["orders"][0].update(tracking_valid="yes"),
            "/orders/0/tracking_valid",
            "wrong_type",
            True,
        ),
        (lambda d: d["orders"][0].update(chargeback=0), "/orders/0/chargeback", "wrong_type", True),
        (
            lambda d: d["orders"][1].update(placed_on="2022-02-30"),
            "/orders/1/placed_on",
            "invalid_format",
            True,
        ),
        # Python's date.fromisoformat takes the basic format; the fast floor does not check it
        (
            lambda d: d["orders"][1].update(placed_on="20221005"),
            "/orders/1/placed_on",
            "invalid_format",
            False,
        ),
        (lambda d: d.update(as_of="2022-10-20T00:00:00Z"), "/as_of", "invalid_format", True),
        (lambda d: d.pop("return_requests"), "/return_requests", "missing_field", True),
        (lambda d: d.update(orders=None), "/orders", "null_not_allowed", True),
        # several fields missing: the first in the schema's order
        (
            lambda d: d["return_requests"].append({"id": "r"}),
            "/return_requests/0/requested_on",
            "missing_field",
            True,
        ),
    ],
)
def test_health_bad_input(mutate: Any, path: str, code: str, fast_too: bool) -> None:
    data = {
        "as_of": "2022-10-20",
        "orders": [order(days_before(1)), order(days_before(2))],
        "return_requests": [],
    }
    mutate(data)
    implementations = [seller_health, seller_health_fast] if fast_too else [seller_health]
    for implementation in implementations:
        with pytest.raises(ReferenceInputError) as caught:
            implementation.decide(copy.deepcopy(data))
        assert isinstance(caught.value, CodedInputError)
        assert (caught.value.path, caught.value.code) == (path, code), implementation.__name__


def test_health_unknown_fields_are_ignored() -> None:
    plain = [order(days_before(40))]
    extra = [dict(plain[0], colour="red")]
    assert health(extra) == health(plain)


@given(seller_health_inputs(max_orders=120))
@SETTINGS
def test_health_generated_inputs_and_outputs_follow_the_schemas(data: dict[str, Any]) -> None:
    validate(data, HEALTH, "input")
    result = seller_health.decide(data)
    validate(result, HEALTH, "output")
    assert result["at_risk"] is bool(result["violations"])


@given(seller_health_inputs(max_orders=120))
@SETTINGS
def test_health_fast_agrees_with_reference(data: dict[str, Any]) -> None:
    assert seller_health_fast.decide(copy.deepcopy(data)) == seller_health.decide(data)


@pytest.mark.parametrize("seed", [1, 2])
def test_health_fast_agrees_on_a_generated_large_input(seed: int) -> None:
    data = generate_orders(3_000, seed)
    validate(data, HEALTH, "input")
    assert seller_health_fast.decide(data) == seller_health.decide(data)


def test_generate_orders_is_deterministic_and_sized() -> None:
    first = generate_orders(500, 7)
    assert first == generate_orders(500, 7)
    assert len(first["orders"]) == 500
    assert first != generate_orders(500, 8)


# ---------------------------------------------------------------------------------------------
# Portfolio cap
# ---------------------------------------------------------------------------------------------


def money(amount: str | int, currency: str = "USD") -> dict[str, Any]:
    return {"amount": amount, "currency": currency}


def campaign(cid: str, budget: str | int, spent: str | int, **fields: Any) -> dict[str, Any]:
    base = {
        "id": cid,
        "budget_type": "lifetime",
        "budget": money(budget),
        "spent": money(spent),
        "end_date": None,
        "paused_by_user": False,
    }
    base.update(fields)
    return base


def change(at: str, old: str | int, new: str | int, spent_at: str | int) -> dict[str, Any]:
    return {"at": at, "from": money(old), "to": money(new), "spent_at_change": money(spent_at)}


def portfolio_input(
    cap_type: str = "monthly_recurring",
    amount: str | int | None = 1000,
    spent: str | int = 0,
    changes: list[dict[str, Any]] | None = None,
    campaigns: list[dict[str, Any]] | None = None,
    start: str | None = None,
    end: str | None = None,
    as_of: str = "2022-10-20",
) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "portfolio": {
            "id": "p1",
            "cap": {
                "type": cap_type,
                "amount": None if amount is None else money(amount),
                "start_date": start,
                "end_date": end,
            },
            "spent_in_period": money(spent),
            "cap_changes": changes or [],
        },
        "campaigns": campaigns or [],
    }


def portfolio(data: dict[str, Any]) -> dict[str, Any]:
    result = portfolio_cap.decide(data)
    validate(result, PORTFOLIO, "output")
    return result


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def test_portfolio_d4_lowering_below_spend_bills_the_spend() -> None:
    lowered = [change("2022-10-10T12:00:00Z", 1000, 500, 800)]
    result = portfolio(
        portfolio_input(
            amount=500, spent=800, changes=lowered, campaigns=[campaign("A", 2000, 800)]
        )
    )
    assert result["billing"] == {
        "spend": usd("800.00"),
        "charge": usd("800.00"),
        "over_delivery_credit": usd("0.00"),
    }
    assert result["portfolio"]["remaining"] == usd("0.00")
    assert result["portfolio"]["exhausted"] is True
    assert result["campaigns"] == [
        {
            "id": "A",
            "delivering": False,
            "reason": "portfolio_cap_reached",
            "spendable": usd("0.00"),
        }
    ]
    # 850 spent after the change: 800 charged, 50 credited
    result = portfolio(portfolio_input(amount=500, spent=850, changes=lowered))
    assert result["billing"]["charge"] == usd("800.00")
    assert result["billing"]["over_delivery_credit"] == usd("50.00")


def test_portfolio_d3_raising_clears_the_lock() -> None:
    changes = [
        change("2022-10-10T12:00:00Z", 1000, 500, 800),  # locks at 800
        change("2022-10-15T09:00:00Z", 500, 1200, 900),  # above what was spent: new cap
    ]
    result = portfolio(portfolio_input(amount=1200, spent=1300, changes=changes))
    assert result["billing"]["charge"] == usd("1200.00")
    assert result["billing"]["over_delivery_credit"] == usd("100.00")
    assert result["portfolio"]["remaining"] == usd("0.00")
    result = portfolio(portfolio_input(amount=1200, spent=1000, changes=changes))
    assert result["portfolio"]["remaining"] == usd("200.00")
    assert result["billing"]["charge"] == usd("1000.00")


def test_portfolio_changes_replayed_in_time_order_ties_in_input_order() -> None:
    lock = change("2022-10-10T12:00:00Z", 1000, 500, 800)
    raise_same_instant = change("2022-10-10T14:00:00+02:00", 500, 1200, 800)  # same instant
    later_lock = change("2022-10-11T00:00:00Z", 1200, 500, 800)
    spent = 1500
    assert portfolio(portfolio_input(spent=spent, changes=[lock, raise_same_instant]))["billing"][
        "charge"
    ] == usd("1200.00")
    assert portfolio(portfolio_input(spent=spent, changes=[raise_same_instant, lock]))["billing"][
        "charge"
    ] == usd("800.00")
    # input order does not matter across different instants
    assert portfolio(portfolio_input(spent=spent, changes=[later_lock, raise_same_instant]))[
        "billing"
    ]["charge"] == usd("800.00")
    # a change to exactly what was spent locks too ("at or below")
    at_spend = change("2022-10-10T12:00:00Z", 1000, 800, 800)
    assert portfolio(portfolio_input(amount=800, spent=850, changes=[at_spend]))["billing"][
        "charge"
    ] == usd("800.00")


def test_portfolio_d6_cap_overrides_campaign_budgets() -> None:
    both_spent = [campaign("A", 500, 500), campaign("B", 500, 250)]
    result = portfolio(
        portfolio_input(
            "date_range", 750, 750, campaigns=both_spent, start="2022-10-01", end="2022-10-31"
        )
    )
    assert [c["reason"] for c in result["campaigns"]] == ["portfolio_cap_reached"] * 2
    assert result["portfolio"]["exhausted"] is True
    a_spent = [campaign("A", 500, 500), campaign("B", 500, 100)]
    result = portfolio(
        portfolio_input(
            "date_range", 750, 600, campaigns=a_spent, start="2022-10-01", end="2022-10-31"
        )
    )
    assert result["campaigns"] == [
        {
            "id": "A",
            "delivering": False,
            "reason": "campaign_budget_exhausted",
            "spendable": usd("0.00"),
        },
        {"id": "B", "delivering": True, "reason": "delivering", "spendable": usd("150.00")},
    ]
    assert result["portfolio"]["remaining"] == usd("150.00")


def test_portfolio_monthly_period_and_no_cap() -> None:
    result = portfolio(portfolio_input(as_of="2024-02-10", amount=100, spent=40))
    assert (result["portfolio"]["period_start"], result["portfolio"]["period_end"]) == (
        "2024-02-01",
        "2024-02-29",
    )
    assert result["portfolio"]["cap_active"] is True
    none = portfolio(portfolio_input("none", None, 5000, campaigns=[campaign("A", 100, 20)]))
    assert none["portfolio"] == {
        "cap_active": False,
        "period_start": None,
        "period_end": None,
        "remaining": None,
        "exhausted": False,
        "ended": False,
    }
    assert none["billing"]["charge"] == usd("5000.00")
    assert none["campaigns"][0]["spendable"] == usd("80.00")


@pytest.mark.parametrize(
    ("start", "end", "active", "ended"),
    [
        ("2022-10-20", "2022-10-30", True, False),  # starts on as_of
        ("2022-10-01", "2022-10-20", True, False),  # ends on as_of (inclusive)
        ("2022-10-20", "2022-10-20", True, False),  # one-day range
        ("2022-10-21", "2022-10-30", False, False),  # not started yet
        ("2022-10-01", "2022-10-19", False, True),  # ended yesterday
    ],
)
def test_portfolio_date_range_edges(start: str, end: str, active: bool, ended: bool) -> None:
    data = portfolio_input(
        "date_range", 500, 600, start=start, end=end, campaigns=[campaign("A", 1000, 10)]
    )
    result = portfolio(data)
    assert result["portfolio"]["cap_active"] is active
    assert result["portfolio"]["ended"] is ended
    assert (result["portfolio"]["period_start"], result["portfolio"]["period_end"]) == (start, end)
    assert result["portfolio"]["remaining"] == (usd("0.00") if active else None)
    reason = result["campaigns"][0]["reason"]
    if ended:
        assert reason == "portfolio_date_range_ended"
        assert result["billing"]["charge"] == usd("500.00")  # D2 holds at the end of the range
    elif active:
        assert reason == "portfolio_cap_reached"
    else:
        assert reason == "delivering"
        assert result["billing"]["charge"] == usd("600.00")  # not started: charge = spend


def test_portfolio_campaign_reasons_in_order() -> None:
    campaigns = [
        campaign("paused", 100, 100, paused_by_user=True, end_date="2022-10-01"),
        campaign("ended", 100, 100, end_date="2022-10-19"),
        campaign("ends-today", 100, 10, end_date="2022-10-20", budget_type="daily"),
        campaign("exhausted", 100, 100),
        campaign("over", "100", "100.01"),
    ]
    result = portfolio(portfolio_input(amount=1000, spent=400, campaigns=campaigns))
    assert [c["reason"] for c in result["campaigns"]] == [
        "paused_by_user",
        "campaign_ended",
        "delivering",
        "campaign_budget_exhausted",
        "campaign_budget_exhausted",
    ]
    assert result["campaigns"][2]["spendable"] == usd("90.00")


def test_portfolio_rounding_half_even() -> None:
    result = portfolio(
        portfolio_input("none", None, "1234.565", campaigns=[campaign("A", "0.025", "0.01")])
    )
    assert result["billing"]["spend"] == usd("1234.56")
    assert result["campaigns"][0]["spendable"] == usd("0.02")  # 0.015 -> 0.02
    result = portfolio(portfolio_input(amount="0.005", spent=0))
    assert result["portfolio"]["remaining"] == usd("0.00")  # 0.005 -> 0.00, yet not exhausted
    assert result["portfolio"]["exhausted"] is False


def _bad(data: dict[str, Any]) -> CodedInputError:
    with pytest.raises(ReferenceInputError) as caught:
        portfolio_cap.decide(data)
    assert isinstance(caught.value, CodedInputError)
    return caught.value


@pytest.mark.parametrize(
    ("data", "path", "code"),
    [
        (
            portfolio_input("monthly_recurring", None),
            "/portfolio/cap/amount",
            "cap_amount_required",
        ),
        (
            portfolio_input("date_range", None, start="2022-10-01", end="2022-10-31"),
            "/portfolio/cap/amount",
            "cap_amount_required",
        ),
        (
            portfolio_input("date_range", 10, end="2022-10-31"),
            "/portfolio/cap/start_date",
            "range_start_required",
        ),
        (
            portfolio_input("date_range", 10, start="2022-10-01"),
            "/portfolio/cap/end_date",
            "range_end_required",
        ),
        (
            portfolio_input("date_range", 10, start="2022-11-01", end="2022-10-31"),
            "/portfolio/cap/start_date",
            "range_start_after_end",
        ),
    ],
)
def test_portfolio_cross_field_rules(data: dict[str, Any], path: str, code: str) -> None:
    error = _bad(data)
    assert (error.path, error.code) == (path, code)
    assert code in portfolio_cap.INPUT_RULE_CODES


def test_portfolio_currency_mismatch() -> None:
    data = portfolio_input(campaigns=[campaign("A", 10, 1), campaign("B", 10, 1)])
    data["campaigns"][1]["spent"]["currency"] = "usd"
    error = _bad(data)
    assert (error.path, error.code) == ("/campaigns/1/spent/currency", "currency_mismatch")
    data = portfolio_input(amount=10, changes=[change("2022-10-10T12:00:00Z", 1, 2, 1)])
    data["portfolio"]["cap"]["amount"]["currency"] = "EUR"
    assert _bad(data).path == "/portfolio/cap/amount/currency"
    data = portfolio_input(changes=[change("2022-10-10T12:00:00Z", 1, 2, 1)])
    data["portfolio"]["cap_changes"][0]["to"]["currency"] = "EUR"
    assert _bad(data).path == "/portfolio/cap_changes/0/to/currency"


SPENT = "/portfolio/spent_in_period/amount"


def _spent(value: Any) -> Any:
    return lambda d: d["portfolio"]["spent_in_period"].update(amount=value)


@pytest.mark.parametrize(
    ("mutate", "path", "code"),
    [
        (_spent(1.5), SPENT, "wrong_type"),
        (_spent(1.0), SPENT, "wrong_type"),  # a JSON number with a fraction, even if integral
        (_spent(100.0), SPENT, "wrong_type"),  # e.g. 1e2
        (_spent(-1), SPENT, "negative_value"),
        (_spent("-1"), SPENT, "invalid_format"),
        (_spent("1e2"), SPENT, "invalid_format"),
        (_spent(" 5"), SPENT, "invalid_format"),
        (_spent("5\n"), SPENT, "invalid_format"),
        (_spent("\u0665"), SPENT, "invalid_format"),  # a non-ASCII digit
        (_spent(True), SPENT, "wrong_type"),
        (_spent(None), SPENT, "null_not_allowed"),
        (
            lambda d: d["portfolio"]["spent_in_period"].update(currency=""),
            "/portfolio/spent_in_period/currency",
            "empty_string",
        ),
        (
            lambda d: d["portfolio"]["cap"].update(type="weekly"),
            "/portfolio/cap/type",
            "unknown_enum_value",
        ),
        (
            lambda d: d["portfolio"]["cap"].pop("end_date"),
            "/portfolio/cap/end_date",
            "missing_field",
        ),
        (
            lambda d: d["portfolio"]["cap"].update(amount={"amount": "5"}),
            "/portfolio/cap/amount/currency",
            "missing_field",
        ),
        (lambda d: d["portfolio"]["cap"].update(amount="5"), "/portfolio/cap/amount", "wrong_type"),
        (
            lambda d: d["portfolio"]["cap_changes"][0].update(at="2022-10-10T12:00:00"),
            "/portfolio/cap_changes/0/at",
            "datetime_without_offset",
        ),
        (
            lambda d: d["portfolio"]["cap_changes"][0].update(at="2022-10-10"),
            "/portfolio/cap_changes/0/at",
            "invalid_datetime",
        ),
        (
            lambda d: d["campaigns"][0].update(budget_type="weekly"),
            "/campaigns/0/budget_type",
            "unknown_enum_value",
        ),
        (
            lambda d: d["campaigns"][0].update(paused_by_user=None),
            "/campaigns/0/paused_by_user",
            "null_not_allowed",
        ),
        (lambda d: d["campaigns"][0].pop("end_date"), "/campaigns/0/end_date", "missing_field"),
        (lambda d: d.update(as_of="2022-13-01"), "/as_of", "invalid_format"),
    ],
)
def test_portfolio_bad_input(mutate: Any, path: str, code: str) -> None:
    data = portfolio_input(
        changes=[change("2022-10-10T12:00Z", 1000, 500, 800)], campaigns=[campaign("A", 10, 1)]
    )
    portfolio_cap.decide(copy.deepcopy(data))  # valid as built
    mutate(data)
    error = _bad(data)
    assert (error.path, error.code) == (path, code)


def test_portfolio_arithmetic_is_exact_for_long_amounts() -> None:
    big = "123456789012345678901234567890.125"
    result = portfolio(portfolio_input(amount="123456789012345678901234567891", spent=big))
    assert result["portfolio"]["remaining"] == usd("0.88")  # 0.875 -> 0.88
    assert result["billing"]["spend"] == usd("123456789012345678901234567890.12")


@given(portfolio_cap_inputs())
@SETTINGS
def test_portfolio_generated_inputs_and_outputs_follow_the_schemas(data: dict[str, Any]) -> None:
    validate(data, PORTFOLIO, "input")
    result = portfolio_cap.decide(data)
    validate(result, PORTFOLIO, "output")
    assert len(result["campaigns"]) == len(data["campaigns"])
    for item in result["campaigns"]:
        assert item["delivering"] is (item["reason"] == "delivering")
        if not item["delivering"]:
            assert item["spendable"]["amount"] == "0.00"
