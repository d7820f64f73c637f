"""Input generators for contracts 4 (seller health) and 5 (portfolio cap).

``seller_health_inputs`` and ``portfolio_cap_inputs`` are hypothesis strategies of VALID inputs
that seek the contracts' boundaries: orders on the first and last day of each window and one day
outside, rates exactly at their targets (1 defect in 100 orders, 1 cancellation in 40, ...),
empty populations, shipments exactly on the expected date, cap changes to just below, at and
above what was spent, date ranges starting or ending on ``as_of``, half-even rounding ties.

``generate_orders(n, seed)`` builds one large, realistic health input for the benchmark.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

Draw = Callable[[st.SearchStrategy[Any]], Any]

# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

_SPECIAL_DAYS = [
    date(2022, 10, 20),
    date(2022, 12, 31),
    date(2023, 1, 1),
    date(2023, 3, 1),
    date(2024, 2, 29),
    date(2024, 3, 30),
    date(2024, 12, 31),
]


def _as_of_dates() -> st.SearchStrategy[date]:
    return st.one_of(
        st.sampled_from(_SPECIAL_DAYS),
        st.dates(min_value=date(2020, 1, 1), max_value=date(2027, 12, 31)),
    )


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


# Offsets from as_of of the first / last day of each health window, and one day outside.
#   ODR: as_of-89 .. as_of-30    7 days: as_of-6 .. as_of
#   10 days: as_of-9 .. as_of    30 days: as_of-29 .. as_of
_HEALTH_EDGES = [-90, -89, -88, -31, -30, -29, -11, -10, -9, -8, -7, -6, -5, -1, 0, 1, 2]

_PRODUCT_LINES = ["books", "toys", "garden", "Books", "home/kitchen", "a~b", ""]

# ---------------------------------------------------------------------------------------------
# Seller health
# ---------------------------------------------------------------------------------------------


def _clean_order(order_id: str, placed: date, channel: str, line: str) -> dict[str, Any]:
    """An order with no defect, shipped on its expected date, tracked and delivered on time."""
    expected = placed + timedelta(days=1)
    estimated = expected + timedelta(days=3)
    return {
        "id": order_id,
        "placed_on": placed.isoformat(),
        "channel": channel,
        "product_line": line,
        "negative_feedback": False,
        "feedback_removed": False,
        "az_claim": "none",
        "chargeback": False,
        "cancelled_by_seller": False,
        "cancel_requested_by_buyer": False,
        "expected_ship_date": expected.isoformat(),
        "ship_confirmed_on": expected.isoformat(),
        "tracking_valid": True,
        "estimated_delivery_date": estimated.isoformat(),
        "delivered_on": estimated.isoformat(),
    }


@st.composite
def _order(draw: Draw, as_of: date, index: int) -> dict[str, Any]:
    """One arbitrary valid order, its dates clustered on the window edges."""
    offset = draw(st.one_of(st.sampled_from(_HEALTH_EDGES), st.integers(-120, 3)))
    placed = as_of + timedelta(days=offset)
    channel = draw(st.sampled_from(["seller", "seller", "fba"]))
    order = _clean_order(f"o{index}", placed, channel, draw(st.sampled_from(_PRODUCT_LINES)))

    order["negative_feedback"] = draw(st.booleans())
    order["feedback_removed"] = draw(st.booleans())
    order["az_claim"] = draw(st.sampled_from(["none", "none", "open", "granted", "denied"]))
    order["chargeback"] = draw(st.booleans())
    order["cancelled_by_seller"] = draw(st.booleans())
    order["cancel_requested_by_buyer"] = draw(st.booleans())

    expected_kind = draw(st.sampled_from(["placed", "as_of", "none"]))
    expected: date | None
    if expected_kind == "placed":
        expected = placed + timedelta(days=draw(st.integers(0, 3)))
    elif expected_kind == "as_of":  # unshipped orders are late only once as_of is past it
        expected = as_of + timedelta(days=draw(st.sampled_from([-1, 0, 1])))
    else:
        expected = None
    shipped: date | None = None
    if draw(st.booleans()):
        base = expected or placed
        shipped = base + timedelta(days=draw(st.sampled_from([-1, 0, 0, 1, 2])))
    tracking = draw(st.sampled_from([True, True, False, None]))
    estimated: date | None = None
    delivered: date | None = None
    if shipped is not None:
        if draw(st.booleans()):
            estimated = shipped + timedelta(days=draw(st.integers(1, 5)))
        if draw(st.booleans()):
            base = estimated or shipped + timedelta(days=3)
            delivered = base + timedelta(days=draw(st.sampled_from([-1, 0, 0, 1])))
    elif draw(st.integers(0, 9)) == 0:  # odd but valid: fields that do not apply
        estimated = placed + timedelta(days=4)
        delivered = placed + timedelta(days=5)

    order["expected_ship_date"] = _iso(expected)
    order["ship_confirmed_on"] = _iso(shipped)
    order["tracking_valid"] = tracking if shipped is not None or draw(st.booleans()) else None
    order["estimated_delivery_date"] = _iso(estimated)
    order["delivered_on"] = _iso(delivered)
    return order


@st.composite
def _return_request(draw: Draw, as_of: date, index: int) -> dict[str, Any]:
    offset = draw(st.one_of(st.sampled_from([-30, -29, -28, -1, 0, 1]), st.integers(-40, 2)))
    return {
        "id": f"r{index}",
        "requested_on": (as_of + timedelta(days=offset)).isoformat(),
        "negative_feedback": draw(st.booleans()),
        "answered_within_48h": draw(st.booleans()),
        "wrongly_rejected": draw(st.booleans()),
    }


def _clean_return(index: int, requested: date) -> dict[str, Any]:
    return {
        "id": f"r{index}",
        "requested_on": requested.isoformat(),
        "negative_feedback": False,
        "answered_within_48h": True,
        "wrongly_rejected": False,
    }


def _spread(first: date, last: date, count: int) -> list[date]:
    """``count`` days cycling over first..last, so the first and last days are both used."""
    days = (last - first).days + 1
    return [first + timedelta(days=(i * 7) % days if i else 0) for i in range(count - 1)] + [last]


# name -> (population size, marked items) for a rate exactly at its target.
AT_TARGET: dict[str, tuple[int, int]] = {
    "order_defect_rate": (100, 1),  # 0.01: not < 0.01
    "cancellation_rate": (40, 1),  # 0.025
    "late_shipment_rate_10d": (25, 1),  # 0.04
    "late_shipment_rate_30d": (25, 1),  # 0.04
    "on_time_delivery_rate": (100, 97),  # 0.97: not > 0.97
    "return_dissatisfaction_rate": (10, 1),  # 0.10
}


def at_target_input(metric: str, as_of: date, size_delta: int = 0) -> dict[str, Any]:
    """A health input where ``metric`` sits exactly at its target (size_delta=0), or just on the
    good side (size_delta=+1, e.g. 1 defect in 101 orders) or bad side (-1)."""
    size, marked = AT_TARGET[metric]
    if metric == "on_time_delivery_rate":
        # the good side of "> 0.97" is fewer late deliveries, the bad side more
        size, marked = size + size_delta, marked + size_delta
    else:
        size += size_delta
    orders: list[dict[str, Any]] = []
    returns: list[dict[str, Any]] = []
    if metric == "order_defect_rate":
        days = _spread(as_of - timedelta(days=89), as_of - timedelta(days=30), size)
        orders = [_clean_order(f"o{i}", d, "seller", "books") for i, d in enumerate(days)]
        for order in orders[:marked]:
            order["chargeback"] = True
    elif metric == "cancellation_rate":
        days = _spread(as_of - timedelta(days=6), as_of, size)
        orders = [_clean_order(f"o{i}", d, "seller", "toys") for i, d in enumerate(days)]
        for order in orders[:marked]:
            order["cancelled_by_seller"] = True
            order["ship_confirmed_on"] = order["tracking_valid"] = None
            order["estimated_delivery_date"] = order["delivered_on"] = None
    elif metric in ("late_shipment_rate_10d", "late_shipment_rate_30d"):
        first = as_of - timedelta(days=9 if metric.endswith("10d") else 29)
        days = _spread(first, as_of, size)
        orders = [_clean_order(f"o{i}", d, "seller", "toys") for i, d in enumerate(days)]
        for order in orders[:marked]:
            expected = date.fromisoformat(order["expected_ship_date"])
            order["ship_confirmed_on"] = (expected + timedelta(days=1)).isoformat()
    elif metric == "on_time_delivery_rate":
        days = _spread(as_of - timedelta(days=29), as_of, size)
        orders = [_clean_order(f"o{i}", d, "seller", "garden") for i, d in enumerate(days)]
        for order in orders[marked:]:
            estimated = date.fromisoformat(order["estimated_delivery_date"])
            order["delivered_on"] = (estimated + timedelta(days=1)).isoformat()
    elif metric == "return_dissatisfaction_rate":
        days = _spread(as_of - timedelta(days=29), as_of, size)
        returns = [_clean_return(i, d) for i, d in enumerate(days)]
        for request in returns[:marked]:
            request["answered_within_48h"] = False
    return {"as_of": as_of.isoformat(), "orders": orders, "return_requests": returns}


@st.composite
def seller_health_inputs(draw: Draw, max_orders: int = 40) -> dict[str, Any]:
    """Valid seller health inputs that seek the contract's boundaries.

    Modes: arbitrary orders with dates on the window edges; no orders at all; only FBA orders
    (every seller-fulfilled population empty); only orders outside every window; and, when
    ``max_orders`` allows the population, a rate exactly at (or one item either side of) its
    target, plus a few arbitrary orders outside every window.
    """
    as_of = draw(_as_of_dates())
    fitting = [name for name, (size, _) in AT_TARGET.items() if size + 1 <= max_orders]
    modes = ["random", "random", "empty", "fba_only", "outside"]
    if fitting:
        modes.append("at_target")
    mode = draw(st.sampled_from(modes))

    if mode == "at_target":
        metric = draw(st.sampled_from(fitting))
        data = at_target_input(metric, as_of, draw(st.sampled_from([0, 0, 1, -1])))
        # Extra orders strictly outside every window (before the ODR window) change nothing.
        extra = draw(st.integers(0, max(0, min(3, max_orders - len(data["orders"])))))
        for k in range(extra):
            data["orders"].append(
                _clean_order(f"x{k}", as_of - timedelta(days=90 + k), "fba", "outside")
            )
        return data

    if mode == "empty":
        n_orders, n_returns = 0, draw(st.integers(0, 1))
    else:
        n_orders = draw(st.integers(0, max_orders))
        n_returns = draw(st.integers(0, 12))
    orders = [draw(_order(as_of, i)) for i in range(n_orders)]
    if mode == "fba_only":
        for order in orders:
            order["channel"] = "fba"
    elif mode == "outside":
        for order in orders:
            placed = date.fromisoformat(order["placed_on"])
            if as_of - timedelta(days=89) <= placed <= as_of:
                order["placed_on"] = (as_of - timedelta(days=90)).isoformat()
    returns = [draw(_return_request(as_of, i)) for i in range(n_returns)]
    return {"as_of": as_of.isoformat(), "orders": orders, "return_requests": returns}


def generate_orders(n: int, seed: int) -> dict[str, Any]:
    """A realistic large seller health input with ``n`` orders (deterministic for ``seed``).

    Orders are placed over the 120 days before ``as_of`` (2024-06-30), 60% seller-fulfilled,
    across twelve product lines, with defect, cancellation, late-shipment and tracking rates
    around the real targets, plus about one return request per twenty orders.
    """
    rng = random.Random(seed)
    as_of = date(2024, 6, 30)
    lines = [
        "books", "toys", "garden", "kitchen", "electronics", "beauty",
        "sports", "grocery", "pets", "office", "automotive", "baby",
    ]  # fmt: skip
    line_weights = [12, 10, 8, 9, 14, 7, 6, 11, 5, 4, 3, 6]
    orders: list[dict[str, Any]] = []
    for i in range(n):
        placed = as_of - timedelta(days=rng.randrange(0, 120))
        seller = rng.random() < 0.6
        negative = rng.random() < 0.006
        removed = negative and rng.random() < 0.2
        claim_roll = rng.random()
        claim = (
            "open" if claim_roll < 0.001
            else "granted" if claim_roll < 0.003
            else "denied" if claim_roll < 0.005
            else "none"
        )  # fmt: skip
        cancelled = seller and rng.random() < 0.02
        buyer_asked = cancelled and rng.random() < 0.3
        expected: date | None = None
        shipped: date | None = None
        tracking: bool | None = None
        estimated: date | None = None
        delivered: date | None = None
        if seller and not cancelled:
            expected = placed + timedelta(days=rng.choice((1, 1, 2, 3)))
            ship_day = expected + timedelta(
                days=1 if rng.random() < 0.035 else -rng.randrange(0, 2)
            )
            if ship_day <= as_of:
                shipped = ship_day
                tracking = rng.random() < 0.96
                if rng.random() < 0.01:
                    tracking = None
                estimated = shipped + timedelta(days=rng.randrange(2, 6))
                if rng.random() < 0.03:
                    estimated = None
                deliver_day = (estimated or shipped + timedelta(days=3)) + timedelta(
                    days=1 if rng.random() < 0.025 else -rng.randrange(0, 2)
                )
                if deliver_day <= as_of:
                    delivered = deliver_day
        elif seller:
            expected = placed + timedelta(days=1)
        orders.append(
            {
                "id": f"ORD-{seed}-{i:07d}",
                "placed_on": placed.isoformat(),
                "channel": "seller" if seller else "fba",
                "product_line": rng.choices(lines, line_weights)[0],
                "negative_feedback": negative,
                "feedback_removed": removed,
                "az_claim": claim,
                "chargeback": rng.random() < 0.002,
                "cancelled_by_seller": cancelled,
                "cancel_requested_by_buyer": buyer_asked,
                "expected_ship_date": _iso(expected),
                "ship_confirmed_on": _iso(shipped),
                "tracking_valid": tracking,
                "estimated_delivery_date": _iso(estimated),
                "delivered_on": _iso(delivered),
            }
        )
    returns = [
        {
            "id": f"RET-{seed}-{j:06d}",
            "requested_on": (as_of - timedelta(days=rng.randrange(0, 60))).isoformat(),
            "negative_feedback": rng.random() < 0.03,
            "answered_within_48h": rng.random() < 0.95,
            "wrongly_rejected": rng.random() < 0.01,
        }
        for j in range(n // 20)
    ]
    return {"as_of": as_of.isoformat(), "orders": orders, "return_requests": returns}


# ---------------------------------------------------------------------------------------------
# Portfolio cap
# ---------------------------------------------------------------------------------------------

_BOUNDARY_AMOUNTS = [
    Decimal("0"),
    Decimal("0.005"),  # rounds half-even to 0.00
    Decimal("0.015"),  # rounds half-even to 0.02
    Decimal("1"),
    Decimal("250"),
    Decimal("499.99"),
    Decimal("500"),
    Decimal("500.00"),
    Decimal("500.01"),
    Decimal("750"),
    Decimal("800"),
    Decimal("850"),
    Decimal("1000"),
    Decimal("1234.565"),
]


def _amounts() -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.sampled_from(_BOUNDARY_AMOUNTS),
        st.decimals(min_value=0, max_value=5000, places=2),
        st.decimals(min_value=0, max_value=50, places=3),
    )


@st.composite
def _near(draw: Draw, base: Decimal) -> Decimal:
    """An amount equal to ``base``, a cent either side, zero, or arbitrary."""
    choice = draw(st.sampled_from(["equal", "equal", "below", "above", "zero", "any"]))
    if choice == "equal":
        return base
    if choice == "below":
        return max(base - Decimal("0.01"), Decimal(0))
    if choice == "above":
        return base + Decimal("0.01")
    if choice == "zero":
        return Decimal(0)
    return draw(_amounts())


@st.composite
def _money(draw: Draw, amount: Decimal, currency: str) -> dict[str, Any]:
    """JSON money for ``amount``: a decimal string (as written) or, when integral, maybe an int."""
    amount = abs(amount)  # never a negative zero
    text = format(amount, "f")
    if amount == amount.to_integral_value() and draw(st.booleans()):
        return {"amount": int(amount), "currency": currency}
    return {"amount": text, "currency": currency}


def _month_days(as_of: date) -> tuple[date, date]:
    first = as_of.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)


@st.composite
def _change_instant(draw: Draw, as_of: date, previous: list[str]) -> str:
    """An instant in as_of's month, sometimes equal to an earlier one (maybe in another offset)."""
    if previous and draw(st.integers(0, 2)) == 0:
        return str(draw(st.sampled_from(previous)))
    first, last = _month_days(as_of)
    day = first + timedelta(days=draw(st.integers(0, (last - first).days)))
    hour = draw(st.integers(0, 23))
    form = draw(st.sampled_from(["Z", "plus2", "minus8", "fraction", "minutes"]))
    if form == "plus2":
        h = hour + 2
        shifted = day + timedelta(days=h // 24)
        return f"{shifted.isoformat()}T{h % 24:02d}:00:00+02:00"  # same instant as hour Z
    if form == "minus8":
        h = hour - 8
        shifted = day + timedelta(days=h // 24)
        return f"{shifted.isoformat()}T{h % 24:02d}:00:00-08:00"
    if form == "fraction":
        return f"{day.isoformat()}T{hour:02d}:00:00.250000Z"
    if form == "minutes":
        return f"{day.isoformat()}T{hour:02d}:00Z"
    return f"{day.isoformat()}T{hour:02d}:00:00Z"


@st.composite
def portfolio_cap_inputs(draw: Draw) -> dict[str, Any]:
    """Valid portfolio cap inputs that seek the contract's boundaries.

    Spend at, just under and just over the cap; date ranges starting or ending on ``as_of`` (or
    a day either side, single-day ranges included); cap changes to below, at and above the
    spend at the change, some at the same instant; campaigns at, under and over their budgets
    and ending on ``as_of``; amounts needing half-even rounding. One currency per input.
    """
    as_of = draw(_as_of_dates())
    currency = draw(st.sampled_from(["USD", "USD", "EUR", "JPY", "usd"]))
    cap_type = draw(st.sampled_from(["none", "monthly_recurring", "date_range", "date_range"]))

    def money(amount: Decimal) -> dict[str, Any]:
        return dict(draw(_money(amount, currency)))

    cap_amount = draw(_amounts())
    spent = draw(_near(cap_amount))

    amount_json: dict[str, Any] | None = money(cap_amount)
    start_date: str | None = None
    end_date: str | None = None
    if cap_type == "none":
        # null with none; an amount that does not apply is sometimes sent anyway (ignored)
        if draw(st.integers(0, 4)) != 0:
            amount_json = None
    elif cap_type == "date_range":
        edges = st.one_of(st.sampled_from([-1, 0, 0, 1]), st.integers(-45, 45))
        a, b = sorted((draw(edges), draw(edges)))
        start_date = (as_of + timedelta(days=a)).isoformat()
        end_date = (as_of + timedelta(days=b)).isoformat()
    if cap_type == "monthly_recurring" and draw(st.integers(0, 4)) == 0:
        start_date, end_date = as_of.isoformat(), as_of.isoformat()  # not applicable: ignored

    changes: list[dict[str, Any]] = []
    instants: list[str] = []
    previous_to = cap_amount
    for _ in range(draw(st.integers(0, 3))):
        spent_at = draw(_near(spent))
        to = draw(
            st.sampled_from(
                [
                    spent_at,
                    max(spent_at - Decimal("0.01"), Decimal(0)),
                    spent_at + Decimal("0.01"),
                    spent_at / 2,
                    spent_at + 200,
                ]
            )
        )
        at = draw(_change_instant(as_of, instants))
        instants.append(at)
        changes.append(
            {
                "at": at,
                "from": money(previous_to),
                "to": money(to),
                "spent_at_change": money(spent_at),
            }
        )
        previous_to = to
    if changes and cap_type != "none" and draw(st.booleans()):
        amount_json = money(previous_to)  # the cap now is the last change's new amount

    campaigns: list[dict[str, Any]] = []
    for i in range(draw(st.integers(0, 4))):
        budget = draw(_amounts())
        campaign_spent = draw(_near(budget))
        end_offset = draw(st.one_of(st.none(), st.sampled_from([-1, 0, 1]), st.integers(-30, 30)))
        campaigns.append(
            {
                "id": f"c{i}",
                "budget_type": draw(st.sampled_from(["daily", "lifetime"])),
                "budget": money(budget),
                "spent": money(campaign_spent),
                "end_date": None
                if end_offset is None
                else (as_of + timedelta(days=end_offset)).isoformat(),
                "paused_by_user": draw(st.integers(0, 4)) == 0,
            }
        )

    return {
        "as_of": as_of.isoformat(),
        "portfolio": {
            "id": "portfolio-1",
            "cap": {
                "type": cap_type,
                "amount": amount_json,
                "start_date": start_date,
                "end_date": end_date,
            },
            "spent_in_period": money(spent),
            "cap_changes": changes,
        },
        "campaigns": campaigns,
    }
