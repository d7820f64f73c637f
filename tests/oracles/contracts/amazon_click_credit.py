"""Reference implementation of ``promotions/amazon-ads-click-credit-q4-2022`` (CONTRACTS.md s. 1).

Written by hand from the contract's table and "Readings to follow", clause by clause (A1-A18);
it never reads the DSL policy. Choices where the contract is silent are marked "Choice:".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, localcontext
from typing import Any

from tests.oracles.contracts.values import (
    EXACT,
    format_date,
    format_money,
    instant,
    micros,
    validate,
    zone,
)

POLICY_ID = "promotions/amazon-ads-click-credit-q4-2022"

PACIFIC = zone("America/Los_Angeles")  # A1: "PST" read as Pacific time

# A1: the whole Pacific days 2022-09-26 .. 2022-12-31, i.e. [07:00Z 2022-09-26, 08:00Z 2023-01-01).
PERIOD_START = datetime(2022, 9, 26, tzinfo=PACIFIC)
PERIOD_END = datetime(2023, 1, 1, tzinfo=PACIFIC)

# A4: exactly these codes, case-sensitively (``GB`` and ``uk`` are not eligible).
ELIGIBLE_STORES = frozenset(
    {"AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US"}
)
HIGH_CREDIT_STORES = frozenset({"FR", "IT", "ES"})  # A2, A3

CURRENCY = "USD"  # A16 is out of scope: always USD
CREDIT_HIGH, CREDIT_BASE = Decimal(400), Decimal(300)  # A2
CAP_HIGH, CAP_BASE = Decimal(1200), Decimal(900)  # A3

FIRST_APPLICATION = date(2022, 11, 3)  # A7
EXPIRY_DAYS = 30  # A8
ACTIVE_DAYS_REQUIRED = 30  # A6

# Advertiser and store codes, in the contract's code order.
ADVERTISER_CODES = (
    "store_not_eligible",
    "not_invited",
    "not_in_good_standing",
    "no_valid_payment_method",
)


@dataclass(frozen=True, slots=True)
class Launch:
    """One launch of the input, converted."""

    index: int
    campaign_id: str
    ad_product: str
    launched_at: datetime
    first_time: bool
    active_days: int

    @property
    def in_period(self) -> bool:
        """A1: launched in [PERIOD_START, PERIOD_END)."""
        return micros(PERIOD_START) <= micros(self.launched_at) < micros(PERIOD_END)

    @property
    def pacific_date(self) -> date:
        """The launch date in Pacific time (A7, ``qualifies_on``)."""
        return self.launched_at.astimezone(PACIFIC).date()

    @property
    def meets_all_but_days(self) -> bool:
        """First time and in the period: only the 30 active days may still be missing."""
        return self.first_time and self.in_period

    @property
    def qualifies(self) -> bool:
        """A6 with A1: first time, in the period, active at least 30 days."""
        return self.meets_all_but_days and self.active_days >= ACTIVE_DAYS_REQUIRED


def first_thursday(year: int, month: int) -> date:
    """The first Thursday of a month."""
    first = date(year, month, 1)
    return first + timedelta(days=(3 - first.weekday()) % 7)


def applied_on(launch_day: date) -> date:
    """A7: first Thursday of the month after the launch month, never before 2022-11-03."""
    next_month = (launch_day.replace(day=28) + timedelta(days=4)).replace(day=1)
    return max(first_thursday(next_month.year, next_month.month), FIRST_APPLICATION)


def _advertiser_codes(data: dict[str, Any]) -> list[str]:
    advertiser = data["advertiser"]
    failing = {
        "store_not_eligible": data["store"] not in ELIGIBLE_STORES,
        "not_invited": not advertiser["invited"],
        "not_in_good_standing": not advertiser["good_standing"],
        "no_valid_payment_method": not advertiser["valid_payment_method"],
    }
    return [code for code in ADVERTISER_CODES if failing[code]]


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Decide the click credits of one advertiser in one store; the contract's output JSON.

    Raises ``ReferenceInputError`` (a ``CodedInputError``) on bad input. This contract has no
    cross-field input rule: every bad input is a schema violation.
    """
    # ``as_of`` is validated but not used: ``active_days`` already counts up to it.
    validate(data, POLICY_ID)
    store = data["store"]
    high = store in HIGH_CREDIT_STORES
    credit_amount = CREDIT_HIGH if high else CREDIT_BASE
    cap = CAP_HIGH if high else CAP_BASE

    advertiser_codes = _advertiser_codes(data)
    if advertiser_codes:
        return {
            "eligible": False,
            "credits": [],
            "pending": [],
            "total": format_money(Decimal(0), CURRENCY),
            "reasons": [{"campaign_id": None, "code": code} for code in advertiser_codes],
        }

    launches = [
        Launch(
            index=i,
            campaign_id=raw["campaign_id"],
            ad_product=raw["ad_product"],
            launched_at=instant(raw["launched_at"]),
            first_time=raw["first_time"],
            active_days=raw["active_days"],
        )
        for i, raw in enumerate(data["launches"])
    ]

    # A10: per product, the qualifying launch with the earliest instant earns the credit (ties:
    # input order). Launches still waiting for their 30 days do not compete.
    earner: dict[str, Launch] = {}
    for launch in launches:
        if not launch.qualifies:
            continue
        best = earner.get(launch.ad_product)
        if best is None or micros(launch.launched_at) < micros(best.launched_at):
            earner[launch.ad_product] = launch
    earning_indexes = {launch.index for launch in earner.values()}

    credits: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    reasons: list[dict[str, Any]] = []
    for launch in launches:
        if launch.index in earning_indexes:
            applied = applied_on(launch.pacific_date)
            credits.append(
                {
                    "ad_product": launch.ad_product,
                    "campaign_id": launch.campaign_id,
                    "amount": format_money(credit_amount, CURRENCY),
                    "applied_on": format_date(applied),
                    "expires_on": format_date(applied + timedelta(days=EXPIRY_DAYS)),
                }
            )
            continue
        codes = []
        if not launch.first_time:
            codes.append("not_first_time")
        if not launch.in_period:
            codes.append("launched_outside_period")
        # Every launch of a credited product other than its earner, whatever else it fails
        # (a waiting launch included: it goes here instead of to ``pending``).
        if launch.ad_product in earner:
            codes.append("product_already_credited")
        if codes:
            reasons.extend({"campaign_id": launch.campaign_id, "code": code} for code in codes)
        else:
            # Fails only the 30 active days (a qualifying launch of an uncredited product
            # would have earned it).
            assert launch.meets_all_but_days and not launch.qualifies
            pending.append(
                {
                    "ad_product": launch.ad_product,
                    "campaign_id": launch.campaign_id,
                    "qualifies_on": format_date(
                        launch.pacific_date + timedelta(days=ACTIVE_DAYS_REQUIRED)
                    ),
                }
            )

    # A3: one credit per product and three products make the sum at most 3 x 300 = 900 (3 x 400
    # = 1,200 in FR/IT/ES), so the cap never binds; it is applied anyway, to the total only.
    with localcontext(EXACT):
        total = min(sum((credit_amount for _ in credits), Decimal(0)), cap)
    return {
        "eligible": bool(credits),
        "credits": credits,
        "pending": pending,
        "total": format_money(total, CURRENCY),
        "reasons": reasons,
    }
