"""Reference implementation of ``promotions/google-ads-promo-code`` (CONTRACTS.md section 2).

Written by hand from the contract's table and "Readings to follow" (clauses B1-B11); it never
reads the DSL policy. Choices where the contract is silent are marked "Choice:".

All instants are compared as whole microseconds since the epoch, so that windows of any
length (``entry_window_days`` is an unbounded integer) never overflow ``datetime``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from tests.oracles.contracts.values import (
    EXACT,
    MICROS_PER_DAY,
    CodedInputError,
    amount,
    first_error,
    format_date,
    format_datetime,
    format_money,
    instant,
    json_pointer,
    micros,
    validate,
    zone,
)

POLICY_ID = "promotions/google-ads-promo-code"

CREDIT_DUE_DAYS = 31  # B3, B6, B8

# The entry checks, in the contract's order of checking.
ENTRY_CODES = (
    "code_not_entered",
    "code_entered_after_expiry",
    "code_entered_after_entry_window",
    "not_new_advertiser",
    "code_entered_before_monthly_invoicing",
)


@dataclass(frozen=True, slots=True)
class Movement:
    """A cost or a payment: when, how much, and where it sits in the input."""

    path: str
    index: int
    at: datetime
    value: Decimal

    @property
    def at_us(self) -> int:
        """The instant in microseconds since the epoch."""
        return micros(self.at)


@dataclass(frozen=True, slots=True)
class Reached:
    """The moment a running sum first reached its target, and the field that made it."""

    at: datetime
    path: str


def _movements(data: dict[str, Any], key: str) -> list[Movement]:
    return [
        Movement(f"/{key}/{i}", i, instant(item["at"]), amount(item["amount"]["amount"]))
        for i, item in enumerate(data[key])
    ]


def _cross_field_errors(data: dict[str, Any]) -> list[CodedInputError]:
    """The input rules JSON Schema cannot express (INPUT_RULES.md), all of them."""
    offer, account = data["offer"], data["account"]
    currency = offer["spend_threshold"]["currency"]
    errors = []
    # Choice: the offer's currency is the threshold's; an offer whose credit is in another
    # currency has no single currency, so it is bad input too.
    if offer["credit"]["currency"] != currency:
        errors.append(
            CodedInputError(
                "/offer/credit/currency",
                f"credit currency {offer['credit']['currency']!r} is not the offer's {currency!r}",
                "currency_mismatch",
            )
        )
    entered = data["code_entered_at"]
    if entered is not None and micros(instant(entered)) < micros(instant(account["created_at"])):
        errors.append(
            CodedInputError(
                "/code_entered_at",
                "the code was entered before the account was created",
                "code_entered_before_account_created",
            )
        )
    for key in ("costs", "payments"):
        for i, item in enumerate(data[key]):
            if item["amount"]["currency"] != currency:
                errors.append(
                    CodedInputError(
                        json_pointer([key, i, "amount", "currency"]),
                        f"currency {item['amount']['currency']!r} is not the offer's {currency!r}",
                        "currency_mismatch",
                    )
                )
    return errors


def _first_reached(
    movements: list[Movement], target: Decimal, start: datetime, start_path: str
) -> Reached | None:
    """When the running sum, in time order (ties: input order), first reached ``target``.

    Choice: a target of zero is reached at code entry, before any movement (the empty sum
    already reaches it), whatever the window's length.
    """
    if target <= 0:
        return Reached(start, start_path)
    running = Decimal(0)
    for movement in sorted(movements, key=lambda m: (m.at_us, m.index)):
        running += movement.value
        if running >= target:
            return Reached(movement.at, f"{movement.path}/at")
    return None


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Decide one account's promotional-code offer; the contract's output JSON.

    Raises ``ReferenceInputError`` (a ``CodedInputError``) on bad input: schema violations
    first, then the cross-field rules of INPUT_RULES.md (the smallest JSON path first).
    """
    validate(data, POLICY_ID)
    cross_field = _cross_field_errors(data)
    if cross_field:
        raise first_error(cross_field)
    with localcontext(EXACT):
        return _decide(data)


def _decide(data: dict[str, Any]) -> dict[str, Any]:
    offer, account = data["offer"], data["account"]
    currency = offer["spend_threshold"]["currency"]
    threshold = amount(offer["spend_threshold"]["amount"])
    as_of_us = micros(instant(data["as_of"]))
    created_us = micros(instant(account["created_at"]))
    expires_us = micros(instant(offer["code_expires_at"]))
    entry_end_us = created_us + offer["entry_window_days"] * MICROS_PER_DAY
    entered = None if data["code_entered_at"] is None else instant(data["code_entered_at"])
    payment_setting = account["payment_setting"]

    # Entry checks (B2, B3, B6, B8, B11): all that apply, in order; ``code_not_entered`` skips
    # those that need an entry time.
    failing: set[str] = set()
    if entered is None:
        failing.add("code_not_entered")
    else:
        entered_us = micros(entered)
        if entered_us > expires_us:
            failing.add("code_entered_after_expiry")
        if not entered_us < entry_end_us:
            failing.add("code_entered_after_entry_window")
        if payment_setting == "monthly_invoicing":
            since = account["monthly_invoicing_since"]
            if since is None or entered_us < micros(instant(since)):
                failing.add("code_entered_before_monthly_invoicing")
    if offer["new_advertisers_only"] and not account["is_new_advertiser"]:
        failing.add("not_new_advertiser")
    entry_codes = [code for code in ENTRY_CODES if code in failing]

    # B4, B6: costs with code_entered_at <= at < code_entered_at + spend_window_days, whatever
    # ``as_of`` (events after it are taken as given).
    costs, payments = _movements(data, "costs"), _movements(data, "payments")
    if entered is None:
        window_costs: list[Movement] = []
        window_payments: list[Movement] = []
        window_end_us = None
    else:
        window_end_us = micros(entered) + offer["spend_window_days"] * MICROS_PER_DAY
        window_costs = [m for m in costs if micros(entered) <= m.at_us < window_end_us]
        window_payments = [m for m in payments if micros(entered) <= m.at_us < window_end_us]
    counted_spend = sum((m.value for m in window_costs), Decimal(0))

    output: dict[str, Any] = {
        "status": "ineligible",
        "reasons": entry_codes,
        "counted_spend": format_money(counted_spend, currency),
        "qualified_at": None,
        "credit": None,
        "credit_due_by": None,
    }
    if entry_codes:
        # Only ``code_not_entered`` may still be pending: while the code can still be entered.
        # "Before" is read strictly for both ends: at ``as_of`` equal to the expiry (where an
        # entry would still be valid) the reading says ``ineligible``.
        if (
            entry_codes == ["code_not_entered"]
            and as_of_us < entry_end_us
            and as_of_us < expires_us
        ):
            output["status"] = "pending"
        return output

    assert entered is not None and window_end_us is not None
    manual = payment_setting == "manual"
    spend_reached = _first_reached(window_costs, threshold, entered, "/code_entered_at")
    payment_reached = None
    if manual:
        # B8, B10: gross payments >= threshold x (1 + vat_rate), exactly.
        gross_target = threshold * (1 + amount(account["vat_rate"]))
        payment_reached = _first_reached(window_payments, gross_target, entered, "/code_entered_at")

    reasons: list[str] = []
    if spend_reached is None:
        reasons.append("spend_below_threshold")
    if manual and payment_reached is None:
        reasons.append("prepayment_below_threshold")
    met = not reasons
    if not met and not as_of_us < window_end_us:
        reasons.append("spend_window_elapsed")
    billing_ok = account["billing_details_entered"]
    if not billing_ok:
        reasons.append("billing_details_missing")
    output["reasons"] = reasons

    if not met:
        output["status"] = "ineligible" if "spend_window_elapsed" in reasons else "pending"
        return output
    if not billing_ok:
        output["status"] = "pending"
        return output

    assert spend_reached is not None
    qualified = spend_reached
    if payment_reached is not None and micros(payment_reached.at) > micros(spend_reached.at):
        qualified = payment_reached
    try:
        local_day = qualified.at.astimezone(zone(account["time_zone"])).date()
        due_by = local_day + timedelta(days=CREDIT_DUE_DAYS)
    except OverflowError as error:
        # Choice: a due date past 9999-12-31 (or before 0001-01-01) cannot be written.
        raise CodedInputError(
            qualified.path, "credit_due_by falls outside years 0001-9999", "out_of_range"
        ) from error
    output.update(
        status="qualified",
        qualified_at=format_datetime(qualified.at),
        credit=format_money(amount(offer["credit"]["amount"]), offer["credit"]["currency"]),
        credit_due_by=format_date(due_by),
    )
    return output
