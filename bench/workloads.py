"""Benchmark workloads: deterministic input generators and hand-written Python floors.

Two workloads are defined here:

* **W1 health thresholds** -- four account-health rates arrive as decimal strings; each has a
  target it must stay strictly below. The decision lists the fields that miss their target.
* **W2 promotion credit** -- a marketplace and a list of ad-product launches; first-time launches
  that stayed active for 30 days and launched inside the Q4 2022 window earn a credit per distinct
  ad product, capped per marketplace group.

The *floors* (:func:`w1_floor`, :func:`w2_floor`) do the same work as the engines as plainly and
quickly as Python allows, but honestly: every rate is parsed with ``Decimal(s)``, every
``launched_at`` with ``datetime.fromisoformat``, comparisons are exact, and the output has exactly
the specified shape. They are the yardstick every engine row is divided by.

The generators are deterministic for a given ``(n, seed)`` and deliberately put many values on or
right next to the boundaries (thresholds, period edges in several UTC offsets, 29/30/31 active
days) so that a correctness comparison between engines is meaningful.
"""

from __future__ import annotations

import random
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

__all__ = [
    "W1_FIELDS",
    "W1_TARGETS",
    "W2_AD_PRODUCTS",
    "W2_ELIGIBLE_MARKETPLACES",
    "W2_HIGH_RATE_MARKETPLACES",
    "W2_INELIGIBLE_MARKETPLACES",
    "W2_PERIOD_END",
    "W2_PERIOD_START",
    "w1_floor",
    "w1_inputs",
    "w1_strict_floor",
    "w2_floor",
    "w2_inputs",
    "w2_strict_floor",
]

Input = dict[str, Any]
Output = dict[str, Any]

# --------------------------------------------------------------------------------------------
# W1 health thresholds
# --------------------------------------------------------------------------------------------

#: Field name -> target; a field is healthy iff its value is strictly below the target.
W1_TARGETS: dict[str, Decimal] = {
    "odr": Decimal("0.01"),
    "cancellation_rate": Decimal("0.025"),
    "late_shipment_rate_10d": Decimal("0.04"),
    "late_shipment_rate_30d": Decimal("0.04"),
}

#: The W1 input fields, in the order they appear in an input document.
W1_FIELDS: tuple[str, ...] = tuple(W1_TARGETS)

# (name, target) pairs sorted by name, so the floor's violations come out sorted for free.
_W1_SORTED_TARGETS: tuple[tuple[str, Decimal], ...] = tuple(sorted(W1_TARGETS.items()))


def _w1_rate(rng: random.Random, target: Decimal) -> str:
    """Return one rate as a decimal string, often on or right next to ``target``."""
    roll = rng.random()
    if roll < 0.55:  # comfortably healthy
        value = target * Decimal(rng.randint(0, 900)) / Decimal(1000)
    elif roll < 0.70:  # exactly on the target, written with 0-3 trailing zeros
        return str(target) + "0" * rng.randint(0, 3)
    elif roll < 0.85:  # a hair either side of the target
        step = Decimal(1).scaleb(-rng.choice((4, 5, 6, 8)))
        value = target + step * rng.choice((-1, 1))
    else:  # clearly at risk
        value = target * (1 + Decimal(rng.randint(1, 3000)) / Decimal(1000))
    exponent = value.normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite by construction
    return f"{value:.{max(4, -exponent)}f}"


def w1_inputs(n: int, seed: int) -> list[Input]:
    """Return ``n`` deterministic W1 inputs for ``seed``.

    Each input is ``{"odr", "cancellation_rate", "late_shipment_rate_10d",
    "late_shipment_rate_30d"}`` with plain decimal strings (``^\\d+(\\.\\d+)?$``) such as
    ``"0.0125"``; about 15% of the values sit exactly on a target and 15% a hair either side.
    """
    rng = random.Random(f"w1:{seed}")
    return [{name: _w1_rate(rng, W1_TARGETS[name]) for name in W1_FIELDS} for _ in range(n)]


def w1_floor(inp: Input) -> Output:
    """Decide W1 in plain Python: Decimal-parse each rate and compare it exactly to its target."""
    violations = [name for name, target in _W1_SORTED_TARGETS if not Decimal(inp[name]) < target]
    return {"violations": violations, "at_risk": bool(violations)}


# --------------------------------------------------------------------------------------------
# W2 promotion credit
# --------------------------------------------------------------------------------------------

#: Marketplaces where the promotion runs.
W2_ELIGIBLE_MARKETPLACES: frozenset[str] = frozenset(
    {"AU", "CA", "EG", "FR", "DE", "IN", "IT", "JP", "NL", "ES", "AE", "UK", "US"}
)
#: Marketplaces paid 400 per product (cap 1200) instead of 300 (cap 900).
W2_HIGH_RATE_MARKETPLACES: frozenset[str] = frozenset({"FR", "IT", "ES"})
#: Marketplaces the generator uses for ineligible inputs.
W2_INELIGIBLE_MARKETPLACES: tuple[str, ...] = ("BR", "MX", "SG", "SE", "PL", "SA", "TR", "BE")
#: Ad products the generator draws from (the floor and the Zen graph accept any string).
W2_AD_PRODUCTS: tuple[str, ...] = (
    "sponsored_products",
    "sponsored_brands",
    "sponsored_display",
    "sponsored_tv",
    "dsp",
)

#: Inclusive launch window: 2022-09-26T00:00-07:00 .. 2022-12-31T23:59:59-08:00.
W2_PERIOD_START = datetime(2022, 9, 26, 0, 0, 0, tzinfo=timezone(timedelta(hours=-7)))
W2_PERIOD_END = datetime(2022, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-8)))

_W2_HIGH = (Decimal(400), Decimal(1200))  # (credit per product, cap) in FR / IT / ES
_W2_LOW = (Decimal(300), Decimal(900))  # elsewhere
_W2_ZERO = "0.00"

# Offsets a launch timestamp is written in (minutes east of UTC); 0 is written as "Z" or "+00:00".
_OFFSETS_MIN: tuple[int, ...] = (-480, -420, -300, 0, 60, 330, 345, 540, 600, 840, -600)
# Distances from a period edge, in seconds, that land on, just inside or just outside the edge.
_EDGE_DELTAS_S: tuple[float, ...] = (
    0,
    0,
    0,
    1,
    -1,
    0.000001,
    -0.000001,
    0.5,
    -0.5,
    59,
    -59,
    3600,
    -3600,
    86400,
    -86400,
)


def _w2_timestamp(rng: random.Random) -> str:
    """Return one RFC 3339 ``launched_at`` string, usually near an edge of the launch window."""
    roll = rng.random()
    if roll < 0.65:
        edge = W2_PERIOD_START if rng.random() < 0.5 else W2_PERIOD_END
        instant = edge + timedelta(seconds=rng.choice(_EDGE_DELTAS_S))
    elif roll < 0.90:  # somewhere inside the window
        span = (W2_PERIOD_END - W2_PERIOD_START).total_seconds()
        instant = W2_PERIOD_START + timedelta(seconds=rng.randint(0, int(span)))
    else:  # well outside it
        instant = W2_PERIOD_START + timedelta(days=rng.choice((-200, -40, 120, 300)))
    offset_min = rng.choice(_OFFSETS_MIN)
    local = instant.astimezone(timezone(timedelta(minutes=offset_min)))
    text = local.isoformat(timespec="microseconds" if local.microsecond else "seconds")
    if offset_min == 0 and rng.random() < 0.5:
        text = text.removesuffix("+00:00") + "Z"
    return text


def _w2_active_days(rng: random.Random) -> int:
    """Return an ``active_days`` value, often 29, 30 or 31."""
    return rng.choice((29, 30, 31)) if rng.random() < 0.5 else rng.randint(0, 120)


def w2_inputs(n: int, seed: int) -> list[Input]:
    """Return ``n`` deterministic W2 inputs for ``seed``.

    Each input is ``{"marketplace", "launches": [...]}`` with 1-6 launches of
    ``{"ad_product", "launched_at", "active_days", "first_time"}``. About 15% of the
    marketplaces are ineligible; ad products repeat within an input so that "distinct" matters;
    launch times cluster on and around both window edges, written in many UTC offsets.
    """
    rng = random.Random(f"w2:{seed}")
    eligible = sorted(W2_ELIGIBLE_MARKETPLACES)
    out: list[Input] = []
    for _ in range(n):
        marketplace = (
            rng.choice(W2_INELIGIBLE_MARKETPLACES) if rng.random() < 0.15 else rng.choice(eligible)
        )
        launches = [
            {
                "ad_product": rng.choice(W2_AD_PRODUCTS),
                "launched_at": _w2_timestamp(rng),
                "active_days": _w2_active_days(rng),
                "first_time": rng.random() < 0.8,
            }
            for _ in range(rng.randint(1, 6))
        ]
        out.append({"marketplace": marketplace, "launches": launches})
    return out


def w2_floor(inp: Input) -> Output:
    """Decide W2 in plain Python.

    Every ``launched_at`` is parsed with ``datetime.fromisoformat`` (no short cut past the parse),
    the window test is an exact aware-datetime comparison, and the credit is Decimal arithmetic
    written with two decimals.
    """
    start, end = W2_PERIOD_START, W2_PERIOD_END
    products: set[str] = set()
    for launch in inp["launches"]:
        launched_at = datetime.fromisoformat(launch["launched_at"])
        if launch["first_time"] and launch["active_days"] >= 30 and start <= launched_at <= end:
            products.add(launch["ad_product"])
    marketplace = inp["marketplace"]
    if not products or marketplace not in W2_ELIGIBLE_MARKETPLACES:
        return {"eligible": False, "total_credit": _W2_ZERO}
    rate, cap = _W2_HIGH if marketplace in W2_HIGH_RATE_MARKETPLACES else _W2_LOW
    return {"eligible": True, "total_credit": f"{min(rate * len(products), cap):.2f}"}


# --------------------------------------------------------------------------------------------
# Strict floors: the same decisions, after checking the input as strictly as the engine does
# --------------------------------------------------------------------------------------------

# W1's rate: a string of digits with an optional fraction (the schema's pattern and the decimal
# format), at most 100 characters, or a non-negative integer (never a boolean)
_W1_RATE = re.compile(r"[0-9]{1,100}(?:\.[0-9]+)?")
# W2's `launched_at`: an RFC 3339 instant with an offset (the date-time format)
_W2_INSTANT = re.compile(
    r"\d\d\d\d-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d{1,6})?)?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)
_W2_LAUNCH_KEYS = ("ad_product", "launched_at", "active_days", "first_time")


def w1_strict_floor(inp: Input) -> Output:
    """W1 in plain Python after checking every field as the engine does: an object, each rate
    present, a string matching the rate pattern (at most 100 characters) or a non-negative
    integer. Raises ``ValueError`` naming the field on bad input."""
    if inp.__class__ is not dict:
        raise ValueError("/: expected an object")
    for name in W1_FIELDS:
        v = inp.get(name)
        cls = v.__class__
        if cls is str:
            if len(v) > 100 or not _W1_RATE.fullmatch(v):
                raise ValueError(f"/{name}: not a non-negative decimal string")
        elif cls is not int or v < 0:
            raise ValueError(f"/{name}: expected a decimal string")
    return w1_floor(inp)


def w2_strict_floor(inp: Input) -> Output:
    """W2 in plain Python after checking the input as the engine does: an object with a string
    `marketplace` and a list of launches, each an object with a string `ad_product`, an RFC 3339
    `launched_at` with an offset, a non-negative integer `active_days` and a boolean
    `first_time`. Raises ``ValueError`` naming the field on bad input."""
    if inp.__class__ is not dict:
        raise ValueError("/: expected an object")
    if inp.get("marketplace").__class__ is not str:
        raise ValueError("/marketplace: expected a string")
    launches = inp.get("launches")
    if launches.__class__ is not list:
        raise ValueError("/launches: expected an array")
    for i, launch in enumerate(launches):
        if launch.__class__ is not dict:
            raise ValueError(f"/launches/{i}: expected an object")
        for key in _W2_LAUNCH_KEYS:
            if key not in launch:
                raise ValueError(f"/launches/{i}/{key}: missing")
        if launch["ad_product"].__class__ is not str:
            raise ValueError(f"/launches/{i}/ad_product: expected a string")
        at = launch["launched_at"]
        if at.__class__ is not str or not _W2_INSTANT.fullmatch(at):
            raise ValueError(f"/launches/{i}/launched_at: expected an RFC 3339 instant")
        days = launch["active_days"]
        if days.__class__ is not int or days < 0:
            raise ValueError(f"/launches/{i}/active_days: expected a non-negative integer")
        if launch["first_time"].__class__ is not bool:
            raise ValueError(f"/launches/{i}/first_time: expected a boolean")
    return w2_floor(inp)
