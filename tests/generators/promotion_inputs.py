"""Hypothesis strategies of valid inputs for the promotion and budget contracts (sections 1-3).

Each strategy yields only valid input (it must pass the input schema and the cross-field rules),
but leans hard on the boundaries of the contract: period edges to the microsecond, Pacific month
ends and the DST change, ``active_days`` 29/30/31, thresholds met exactly or missed by the
smallest unit, windows that end exactly at a cost or at ``as_of``, every store (invalid ones
too), every textual form of a datetime (offsets, optional seconds, 1-6 fraction digits) and of
an amount (JSON integer or string, trailing zeros).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

_US = timedelta(microseconds=1)
_SECOND = timedelta(seconds=1)

# Offsets a host may write a datetime with; the instant is the same whatever the offset.
_OFFSETS = [
    timedelta(0),
    timedelta(hours=-7),
    timedelta(hours=-8),
    timedelta(hours=7),
    timedelta(hours=5, minutes=30),
    timedelta(hours=5, minutes=45),
    timedelta(hours=14),
    timedelta(hours=-12),
    timedelta(hours=-3, minutes=-30),
]

# Small steps around a boundary: exactly on it, and the smallest steps either side.
_NUDGES = [timedelta(0), -_US, _US, -_SECOND, _SECOND]


# ---------------------------------------------------------------------------------------------
# Textual forms
# ---------------------------------------------------------------------------------------------


@st.composite
def datetime_text(draw: st.DrawFn, instant: datetime) -> str:
    """Any valid contract spelling of ``instant``: offset, optional seconds, fraction digits."""
    offset = draw(st.sampled_from(_OFFSETS))
    local = instant.astimezone(timezone(offset))
    text = local.strftime("%Y-%m-%dT%H:%M")
    exact_minute = local.second == 0 and local.microsecond == 0
    if not exact_minute or draw(st.booleans()):
        text += f":{local.second:02d}"
        fraction = f"{local.microsecond:06d}"
        needed = len(fraction.rstrip("0"))
        if needed or draw(st.booleans()):
            digits = draw(st.integers(min_value=max(needed, 1), max_value=6))
            text += "." + fraction[:digits]
    if offset == timedelta(0) and draw(st.booleans()):
        return text + "Z"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return f"{text}{sign}{minutes // 60:02d}:{minutes % 60:02d}"


@st.composite
def amount_value(draw: st.DrawFn, value: Decimal) -> str | int:
    """Any valid contract spelling of a non-negative decimal: JSON integer or decimal string."""
    assert value >= 0
    if value == value.to_integral_value() and draw(st.booleans()):
        return int(value)
    text = f"{value:f}"
    if draw(st.booleans()):
        text += ("." if "." not in text else "") + "0" * draw(st.integers(1, 3))
    return text


def money(value: Decimal, currency: str) -> st.SearchStrategy[dict[str, Any]]:
    """Input money with a drawn spelling of ``value``."""
    return amount_value(value).map(lambda a: {"amount": a, "currency": currency})


def near(anchors: list[datetime], spread: timedelta) -> st.SearchStrategy[datetime]:
    """An instant on or next to one of ``anchors``, or anywhere within ``spread`` of one."""
    on_edge = st.builds(lambda a, n: a + n, st.sampled_from(anchors), st.sampled_from(_NUDGES))
    seconds = int(spread.total_seconds())
    around = st.builds(
        lambda a, s, us: a + timedelta(seconds=s, microseconds=us),
        st.sampled_from(anchors),
        st.integers(-seconds, seconds),
        st.sampled_from([0, 0, 0, 1, 250_000, 999_999]),
    )
    return st.one_of(on_edge, around)


def _extra_fields() -> st.SearchStrategy[dict[str, Any]]:
    """Unknown fields, which the contract says are ignored."""
    return st.one_of(st.just({}), st.just({}), st.just({"note": "ignored", "x_extra": [1, None]}))


def _decimals(values: list[str]) -> st.SearchStrategy[Decimal]:
    """Notable amounts, or any amount with up to three decimals."""
    return st.one_of(
        st.sampled_from([Decimal(v) for v in values]),
        st.integers(0, 2_000_000).map(lambda n: Decimal(n).scaleb(-2)),
        st.integers(0, 2_000_000).map(lambda n: Decimal(n).scaleb(-3)),
    )


@st.composite
def _split(draw: st.DrawFn, total: Decimal, parts: int) -> list[Decimal]:
    """``total`` cut into ``parts`` non-negative pieces that add up to it exactly."""
    exponent = min(total.as_tuple().exponent, -2)
    assert isinstance(exponent, int)
    units = int(total.scaleb(-exponent))
    cuts = sorted(draw(st.lists(st.integers(0, units), min_size=parts - 1, max_size=parts - 1)))
    edges = [0, *cuts, units]
    return [Decimal(edges[i + 1] - edges[i]).scaleb(exponent) for i in range(parts)]


# ---------------------------------------------------------------------------------------------
# Section 1: promotions/amazon-ads-click-credit-q4-2022
# ---------------------------------------------------------------------------------------------

_PACIFIC_EDGES = [
    datetime(2022, 9, 26, 7, tzinfo=UTC),  # period start (A1)
    datetime(2023, 1, 1, 8, tzinfo=UTC),  # period end, exclusive (A1)
    datetime(2022, 10, 1, 7, tzinfo=UTC),  # Pacific month starts (A7 applied_on)
    datetime(2022, 11, 1, 7, tzinfo=UTC),
    datetime(2022, 12, 1, 8, tzinfo=UTC),
    datetime(2022, 11, 6, 9, tzinfo=UTC),  # DST ends in Los Angeles (02:00 PDT -> 01:00 PST)
    datetime(2022, 10, 31, 12, tzinfo=UTC),
]
_STORES = ["AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US"]
_BAD_STORES = ["GB", "uk", "us", "Fr", "USA", "", "XX", " US"]
_AD_PRODUCTS = ["sponsored_products", "sponsored_brands", "sponsored_display"]
_MOSTLY_TRUE = st.sampled_from([True] * 9 + [False])


@st.composite
def _amazon_launch(draw: st.DrawFn, index: int) -> dict[str, Any]:
    launched = draw(
        st.one_of(
            near(_PACIFIC_EDGES, timedelta(days=40)),
            st.datetimes(datetime(2022, 1, 1), datetime(2023, 12, 31), timezones=st.just(UTC)),
        )
    )
    return {
        "campaign_id": f"c{index}",
        "ad_product": draw(st.sampled_from(_AD_PRODUCTS)),
        "launched_at": draw(datetime_text(launched)),
        "first_time": draw(_MOSTLY_TRUE),
        "active_days": draw(st.one_of(st.sampled_from([0, 1, 29, 30, 31]), st.integers(0, 400))),
        **draw(_extra_fields()),
    }


@st.composite
def amazon_click_credit_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid inputs of ``promotions/amazon-ads-click-credit-q4-2022``."""
    count = draw(st.integers(0, 8))
    as_of = draw(near(_PACIFIC_EDGES, timedelta(days=90)))
    return {
        "as_of": draw(datetime_text(as_of)),
        "advertiser": {
            "id": draw(st.sampled_from(["A1", "adv-42", ""])),
            "invited": draw(_MOSTLY_TRUE),
            "good_standing": draw(_MOSTLY_TRUE),
            "valid_payment_method": draw(_MOSTLY_TRUE),
        },
        "store": draw(st.sampled_from(_STORES * 3 + _BAD_STORES)),
        "launches": [draw(_amazon_launch(i)) for i in range(count)],
        **draw(_extra_fields()),
    }


# ---------------------------------------------------------------------------------------------
# Section 2: promotions/google-ads-promo-code
# ---------------------------------------------------------------------------------------------

_CURRENCIES = ["THB", "USD", "EUR", "JPY"]
_ZONES = [
    "Asia/Bangkok",
    "UTC",
    "America/Los_Angeles",
    "Pacific/Kiritimati",  # UTC+14
    "Pacific/Pago_Pago",  # UTC-11
    "Asia/Kolkata",
    "Australia/Lord_Howe",  # half-hour DST
    "Europe/Stockholm",
]
_DAY = timedelta(days=1)


@st.composite
def _timed_amounts(
    draw: st.DrawFn,
    target: Decimal,
    start: datetime,
    window: timedelta,
    currency: str,
) -> list[dict[str, Any]]:
    """Costs or payments around the window [start, start + window): some add up to ``target``
    exactly, or miss it by the smallest unit; some fall just outside the window."""
    edges = [start, start + window]
    inside = st.builds(
        lambda fraction: start + window * fraction, st.floats(0, 1, exclude_max=True)
    )
    times = st.one_of(
        st.sampled_from([start, start + window - _US, start + window, start - _US]),
        near(edges, max(window, _DAY)),
        inside.filter(lambda t: t < start + window or not window),
    )
    values: list[Decimal] = []
    if target > 0 and draw(st.booleans()):
        values = draw(_split(target, draw(st.integers(1, 4))))
        if draw(st.booleans()):
            exponent = min(target.as_tuple().exponent, -2)
            assert isinstance(exponent, int)
            smallest = Decimal(1).scaleb(exponent)
            values[-1] = max(values[-1] - smallest, Decimal(0))
    extra = draw(st.lists(_decimals(["0", "0.01", "9", "750", "1500"]), max_size=6))
    values = draw(st.permutations(values + extra))
    items = []
    for value in values:
        at = draw(times)
        items.append({"at": draw(datetime_text(at)), "amount": draw(money(value, currency))})
    return items


@st.composite
def google_promo_code_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid inputs of ``promotions/google-ads-promo-code``."""
    currency = draw(st.sampled_from(_CURRENCIES))
    threshold = draw(_decimals(["750", "0", "0.01", "1000.5", "750.005"]))
    credit = draw(_decimals(["1500", "0", "100.125"]))
    entry_days = draw(st.one_of(st.sampled_from([0, 1, 14, 30]), st.integers(0, 60)))
    spend_days = draw(st.one_of(st.sampled_from([0, 1, 30]), st.integers(0, 60)))
    created = draw(
        st.datetimes(datetime(2022, 1, 1), datetime(2024, 12, 31), timezones=st.just(UTC))
    )
    entry_end = created + entry_days * _DAY
    # Never before the account's creation: that is bad input (INPUT_RULES.md).
    entry_edges = [created, created + _US, entry_end - _US, entry_end, entry_end + _SECOND]
    inside_entry_window = st.builds(
        lambda fraction, us: created + (entry_end - created) * fraction + us * _US,
        st.floats(0, 1, exclude_max=True),
        st.sampled_from([0, 0, 1, 500_000]),
    ).filter(lambda t: t < entry_end)
    entered: datetime | None = draw(
        st.sampled_from(["none", "edge", "inside", "inside", "inside"]).flatmap(
            lambda kind: {
                "none": st.none(),
                "edge": st.sampled_from([t for t in entry_edges if t >= created]),
                "inside": inside_entry_window,
            }[kind]
        )
    )
    base = entered if entered is not None else created
    far_future = st.builds(lambda days: base + days * _DAY, st.integers(1, 400))
    expires = draw(st.one_of(near([base, entry_end], timedelta(days=20)), far_future))
    payment_setting = draw(st.sampled_from(["automatic", "manual", "monthly_invoicing"]))
    since = draw(
        st.one_of(
            st.none(),
            near([base], timedelta(days=10)),
            st.builds(lambda days: base - days * _DAY, st.integers(0, 400)),
        )
    )
    vat = draw(st.sampled_from([Decimal("0"), Decimal("0.07"), Decimal("0.2"), Decimal("0.125")]))
    window = spend_days * _DAY
    as_of = draw(near([base + window, base + window, entry_end, expires, base], timedelta(days=40)))
    costs = draw(_timed_amounts(threshold, base, window, currency))
    payments = draw(_timed_amounts(threshold * (1 + vat), base, window, currency))
    return {
        "as_of": draw(datetime_text(as_of)),
        "offer": {
            "code": draw(st.sampled_from(["SPEND750", "PROMO-2023", ""])),
            "spend_threshold": draw(money(threshold, currency)),
            "credit": draw(money(credit, currency)),
            "entry_window_days": entry_days,
            "spend_window_days": spend_days,
            "code_expires_at": draw(datetime_text(expires)),
            "new_advertisers_only": draw(st.booleans()),
        },
        "account": {
            "created_at": draw(datetime_text(created)),
            "time_zone": draw(st.sampled_from(_ZONES)),
            "is_new_advertiser": draw(_MOSTLY_TRUE),
            "payment_setting": payment_setting,
            "monthly_invoicing_since": None if since is None else draw(datetime_text(since)),
            "billing_details_entered": draw(_MOSTLY_TRUE),
            "vat_rate": draw(amount_value(vat)),
        },
        "code_entered_at": None if entered is None else draw(datetime_text(entered)),
        "costs": costs,
        "payments": payments,
        **draw(_extra_fields()),
    }


# ---------------------------------------------------------------------------------------------
# Section 3: budgets/google-ads-credit-budget
# ---------------------------------------------------------------------------------------------


@st.composite
def google_credit_budget_inputs(draw: st.DrawFn) -> dict[str, Any]:
    """Valid inputs of ``budgets/google-ads-credit-budget``."""
    currency = draw(st.sampled_from(_CURRENCIES))
    budget = draw(_decimals(["6000", "0", "0.005", "0.015"]))
    credit = draw(_decimals(["1500", "0", "0.005"]))
    unit = Decimal("0.01")
    spent = draw(
        st.one_of(
            st.sampled_from(
                [
                    Decimal(0),
                    credit,
                    credit + unit,
                    max(credit - unit, Decimal(0)),
                    budget + credit,
                    budget + credit + unit,
                    max(budget + credit - unit, Decimal(0)),
                    Decimal("7500"),
                    Decimal("1000"),
                ]
            ),
            _decimals(["0"]),
        )
    )
    return {
        "budget": draw(money(budget, currency)),
        "credit_available": draw(money(credit, currency)),
        "spent": draw(money(spent, currency)),
        **draw(_extra_fields()),
    }
