"""Reference implementation of ``budgets/amazon-ads-portfolio-cap`` (CONTRACTS.md section 5).

Written by hand from the contract (clauses D1-D9 and the section's "Readings to follow"). Bad
input raises a ``CodedInputError`` (a ReferenceInputError with a stable ``code``): first
whatever the input schema rejects (``tests.oracles.contracts.values``), then the cross-field rules of
``policies/budgets/amazon-ads-portfolio-cap/INPUT_RULES.md``, in the order listed there.
Arithmetic is exact (an unbounded decimal context); outputs are rounded half-even to cents.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from tests.oracles.contracts.values import (
    EXACT,
    CodedInputError,
    amount,
    format_money,
    instant,
    validate,
)

POLICY_ID = "budgets/amazon-ads-portfolio-cap"
CAPPED_TYPES = ("monthly_recurring", "date_range")

# Stable codes of the cross-field rules (INPUT_RULES.md), in checking order.
INPUT_RULE_CODES = (
    "cap_amount_required",
    "range_start_required",
    "range_end_required",
    "range_start_after_end",
    "currency_mismatch",
)


def parse_date(text: str) -> date:
    """A date field that the schema has already validated (``YYYY-MM-DD``)."""
    return date.fromisoformat(text)


def _rule_error(path: str, code: str, text: str) -> CodedInputError:
    return CodedInputError(path, text, code)


@dataclass(frozen=True)
class Money:
    """An exact amount with its currency code."""

    amount: Decimal
    currency: str

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Money:
        """Convert a money object already validated against the input schema."""
        return Money(amount(raw["amount"]), raw["currency"])

    def to_json(self) -> dict[str, str]:
        """Output form: amount rounded half-even to two decimals."""
        return format_money(self.amount, self.currency)


@dataclass(frozen=True)
class CapChange:
    """A change of the cap during the period."""

    at: datetime
    to: Money
    spent_at_change: Money


def _check_cross_field_rules(data: dict[str, Any]) -> None:
    """The rules JSON Schema cannot express, in the order of INPUT_RULES.md."""
    portfolio = data["portfolio"]
    cap = portfolio["cap"]
    cap_type = cap["type"]
    if cap_type in CAPPED_TYPES and cap["amount"] is None:
        raise _rule_error(
            "/portfolio/cap/amount", "cap_amount_required", f"a {cap_type} cap needs an amount"
        )
    if cap_type == "date_range":
        if cap["start_date"] is None:
            raise _rule_error(
                "/portfolio/cap/start_date",
                "range_start_required",
                "a date_range cap needs a start_date",
            )
        if cap["end_date"] is None:
            raise _rule_error(
                "/portfolio/cap/end_date",
                "range_end_required",
                "a date_range cap needs an end_date",
            )
        if parse_date(cap["start_date"]) > parse_date(cap["end_date"]):
            raise _rule_error(
                "/portfolio/cap/start_date",
                "range_start_after_end",
                f"start_date {cap['start_date']} is after end_date {cap['end_date']}",
            )

    # One currency per portfolio: every money value present must be in the currency of
    # portfolio.spent_in_period (the one money field always present).
    currency = portfolio["spent_in_period"]["currency"]
    money_fields: list[tuple[str, dict[str, Any] | None]] = [
        ("/portfolio/cap/amount", cap["amount"])
    ]
    for i, change in enumerate(portfolio["cap_changes"]):
        for name in ("from", "to", "spent_at_change"):
            money_fields.append((f"/portfolio/cap_changes/{i}/{name}", change[name]))
    for i, campaign in enumerate(data["campaigns"]):
        for name in ("budget", "spent"):
            money_fields.append((f"/campaigns/{i}/{name}", campaign[name]))
    for path, money in money_fields:
        if money is not None and money["currency"] != currency:
            raise _rule_error(
                f"{path}/currency",
                "currency_mismatch",
                f"{money['currency']!r} differs from the portfolio's spend currency {currency!r}",
            )


def _month_bounds(day: date) -> tuple[date, date]:
    first = day.replace(day=1)
    next_first = (first + timedelta(days=32)).replace(day=1)
    return first, next_first - timedelta(days=1)


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Compute the portfolio cap decision for ``data`` (the contract's input JSON).

    Raises CodedInputError(path, message, code) on bad input.
    """
    validate(data, POLICY_ID, "input")
    _check_cross_field_rules(data)
    with localcontext(EXACT):
        return _decide(data)


def _decide(data: dict[str, Any]) -> dict[str, Any]:
    as_of = parse_date(data["as_of"])
    portfolio = data["portfolio"]
    cap = portfolio["cap"]
    cap_type: str = cap["type"]
    spent = Money.from_json(portfolio["spent_in_period"])
    currency = spent.currency

    # --- the portfolio's period and cap state (D1, D5) ----------------------------------------
    cap_amount: Decimal | None = None
    period: tuple[date, date] | None = None
    cap_active = False
    ended = False
    range_not_started = False
    if cap_type == "monthly_recurring":
        cap_amount = Money.from_json(cap["amount"]).amount
        period = _month_bounds(as_of)
        cap_active = True  # the month of as_of always covers as_of
    elif cap_type == "date_range":
        cap_amount = Money.from_json(cap["amount"]).amount
        start, end = parse_date(cap["start_date"]), parse_date(cap["end_date"])
        period = (start, end)
        range_not_started = as_of < start
        ended = as_of > end  # end dates are inclusive
        cap_active = not range_not_started and not ended

    remaining: Decimal | None = None
    if cap_active:
        assert cap_amount is not None
        remaining = max(cap_amount - spent.amount, Decimal(0))
    exhausted = remaining is not None and remaining == 0

    # --- campaigns (D1, D5, D6) ----------------------------------------------------------------
    campaigns_out: list[dict[str, Any]] = []
    for raw in data["campaigns"]:
        budget = Money.from_json(raw["budget"]).amount
        campaign_spent = Money.from_json(raw["spent"]).amount
        end_date = None if raw["end_date"] is None else parse_date(raw["end_date"])
        if raw["paused_by_user"]:
            reason = "paused_by_user"
        elif end_date is not None and as_of > end_date:
            reason = "campaign_ended"
        elif ended:
            reason = "portfolio_date_range_ended"
        elif exhausted:
            reason = "portfolio_cap_reached"
        elif campaign_spent >= budget:
            reason = "campaign_budget_exhausted"
        else:
            reason = "delivering"
        delivering = reason == "delivering"
        spendable = Decimal(0)
        if delivering:
            spendable = budget - campaign_spent
            if remaining is not None:
                spendable = min(spendable, remaining)
        campaigns_out.append(
            {
                "id": raw["id"],
                "delivering": delivering,
                "reason": reason,
                "spendable": Money(spendable, raw["budget"]["currency"]).to_json(),
            }
        )

    # --- billing (D2, D3, D4) ------------------------------------------------------------------
    if cap_type == "none" or range_not_started:
        charge = spent.amount
    else:
        assert cap_amount is not None
        changes = [
            CapChange(
                at=instant(raw["at"]),
                to=Money.from_json(raw["to"]),
                spent_at_change=Money.from_json(raw["spent_at_change"]),
            )
            for raw in portfolio["cap_changes"]
        ]
        changes.sort(key=lambda change: change.at)  # stable: ties stay in input order
        billable = cap_amount
        for change in changes:
            if change.to.amount <= change.spent_at_change.amount:
                billable = change.spent_at_change.amount  # D4: locked at what was spent
            else:
                billable = change.to.amount  # D3: the new cap applies, clearing any lock
        charge = min(spent.amount, billable)
    credit = spent.amount - charge

    return {
        "portfolio": {
            "cap_active": cap_active,
            "period_start": None if period is None else period[0].isoformat(),
            "period_end": None if period is None else period[1].isoformat(),
            "remaining": None if remaining is None else Money(remaining, currency).to_json(),
            "exhausted": exhausted,
            "ended": ended,
        },
        "campaigns": campaigns_out,
        "billing": {
            "spend": spent.to_json(),
            "charge": Money(charge, currency).to_json(),
            "over_delivery_credit": Money(credit, currency).to_json(),
        },
    }
