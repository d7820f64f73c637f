"""The reference implementations of CONTRACTS.md sections 1-3 against the contract itself.

Three kinds of checks:

- every worked example of TERMS.md / CONTRACTS.md (A7 dates, B3, B12) and every "Readings to
  follow" line, as a hand-written case;
- bad input: each kind the contract names is rejected with the JSON path of its field, both by
  hand-written cases and by mutating generated valid inputs one field at a time;
- properties over generated inputs: they are valid, their outputs are valid, and the contract's
  invariants hold (total within the cap, status and qualified_at agree, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from tests.generators.mutations import field_mutations, mutate, schema_fields
from tests.generators.promotion_inputs import (
    amazon_click_credit_inputs,
    google_credit_budget_inputs,
    google_promo_code_inputs,
)
from tests.oracles.contracts import amazon_click_credit, google_credit_budget, google_promo_code
from tests.oracles.contracts.errors import ReferenceInputError
from tests.oracles.contracts.values import (
    CodedInputError,
    json_pointer,
    load_schema,
    parse_datetime,
    schema_errors,
)

AMAZON = amazon_click_credit.POLICY_ID
GOOGLE = google_promo_code.POLICY_ID
BUDGET = google_credit_budget.POLICY_ID
POLICIES = [AMAZON, GOOGLE, BUDGET]
DECIDE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    AMAZON: amazon_click_credit.decide,
    GOOGLE: google_promo_code.decide,
    BUDGET: google_credit_budget.decide,
}
INPUTS = {
    AMAZON: amazon_click_credit_inputs(),
    GOOGLE: google_promo_code_inputs(),
    BUDGET: google_credit_budget_inputs(),
}
PROPERTY_SETTINGS = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def usd(amount: str) -> dict[str, str]:
    return {"amount": amount, "currency": "USD"}


def thb(amount: Any) -> dict[str, Any]:
    return {"amount": amount, "currency": "THB"}


def raises_input_error(policy: str, data: Any) -> CodedInputError:
    with pytest.raises(ReferenceInputError) as caught:
        DECIDE[policy](data)
    assert isinstance(caught.value, CodedInputError)
    return caught.value


# ---------------------------------------------------------------------------------------------
# The schemas themselves
# ---------------------------------------------------------------------------------------------


def _objects(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        if "properties" in schema:
            yield schema
        for value in schema.values():
            yield from _objects(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _objects(value)


@pytest.mark.parametrize("kind", ["input", "output"])
@pytest.mark.parametrize("policy", POLICIES)
def test_schemas_follow_the_conventions(policy: str, kind: str) -> None:
    schema = load_schema(policy, kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for record in _objects(schema):
        assert record["required"] == list(record["properties"]), "every field is required"
        assert "additionalProperties" not in record, "unknown extra fields are ignored"
    if "$defs" in schema:
        money = schema["$defs"]["money"]
        assert money["format"] == "money" and money["required"] == ["amount", "currency"]
        amount = money["properties"]["amount"]
        if kind == "input":
            assert amount == {
                "type": ["string", "integer"],
                "format": "decimal",
                "pattern": "^\\d+(\\.\\d+)?$",
                "minimum": 0,
            }
        else:
            assert amount == {"type": "string", "pattern": "^\\d+\\.\\d{2}$"}
        assert money["properties"]["currency"] == {"type": "string", "minLength": 1}


# ---------------------------------------------------------------------------------------------
# Section 1: Amazon Ads click credit
# ---------------------------------------------------------------------------------------------


def launch(
    campaign_id: str,
    launched_at: str,
    ad_product: str = "sponsored_products",
    first_time: bool = True,
    active_days: int = 30,
) -> dict[str, Any]:
    return {
        "campaign_id": campaign_id,
        "ad_product": ad_product,
        "launched_at": launched_at,
        "first_time": first_time,
        "active_days": active_days,
    }


def amazon(*launches: dict[str, Any], store: str = "US", **advertiser: bool) -> dict[str, Any]:
    flags = {"invited": True, "good_standing": True, "valid_payment_method": True, **advertiser}
    return {
        "as_of": "2023-02-01T00:00:00Z",
        "advertiser": {"id": "A1", **flags},
        "store": store,
        "launches": list(launches),
    }


def test_period_is_the_pacific_days_of_a1() -> None:
    assert amazon_click_credit.PERIOD_START.astimezone(UTC) == datetime(2022, 9, 26, 7, tzinfo=UTC)
    assert amazon_click_credit.PERIOD_END.astimezone(UTC) == datetime(2023, 1, 1, 8, tzinfo=UTC)


@pytest.mark.parametrize(
    ("launched_at", "applied_on", "expires_on"),
    [
        # A7: launches from 2022-09-26 to 2022-10-31 get 2022-11-03 ...
        ("2022-09-26T00:00:00-07:00", "2022-11-03", "2022-12-03"),
        ("2022-09-30T12:00:00Z", "2022-11-03", "2022-12-03"),
        ("2022-10-31T23:59:59-07:00", "2022-11-03", "2022-12-03"),
        ("2022-11-01T06:59:59Z", "2022-11-03", "2022-12-03"),  # still Oct 31 in Los Angeles
        # ... launches in November 2022 get 2022-12-01 ...
        ("2022-11-01T07:00:00Z", "2022-12-01", "2022-12-31"),
        ("2022-11-06T01:30:00-08:00", "2022-12-01", "2022-12-31"),  # after the DST change
        ("2022-11-30T23:59:59.999999-08:00", "2022-12-01", "2022-12-31"),
        # ... launches in December 2022 get 2023-01-05; expires_on = applied_on + 30 days (A8).
        ("2022-12-01T00:00:00-08:00", "2023-01-05", "2023-02-04"),
        ("2022-12-31T23:59:59-08:00", "2023-01-05", "2023-02-04"),
        ("2023-01-01T07:59:59.999999Z", "2023-01-05", "2023-02-04"),
    ],
)
def test_a7_applied_on_and_a8_expires_on(
    launched_at: str, applied_on: str, expires_on: str
) -> None:
    out = amazon_click_credit.decide(amazon(launch("c1", launched_at)))
    assert out["credits"] == [
        {
            "ad_product": "sponsored_products",
            "campaign_id": "c1",
            "amount": usd("300.00"),
            "applied_on": applied_on,
            "expires_on": expires_on,
        }
    ]
    assert out["eligible"] is True and out["total"] == usd("300.00") and out["reasons"] == []


@pytest.mark.parametrize(
    ("launched_at", "in_period"),
    [
        ("2022-09-26T06:59:59Z", False),
        ("2022-09-26T06:59:59.999999Z", False),
        ("2022-09-26T07:00:00Z", True),
        ("2022-09-26T00:00-07:00", True),
        ("2022-09-26T07:00:01Z", True),
        ("2023-01-01T07:59:59Z", True),
        ("2023-01-01T08:00:00Z", False),
        ("2023-01-01T00:00:00-08:00", False),
        ("2023-01-01T08:00:01Z", False),
    ],
)
def test_a1_period_edges(launched_at: str, in_period: bool) -> None:
    out = amazon_click_credit.decide(amazon(launch("c1", launched_at)))
    assert out["eligible"] is in_period
    if not in_period:
        assert out["reasons"] == [{"campaign_id": "c1", "code": "launched_outside_period"}]


def test_a2_a3_amounts_and_cap_per_store() -> None:
    three = [
        launch("sp", "2022-10-01T00:00Z", "sponsored_products"),
        launch("sb", "2022-10-02T00:00Z", "sponsored_brands"),
        launch("sd", "2022-10-03T00:00Z", "sponsored_display"),
    ]
    for store, each, total in [
        ("FR", "400.00", "1200.00"),
        ("IT", "400.00", "1200.00"),
        ("ES", "400.00", "1200.00"),
        ("US", "300.00", "900.00"),
        ("UK", "300.00", "900.00"),
        ("DE", "300.00", "900.00"),
    ]:
        out = amazon_click_credit.decide(amazon(*three, store=store))
        assert [c["amount"] for c in out["credits"]] == [usd(each)] * 3
        assert out["total"] == usd(total)


@pytest.mark.parametrize("store", ["GB", "uk", "Us", "USA", "", "SE"])
def test_a4_store_codes_are_exact(store: str) -> None:
    out = amazon_click_credit.decide(amazon(launch("c1", "2022-10-01T00:00Z"), store=store))
    assert out == {
        "eligible": False,
        "credits": [],
        "pending": [],
        "total": usd("0.00"),
        "reasons": [{"campaign_id": None, "code": "store_not_eligible"}],
    }


def test_advertiser_checks_come_first_and_all_are_listed() -> None:
    data = amazon(
        launch("c1", "2022-10-01T00:00Z", first_time=False),
        launch("c2", "2022-10-01T00:00Z", active_days=3),
        store="GB",
        invited=False,
        good_standing=False,
        valid_payment_method=False,
    )
    out = amazon_click_credit.decide(data)
    assert out["reasons"] == [
        {"campaign_id": None, "code": code}
        for code in [
            "store_not_eligible",
            "not_invited",
            "not_in_good_standing",
            "no_valid_payment_method",
        ]
    ]
    assert out["credits"] == [] and out["pending"] == [] and out["eligible"] is False
    only_payment = amazon(launch("c1", "2022-10-01T00:00Z"), valid_payment_method=False)
    assert amazon_click_credit.decide(only_payment)["reasons"] == [
        {"campaign_id": None, "code": "no_valid_payment_method"}
    ]


def test_a10_earliest_qualifying_launch_earns_and_ties_go_by_input_order() -> None:
    out = amazon_click_credit.decide(
        amazon(
            launch("late", "2022-11-10T00:00Z"),
            launch("early", "2022-10-10T00:00Z"),
            launch("tie-a", "2022-10-05T00:00Z", "sponsored_brands"),
            launch("tie-b", "2022-10-04T17:00-07:00", "sponsored_brands"),  # same instant
        )
    )
    assert [(c["campaign_id"], c["applied_on"]) for c in out["credits"]] == [
        ("early", "2022-11-03"),
        ("tie-a", "2022-11-03"),
    ]
    assert out["reasons"] == [
        {"campaign_id": "late", "code": "product_already_credited"},
        {"campaign_id": "tie-b", "code": "product_already_credited"},
    ]


def test_product_already_credited_applies_whatever_else_fails_in_code_order() -> None:
    out = amazon_click_credit.decide(
        amazon(
            launch("x", "2022-08-01T00:00Z", first_time=False, active_days=0),
            launch("earner", "2022-10-01T00:00Z"),
            launch("waiting", "2022-12-01T00:00Z", active_days=29),
            launch("outside", "2023-02-01T00:00Z", active_days=90),
            launch("other", "2022-08-01T00:00Z", "sponsored_display", first_time=False),
        )
    )
    assert out["credits"][0]["campaign_id"] == "earner" and len(out["credits"]) == 1
    assert out["pending"] == []  # a waiting launch of a credited product is not pending
    assert out["reasons"] == [
        {"campaign_id": "x", "code": "not_first_time"},
        {"campaign_id": "x", "code": "launched_outside_period"},
        {"campaign_id": "x", "code": "product_already_credited"},
        {"campaign_id": "waiting", "code": "product_already_credited"},
        {"campaign_id": "outside", "code": "launched_outside_period"},
        {"campaign_id": "outside", "code": "product_already_credited"},
        # no credit for sponsored_display: product_already_credited does not apply
        {"campaign_id": "other", "code": "not_first_time"},
        {"campaign_id": "other", "code": "launched_outside_period"},
    ]


def test_a6_waiting_launch_is_pending_and_does_not_block() -> None:
    out = amazon_click_credit.decide(
        amazon(
            launch("w1", "2022-09-26T00:00-07:00", active_days=29),  # earlier, but waiting
            launch("q", "2022-10-15T00:00Z", active_days=30),
            launch("w2", "2022-12-31T23:00-08:00", "sponsored_brands", active_days=0),
            launch("w3", "2022-10-01T03:00Z", "sponsored_display", active_days=29),
            launch("w4", "2022-10-02T03:00Z", "sponsored_display", active_days=1),
        )
    )
    assert [c["campaign_id"] for c in out["credits"]] == ["q"]
    assert out["pending"] == [
        # qualifies_on: the launch date in Pacific time + 30 days
        {"ad_product": "sponsored_brands", "campaign_id": "w2", "qualifies_on": "2023-01-30"},
        {"ad_product": "sponsored_display", "campaign_id": "w3", "qualifies_on": "2022-10-30"},
        {"ad_product": "sponsored_display", "campaign_id": "w4", "qualifies_on": "2022-10-31"},
    ]
    assert out["reasons"] == [{"campaign_id": "w1", "code": "product_already_credited"}]


@pytest.mark.parametrize(("active_days", "credited"), [(29, False), (30, True), (31, True)])
def test_a6_thirty_active_days(active_days: int, credited: bool) -> None:
    out = amazon_click_credit.decide(
        amazon(launch("c", "2022-10-01T00:00Z", active_days=active_days))
    )
    assert bool(out["credits"]) is credited and bool(out["pending"]) is not credited
    assert out["reasons"] == []


def test_no_launches_no_reasons() -> None:
    out = amazon_click_credit.decide(amazon())
    assert out == {
        "eligible": False,
        "credits": [],
        "pending": [],
        "total": usd("0.00"),
        "reasons": [],
    }


# ---------------------------------------------------------------------------------------------
# Section 2: Google Ads promotional code
# ---------------------------------------------------------------------------------------------


def google(**changes: Any) -> dict[str, Any]:
    """The B3 offer: spend 750 THB within 30 days of entering the code (entered within 14 days
    of creating the account), get 1,500 THB. Keys with a dot change a nested field."""
    data: dict[str, Any] = {
        "as_of": "2023-03-20T00:00:00+07:00",
        "offer": {
            "code": "SPEND750",
            "spend_threshold": thb("750"),
            "credit": thb("1500"),
            "entry_window_days": 14,
            "spend_window_days": 30,
            "code_expires_at": "2023-12-31T23:59:59+07:00",
            "new_advertisers_only": True,
        },
        "account": {
            "created_at": "2023-03-01T10:00:00+07:00",
            "time_zone": "Asia/Bangkok",
            "is_new_advertiser": True,
            "payment_setting": "automatic",
            "monthly_invoicing_since": None,
            "billing_details_entered": True,
            "vat_rate": "0",
        },
        "code_entered_at": "2023-03-05T09:00:00+07:00",
        "costs": [
            {"at": "2023-03-06T10:00:00+07:00", "amount": thb("500.00")},
            {"at": "2023-03-10T12:00:00+07:00", "amount": thb(250)},
        ],
        "payments": [],
    }
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        target = data
        for parent in parents:
            target = target[parent]
        target[leaf] = value
    return data


def test_b3_spend_750_get_1500() -> None:
    assert google_promo_code.decide(google()) == {
        "status": "qualified",
        "reasons": [],
        "counted_spend": thb("750.00"),
        "qualified_at": "2023-03-10T05:00:00Z",
        "credit": thb("1500.00"),
        "credit_due_by": "2023-04-10",  # 2023-03-10 in Bangkok + 31 days
    }


def test_credit_due_by_is_the_local_date_plus_31_days() -> None:
    costs = [{"at": "2023-03-10T17:30:00.25Z", "amount": thb(750)}]  # 00:30 on 03-11 in Bangkok
    out = google_promo_code.decide(google(costs=costs))
    assert out["qualified_at"] == "2023-03-10T17:30:00.250000Z"
    assert out["credit_due_by"] == "2023-04-11"
    out = google_promo_code.decide(google(costs=costs, **{"account.time_zone": "UTC"}))
    assert out["credit_due_by"] == "2023-04-10"


def test_b4_spend_before_the_code_does_not_count() -> None:
    costs = [
        {"at": "2023-03-02T10:00:00+07:00", "amount": thb(750)},
        {"at": "2023-03-05T08:59:59.999999+07:00", "amount": thb(750)},
        {"at": "2023-03-05T09:00:00+07:00", "amount": thb("100")},  # at entry: counts
    ]
    out = google_promo_code.decide(google(costs=costs))
    assert out["status"] == "pending" and out["reasons"] == ["spend_below_threshold"]
    assert out["counted_spend"] == thb("100.00") and out["qualified_at"] is None


def test_b6_spend_window_end_is_exclusive_and_elapses() -> None:
    window_end = "2023-04-04T09:00:00+07:00"  # code entry + 30 x 24 h
    costs = [
        {"at": "2023-03-06T10:00:00+07:00", "amount": thb(500)},
        {"at": window_end, "amount": thb(250)},
    ]
    before = google_promo_code.decide(google(costs=costs, as_of="2023-04-04T08:59:59+07:00"))
    assert before["status"] == "pending" and before["reasons"] == ["spend_below_threshold"]
    assert before["counted_spend"] == thb("500.00")
    at_end = google_promo_code.decide(google(costs=costs, as_of=window_end))
    assert at_end["status"] == "ineligible"
    assert at_end["reasons"] == ["spend_below_threshold", "spend_window_elapsed"]
    costs[1]["at"] = "2023-04-04T08:59:59.999999+07:00"
    just_in = google_promo_code.decide(google(costs=costs, as_of="2023-05-01T00:00Z"))
    assert just_in["status"] == "qualified"
    assert just_in["qualified_at"] == "2023-04-04T01:59:59.999999Z"


def test_qualified_at_is_where_the_running_sum_in_time_order_reaches_the_threshold() -> None:
    costs = [
        {"at": "2023-03-20T00:00:00Z", "amount": thb(700)},  # input order is not time order
        {"at": "2023-03-06T00:00:00Z", "amount": thb(49)},
        {"at": "2023-03-10T00:00:00Z", "amount": thb("0.99")},
        {"at": "2023-03-10T00:00:00Z", "amount": thb("0.01")},
    ]
    out = google_promo_code.decide(google(costs=costs))
    assert out["qualified_at"] == "2023-03-20T00:00:00Z"
    costs[0]["amount"] = thb("700.00")
    costs.append({"at": "2023-03-15T00:00:00Z", "amount": thb(700)})
    assert google_promo_code.decide(google(costs=costs))["qualified_at"] == "2023-03-15T00:00:00Z"


@pytest.mark.parametrize(
    ("entered", "codes"),
    [
        ("2023-03-15T09:59:59.999999+07:00", []),  # created + 14 days - 1 us
        ("2023-03-15T10:00:00+07:00", ["code_entered_after_entry_window"]),
        ("2023-03-01T10:00:00+07:00", []),  # at creation
    ],
)
def test_b3_entry_window(entered: str, codes: list[str]) -> None:
    costs = [{"at": "2023-03-16T00:00:00+07:00", "amount": thb(750)}]
    out = google_promo_code.decide(google(code_entered_at=entered, costs=costs))
    assert out["reasons"] == codes
    assert out["status"] == ("ineligible" if codes else "qualified")


@pytest.mark.parametrize(
    ("expires", "codes"),
    [
        ("2023-03-05T09:00:00+07:00", []),  # entered exactly at expiry: valid
        ("2023-03-05T08:59:59+07:00", ["code_entered_after_expiry"]),
    ],
)
def test_b6_code_expiry(expires: str, codes: list[str]) -> None:
    out = google_promo_code.decide(google(**{"offer.code_expires_at": expires}))
    assert out["reasons"] == codes
    # counted_spend is always given, even when an entry check fails
    assert out["counted_spend"] == thb("750.00")


def test_entry_checks_all_reported_in_order_without_spend_or_billing_codes() -> None:
    data = google(
        code_entered_at="2023-03-20T00:00:00+07:00",
        costs=[],
        **{
            "offer.code_expires_at": "2023-03-10T00:00:00+07:00",
            "account.is_new_advertiser": False,
            "account.payment_setting": "monthly_invoicing",
            "account.monthly_invoicing_since": "2023-03-25T00:00:00+07:00",
            "account.billing_details_entered": False,
        },
    )
    out = google_promo_code.decide(data)
    assert out["status"] == "ineligible"
    assert out["reasons"] == [
        "code_entered_after_expiry",
        "code_entered_after_entry_window",
        "not_new_advertiser",
        "code_entered_before_monthly_invoicing",
    ]
    assert out["qualified_at"] is None and out["credit"] is None and out["credit_due_by"] is None


def test_b2_old_advertisers_pass_when_the_offer_is_for_everyone() -> None:
    data = google(**{"account.is_new_advertiser": False, "offer.new_advertisers_only": False})
    assert google_promo_code.decide(data)["status"] == "qualified"


@pytest.mark.parametrize(
    ("as_of", "extra", "status", "reasons"),
    [
        ("2023-03-10T00:00:00+07:00", {}, "pending", ["code_not_entered"]),
        # the entry window ends at created_at + 14 days (exclusive)
        ("2023-03-15T09:59:59+07:00", {}, "pending", ["code_not_entered"]),
        ("2023-03-15T10:00:00+07:00", {}, "ineligible", ["code_not_entered"]),
        # the code's expiry, read strictly: at the expiry instant it is no longer "before"
        (
            "2023-03-08T00:00:00+07:00",
            {"offer.code_expires_at": "2023-03-08T00:00:01+07:00"},
            "pending",
            ["code_not_entered"],
        ),
        (
            "2023-03-08T00:00:00+07:00",
            {"offer.code_expires_at": "2023-03-08T00:00:00+07:00"},
            "ineligible",
            ["code_not_entered"],
        ),
        # any other entry check makes it ineligible; the ones needing an entry time are skipped
        (
            "2023-03-10T00:00:00+07:00",
            {"account.is_new_advertiser": False, "account.payment_setting": "monthly_invoicing"},
            "ineligible",
            ["code_not_entered", "not_new_advertiser"],
        ),
        (
            "2023-03-10T00:00:00+07:00",
            {"account.billing_details_entered": False},
            "pending",
            ["code_not_entered"],
        ),
    ],
)
def test_code_not_entered(
    as_of: str, extra: dict[str, Any], status: str, reasons: list[str]
) -> None:
    out = google_promo_code.decide(google(code_entered_at=None, as_of=as_of, **extra))
    assert out["status"] == status and out["reasons"] == reasons
    assert out["counted_spend"] == thb("0.00")


def test_b5_billing_details_missing() -> None:
    met = google_promo_code.decide(google(**{"account.billing_details_entered": False}))
    assert met["status"] == "pending" and met["reasons"] == ["billing_details_missing"]
    assert met["qualified_at"] is None and met["credit"] is None
    unmet = google(
        costs=[], as_of="2023-05-01T00:00Z", **{"account.billing_details_entered": False}
    )
    assert google_promo_code.decide(unmet)["reasons"] == [
        "spend_below_threshold",
        "spend_window_elapsed",
        "billing_details_missing",
    ]


def _manual(payments: list[tuple[str, str]], vat: str = "0.07", **changes: Any) -> dict[str, Any]:
    settings = {"account.payment_setting": "manual", "account.vat_rate": vat}
    return google(
        payments=[{"at": at, "amount": thb(amount)} for at, amount in payments],
        **(settings | changes),
    )


def test_b8_b10_manual_payments_net_of_vat_exactly() -> None:
    # 750 x 1.07 = 802.50 gross, exactly
    exact = _manual([("2023-03-05T10:00:00+07:00", "800"), ("2023-03-05T11:00:00+07:00", "2.5")])
    out = google_promo_code.decide(exact)
    assert out["status"] == "qualified" and out["qualified_at"] == "2023-03-10T05:00:00Z"
    short = _manual([("2023-03-05T10:00:00+07:00", "802.499999")])
    out = google_promo_code.decide(short)
    assert out["status"] == "pending" and out["reasons"] == ["prepayment_below_threshold"]
    # payments outside the window do not count
    early = _manual([("2023-03-05T08:00:00+07:00", "1000")])
    assert google_promo_code.decide(early)["reasons"] == ["prepayment_below_threshold"]
    # B8: qualified_at is the later of spend reaching the threshold and payments doing so
    late = _manual([("2023-03-12T00:00:00Z", "802.50")])
    assert google_promo_code.decide(late)["qualified_at"] == "2023-03-12T00:00:00Z"
    both = _manual([("2023-03-12T00:00:00Z", "1")], costs=[], as_of="2023-06-01T00:00Z")
    assert google_promo_code.decide(both)["reasons"] == [
        "spend_below_threshold",
        "prepayment_below_threshold",
        "spend_window_elapsed",
    ]


def test_payments_are_ignored_for_other_settings() -> None:
    for setting in ("automatic", "monthly_invoicing"):
        data = _manual(
            [],
            **{
                "account.payment_setting": setting,
                "account.monthly_invoicing_since": "2023-03-01T00:00Z",
            },
        )
        assert google_promo_code.decide(data)["status"] == "qualified"


@pytest.mark.parametrize(
    ("since", "codes"),
    [
        ("2023-03-05T09:00:00+07:00", []),  # at entry: ok
        ("2023-03-05T09:00:00.000001+07:00", ["code_entered_before_monthly_invoicing"]),
        (None, ["code_entered_before_monthly_invoicing"]),
    ],
)
def test_b11_monthly_invoicing(since: str | None, codes: list[str]) -> None:
    data = google(
        **{"account.payment_setting": "monthly_invoicing", "account.monthly_invoicing_since": since}
    )
    out = google_promo_code.decide(data)
    assert out["reasons"] == codes and out["status"] == ("ineligible" if codes else "qualified")


def test_zero_threshold_is_met_at_code_entry() -> None:
    out = google_promo_code.decide(google(costs=[], **{"offer.spend_threshold": thb(0)}))
    assert out["status"] == "qualified" and out["qualified_at"] == "2023-03-05T02:00:00Z"


# ---------------------------------------------------------------------------------------------
# Section 3: Google Ads credit budget
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spent", "credit_used", "charge", "carried"),
    [
        ("7500", "1500.00", "6000.00", "0.00"),  # B12
        ("1000", "1000.00", "0.00", "500.00"),  # B12, B13
        ("9000", "1500.00", "6000.00", "0.00"),  # never above the original budget
        ("1500", "1500.00", "0.00", "0.00"),
        ("1500.01", "1500.00", "0.01", "0.00"),
        ("0", "0.00", "0.00", "1500.00"),
    ],
)
def test_b12_budget_6000_credit_1500(
    spent: str, credit_used: str, charge: str, carried: str
) -> None:
    out = google_credit_budget.decide(
        {"budget": thb(6000), "credit_available": thb(1500), "spent": thb(spent)}
    )
    assert out == {
        "effective_budget": thb("7500.00"),
        "credit_used": thb(credit_used),
        "charge": thb(charge),
        "credit_carried_over": thb(carried),
    }


def test_budget_rounds_half_even_from_exact_values() -> None:
    out = google_credit_budget.decide(
        {"budget": thb("0.005"), "credit_available": thb("0.015"), "spent": thb("0.125")}
    )
    assert out == {
        "effective_budget": thb("0.02"),
        "credit_used": thb("0.02"),  # 0.015 -> 0.02
        "charge": thb("0.00"),  # min(0.11, 0.005) = 0.005 -> 0.00
        "credit_carried_over": thb("0.00"),
    }
    long = "12345678901234567890123456789.125"
    out = google_credit_budget.decide(
        {"budget": thb(long), "credit_available": thb(long), "spent": thb(0)}
    )
    assert out["effective_budget"] == thb("24691357802469135780246913578.25")


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


def _without(data: dict[str, Any], *path: str | int) -> dict[str, Any]:
    data = copy.deepcopy(data)
    target: Any = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return data


@pytest.mark.parametrize(
    ("policy", "data", "path", "code"),
    [
        (
            AMAZON,
            amazon(launch("c", "2022-10-01T00:00:00")),
            "/launches/0/launched_at",
            "datetime_without_offset",
        ),
        (
            AMAZON,
            amazon(launch("c", "2022-10-01 00:00:00Z")),
            "/launches/0/launched_at",
            "invalid_datetime",
        ),
        (
            AMAZON,
            amazon(launch("c", "2022-10-01T00:00:00.1234567Z")),
            "/launches/0/launched_at",
            "invalid_datetime",
        ),
        (
            AMAZON,
            amazon(launch("c", "2022-10-01T00:00Z", active_days=-1)),
            "/launches/0/active_days",
            "negative_value",
        ),
        (
            AMAZON,
            amazon(launch("c", "2022-10-01T00:00Z", active_days=30.0)),  # type: ignore[arg-type]
            "/launches/0/active_days",
            "wrong_type",
        ),
        (
            AMAZON,
            amazon(launch("c", "2022-10-01T00:00Z", "video")),
            "/launches/0/ad_product",
            "unknown_enum_value",
        ),
        (
            AMAZON,
            _without(amazon(launch("c", "2022-10-01T00:00Z")), "launches", 0, "first_time"),
            "/launches/0/first_time",
            "missing_field",
        ),
        (AMAZON, amazon(invited=None), "/advertiser/invited", "null_not_allowed"),  # type: ignore[arg-type]
        (AMAZON, amazon(store=None), "/store", "null_not_allowed"),  # type: ignore[arg-type]
        (AMAZON, [], "", "wrong_type"),
        (GOOGLE, google(**{"offer.credit": thb(1.5)}), "/offer/credit/amount", "wrong_type"),
        (GOOGLE, google(**{"offer.credit": thb("1e3")}), "/offer/credit/amount", "invalid_format"),
        (GOOGLE, google(**{"offer.credit": thb(" 1")}), "/offer/credit/amount", "invalid_format"),
        (GOOGLE, google(**{"offer.credit": thb("-1")}), "/offer/credit/amount", "invalid_format"),
        (GOOGLE, google(**{"offer.credit": thb("5\n")}), "/offer/credit/amount", "invalid_format"),
        (
            GOOGLE,
            google(**{"offer.credit": thb("\u0663")}),
            "/offer/credit/amount",
            "invalid_format",
        ),
        (GOOGLE, google(**{"offer.credit": thb(-5)}), "/offer/credit/amount", "negative_value"),
        (GOOGLE, google(**{"offer.credit": thb(True)}), "/offer/credit/amount", "wrong_type"),
        (
            GOOGLE,
            google(**{"offer.credit": {"amount": "1"}}),
            "/offer/credit/currency",
            "missing_field",
        ),
        (
            GOOGLE,
            google(**{"offer.spend_window_days": -1}),
            "/offer/spend_window_days",
            "negative_value",
        ),
        (GOOGLE, google(**{"account.vat_rate": "7%"}), "/account/vat_rate", "invalid_format"),
        (
            GOOGLE,
            google(**{"account.time_zone": "Asia/Bangkok "}),
            "/account/time_zone",
            "unknown_time_zone",
        ),
        (
            GOOGLE,
            google(**{"account.payment_setting": "card"}),
            "/account/payment_setting",
            "unknown_enum_value",
        ),
        (
            GOOGLE,
            _without(google(), "account", "monthly_invoicing_since"),
            "/account/monthly_invoicing_since",
            "missing_field",
        ),
        (GOOGLE, _without(google(), "code_entered_at"), "/code_entered_at", "missing_field"),
        (
            GOOGLE,
            google(costs=[{"at": "2023-03-06T10:00:00+07:00", "amount": None}]),
            "/costs/0/amount",
            "null_not_allowed",
        ),
        # cross-field rules (INPUT_RULES.md)
        (
            GOOGLE,
            google(code_entered_at="2023-03-01T09:59:59+07:00"),
            "/code_entered_at",
            "code_entered_before_account_created",
        ),
        (
            GOOGLE,
            google(
                costs=[{"at": "2023-03-06T10:00:00Z", "amount": thb(1)}] * 3
                + [{"at": "2023-03-06T10:00:00Z", "amount": {"amount": 1, "currency": "thb"}}]
            ),
            "/costs/3/amount/currency",
            "currency_mismatch",
        ),
        (
            GOOGLE,
            _manual([("2023-03-06T10:00:00Z", "1")] * 10)
            | {
                "payments": [{"at": "2023-03-06T10:00:00Z", "amount": thb(1)}] * 10
                + [{"at": "2023-03-06T10:00:00Z", "amount": {"amount": 1, "currency": "USD"}}]
            },
            "/payments/10/amount/currency",
            "currency_mismatch",
        ),
        (
            GOOGLE,
            google(**{"offer.credit": {"amount": 1500, "currency": "USD"}}),
            "/offer/credit/currency",
            "currency_mismatch",
        ),
        (
            BUDGET,
            {"budget": thb(1), "credit_available": thb(1), "spent": usd("1")},
            "/spent/currency",
            "currency_mismatch",
        ),
        (
            BUDGET,
            {"budget": thb(1), "credit_available": usd("1"), "spent": usd("1")},
            "/credit_available/currency",
            "currency_mismatch",
        ),
        (
            BUDGET,
            {"budget": thb(1), "credit_available": thb(1), "spent": thb("1.")},
            "/spent/amount",
            "invalid_format",
        ),
        (
            BUDGET,
            {"budget": thb(1), "credit_available": {"amount": 1, "currency": ""}, "spent": thb(1)},
            "/credit_available/currency",
            "empty_string",
        ),
    ],
)
def test_bad_input_names_its_field(policy: str, data: Any, path: str, code: str) -> None:
    error = raises_input_error(policy, data)
    assert (error.path, error.code) == (path, code), error.message


# ---------------------------------------------------------------------------------------------
# Mutations: any single bad field of a valid input is reported at its own path
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_one_bad_field_is_reported_at_its_path(policy: str, data: st.DataObject) -> None:
    valid = data.draw(INPUTS[policy], label="valid input")
    schema = load_schema(policy, "input")
    fields = list(schema_fields(schema, schema, valid))
    path, sub, nullable, in_record = data.draw(st.sampled_from(fields), label="field")
    bad, code = data.draw(
        st.sampled_from(field_mutations(sub, nullable, in_record)), label="mutation"
    )
    error = raises_input_error(policy, mutate(valid, path, bad))
    assert (error.path, error.code) == (json_pointer(path), code), error.message


# ---------------------------------------------------------------------------------------------
# Properties of generated inputs
# ---------------------------------------------------------------------------------------------


def _money(value: dict[str, str]) -> Decimal:
    return Decimal(value["amount"])


def _check_amazon(data: dict[str, Any], out: dict[str, Any]) -> None:
    cap = Decimal(1200) if data["store"] in {"FR", "IT", "ES"} else Decimal(900)
    assert _money(out["total"]) <= cap
    assert sum(map(_money, (c["amount"] for c in out["credits"])), Decimal(0)) == _money(
        out["total"]
    )
    assert out["eligible"] is bool(out["credits"])
    products = [c["ad_product"] for c in out["credits"]]
    assert len(products) == len(set(products)), "one credit per ad product (A10)"
    for credit in out["credits"]:
        applied = date.fromisoformat(credit["applied_on"])
        assert applied.weekday() == 3 and applied >= date(2022, 11, 3)
        assert date.fromisoformat(credit["expires_on"]) == applied + timedelta(days=30)
    credited, waiting = (
        {c["campaign_id"] for c in out["credits"]},
        {p["campaign_id"] for p in out["pending"]},
    )
    refused = {r["campaign_id"] for r in out["reasons"]}
    if None in refused:
        assert not credited and not waiting and refused == {None}
    else:
        ids = [launch["campaign_id"] for launch in data["launches"]]
        assert sorted([*credited, *waiting, *refused]) == sorted(ids), "each launch in one list"
    order = [launch["campaign_id"] for launch in data["launches"]]
    for key in ("credits", "pending"):
        listed = [item["campaign_id"] for item in out[key]]
        assert listed == sorted(listed, key=order.index), f"{key} in input order"


def _check_google(data: dict[str, Any], out: dict[str, Any]) -> None:
    qualified = out["status"] == "qualified"
    assert (out["reasons"] == []) is qualified
    for field in ("qualified_at", "credit", "credit_due_by"):
        assert (out[field] is not None) is qualified
    if data["code_entered_at"] is None:
        assert _money(out["counted_spend"]) == 0
    if qualified:
        entered = parse_datetime(data["code_entered_at"])
        at = parse_datetime(out["qualified_at"])
        assert entered is not None and at is not None
        assert entered <= at < entered + timedelta(days=data["offer"]["spend_window_days"]) or (
            at == entered  # a zero requirement is met at entry
        )
        assert _money(out["counted_spend"]) >= Decimal(
            str(data["offer"]["spend_threshold"]["amount"])
        ) - Decimal("0.005")


def _check_budget(data: dict[str, Any], out: dict[str, Any]) -> None:
    half_cent = Decimal("0.005")
    budget, credit = (Decimal(str(data[k]["amount"])) for k in ("budget", "credit_available"))
    assert _money(out["charge"]) <= budget + half_cent
    assert (
        abs(_money(out["credit_used"]) + _money(out["credit_carried_over"]) - credit)
        <= 2 * half_cent
    )
    assert _money(out["credit_used"]) <= credit + half_cent


CHECKS = {AMAZON: _check_amazon, GOOGLE: _check_google, BUDGET: _check_budget}


@pytest.mark.parametrize("policy", POLICIES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_generated_inputs_and_outputs_are_valid(policy: str, data: st.DataObject) -> None:
    given_input = data.draw(INPUTS[policy], label="input")
    assert [e.path for e in schema_errors(given_input, policy, "input")] == []
    # A generic validator (format as annotation only) accepts them too.
    assert not list(Draft202012Validator(load_schema(policy, "input")).iter_errors(given_input))
    out = DECIDE[policy](copy.deepcopy(given_input))
    assert [(e.path, e.message) for e in schema_errors(out, policy, "output")] == []
    CHECKS[policy](given_input, out)
