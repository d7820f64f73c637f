"""Reference implementation of ``health/amazon-seller-account-health`` (CONTRACTS.md section 4).

Written by hand from the contract, clause by clause, for clarity rather than speed: every
metric is computed in its own pass over the orders it selects. It is the oracle the DSL policy
is tested against; ``seller_health_fast`` is the single-pass version used as a speed floor.
Input validation (schema, JSON pointers, error codes) is shared with the other reference
implementations through ``tests.oracles.contracts.values``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from fractions import Fraction
from typing import Any, TypeVar

from tests.oracles.contracts.values import validate

_T = TypeVar("_T")

POLICY_ID = "health/amazon-seller-account-health"


def parse_date(text: str) -> date:
    """A date field that the schema has already validated (``YYYY-MM-DD``)."""
    return date.fromisoformat(text)


def format_rate(value: Fraction) -> str:
    """Output rate: an exact non-negative fraction rounded half-even to four decimals."""
    scaled = round(value * 10_000)  # Fraction.__round__ rounds half to even
    return f"{scaled // 10_000}.{scaled % 10_000:04d}"


# ---------------------------------------------------------------------------------------------
# The health contract
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A metric's target: ``value <op> threshold`` (op ``<`` or ``>``), as written in the table."""

    op: str
    threshold: str

    def text(self) -> str:
        """The target string of the output (``"< 0.01"``)."""
        return f"{self.op} {self.threshold}"

    def met_by(self, value: Fraction) -> bool:
        """Compare the exact, unrounded value with the threshold."""
        threshold = Fraction(self.threshold)
        return value < threshold if self.op == "<" else value > threshold


@dataclass(frozen=True)
class Window:
    """A window of ``days`` days ending on ``end``: the dates end-days+1 .. end inclusive."""

    end: date
    days: int

    @property
    def start(self) -> date:
        """First day of the window."""
        return self.end - timedelta(days=self.days - 1)

    def __contains__(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True)
class Order:
    """One order, converted from its JSON form."""

    id: str
    placed_on: date
    channel: str
    product_line: str
    negative_feedback: bool
    feedback_removed: bool
    az_claim: str
    chargeback: bool
    cancelled_by_seller: bool
    cancel_requested_by_buyer: bool
    expected_ship_date: date | None
    ship_confirmed_on: date | None
    tracking_valid: bool | None
    estimated_delivery_date: date | None
    delivered_on: date | None

    @staticmethod
    def from_json(raw: dict[str, Any]) -> Order:
        """Convert an order already validated against the input schema."""

        def opt_date(name: str) -> date | None:
            value = raw[name]
            return None if value is None else parse_date(value)

        return Order(
            id=raw["id"],
            placed_on=parse_date(raw["placed_on"]),
            channel=raw["channel"],
            product_line=raw["product_line"],
            negative_feedback=raw["negative_feedback"],
            feedback_removed=raw["feedback_removed"],
            az_claim=raw["az_claim"],
            chargeback=raw["chargeback"],
            cancelled_by_seller=raw["cancelled_by_seller"],
            cancel_requested_by_buyer=raw["cancel_requested_by_buyer"],
            expected_ship_date=opt_date("expected_ship_date"),
            ship_confirmed_on=opt_date("ship_confirmed_on"),
            tracking_valid=raw["tracking_valid"],
            estimated_delivery_date=opt_date("estimated_delivery_date"),
            delivered_on=opt_date("delivered_on"),
        )


@dataclass(frozen=True)
class ReturnRequest:
    """One return request, converted from its JSON form."""

    id: str
    requested_on: date
    negative_feedback: bool
    answered_within_48h: bool
    wrongly_rejected: bool


# Table order of CONTRACTS.md section 4: name -> (target or None, contractual).
METRICS: dict[str, tuple[Target | None, bool]] = {
    "order_defect_rate": (Target("<", "0.01"), True),
    "negative_feedback_rate": (None, False),
    "az_claim_rate": (None, False),
    "chargeback_rate": (None, False),
    "cancellation_rate": (Target("<", "0.025"), True),
    "late_shipment_rate_10d": (Target("<", "0.04"), True),
    "late_shipment_rate_30d": (Target("<", "0.04"), True),
    "valid_tracking_rate": (None, False),
    "on_time_delivery_rate": (Target(">", "0.97"), False),
    "return_dissatisfaction_rate": (Target("<", "0.10"), False),
}


def _negative_feedback(order: Order) -> bool:
    """C5: negative feedback the buyer removed does not count."""
    return order.negative_feedback and not order.feedback_removed


def _is_defect(order: Order) -> bool:
    """C2-C5: negative feedback not removed, a claim not denied (and not none), or a chargeback."""
    return _negative_feedback(order) or order.az_claim in ("open", "granted") or order.chargeback


def _is_late(order: Order, as_of: date) -> bool:
    """C9: shipped after the expected date, or not shipped while as_of is past it."""
    expected = order.expected_ship_date
    if expected is None:
        return False
    if order.ship_confirmed_on is not None:
        return order.ship_confirmed_on > expected
    return as_of > expected


def _on_time(order: Order) -> bool:
    """C11: delivered on or before the estimated date; no estimated date counts as on time."""
    assert order.delivered_on is not None
    estimated = order.estimated_delivery_date
    return estimated is None or order.delivered_on <= estimated


def _return_is_negative(request: ReturnRequest) -> bool:
    """C12."""
    return request.negative_feedback or not request.answered_within_48h or request.wrongly_rejected


def _metric(
    name: str, window: Window, population: list[_T], counts: Callable[[_T], bool]
) -> dict[str, Any]:
    target, contractual = METRICS[name]
    numerator = sum(1 for item in population if counts(item))
    denominator = len(population)
    value = None if denominator == 0 else Fraction(numerator, denominator)
    meets: bool | None
    if target is None:
        meets = None
    elif value is None:
        meets = True
    else:
        meets = target.met_by(value)
    return {
        "value": None if value is None else format_rate(value),
        "numerator": numerator,
        "denominator": denominator,
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "target": None if target is None else target.text(),
        "meets": meets,
        "contractual": contractual,
    }


def _validate(data: object) -> tuple[date, list[Order], list[ReturnRequest]]:
    validate(data, POLICY_ID, "input")
    assert isinstance(data, dict)
    orders = [Order.from_json(raw) for raw in data["orders"]]
    requests = [
        ReturnRequest(
            id=raw["id"],
            requested_on=parse_date(raw["requested_on"]),
            negative_feedback=raw["negative_feedback"],
            answered_within_48h=raw["answered_within_48h"],
            wrongly_rejected=raw["wrongly_rejected"],
        )
        for raw in data["return_requests"]
    ]
    return parse_date(data["as_of"]), orders, requests


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Compute the seller account health decision for ``data`` (the contract's input JSON).

    Raises ReferenceInputError (a ``values.CodedInputError``, with a ``code``) on bad input. The
    contract names no cross-field rule for this policy: the input schema rejects all of it.
    """
    as_of, orders, requests = _validate(data)

    odr_window = Window(as_of - timedelta(days=30), 60)  # C6
    window_7 = Window(as_of, 7)
    window_10 = Window(as_of, 10)
    window_30 = Window(as_of, 30)

    in_odr = [o for o in orders if o.placed_on in odr_window]
    seller_7 = [o for o in orders if o.channel == "seller" and o.placed_on in window_7]

    def late_population(window: Window) -> list[Order]:
        return [
            o
            for o in orders
            if o.channel == "seller" and o.placed_on in window and not o.cancelled_by_seller
        ]

    shipped_30 = [
        o
        for o in orders
        if o.channel == "seller" and o.placed_on in window_30 and o.ship_confirmed_on is not None
    ]
    tracked_delivered_30 = [
        o for o in shipped_30 if o.tracking_valid is True and o.delivered_on is not None
    ]
    requests_30 = [r for r in requests if r.requested_on in window_30]

    metrics = {
        "order_defect_rate": _metric("order_defect_rate", odr_window, in_odr, _is_defect),
        "negative_feedback_rate": _metric(
            "negative_feedback_rate", odr_window, in_odr, _negative_feedback
        ),
        "az_claim_rate": _metric(
            "az_claim_rate", odr_window, in_odr, lambda o: o.az_claim != "none"
        ),
        "chargeback_rate": _metric("chargeback_rate", odr_window, in_odr, lambda o: o.chargeback),
        "cancellation_rate": _metric(
            "cancellation_rate",
            window_7,
            seller_7,
            lambda o: o.cancelled_by_seller and not o.cancel_requested_by_buyer,
        ),
        "late_shipment_rate_10d": _metric(
            "late_shipment_rate_10d",
            window_10,
            late_population(window_10),
            lambda o: _is_late(o, as_of),
        ),
        "late_shipment_rate_30d": _metric(
            "late_shipment_rate_30d",
            window_30,
            late_population(window_30),
            lambda o: _is_late(o, as_of),
        ),
        "valid_tracking_rate": _metric(
            "valid_tracking_rate", window_30, shipped_30, lambda o: o.tracking_valid is True
        ),
        "on_time_delivery_rate": _metric(
            "on_time_delivery_rate", window_30, tracked_delivered_30, _on_time
        ),
        "return_dissatisfaction_rate": _metric(
            "return_dissatisfaction_rate", window_30, requests_30, _return_is_negative
        ),
    }

    violations = [
        name
        for name, (_, contractual) in METRICS.items()
        if contractual and metrics[name]["meets"] is False
    ]
    warnings = [
        name
        for name, (_, contractual) in METRICS.items()
        if not contractual and metrics[name]["meets"] is False
    ]

    by_channel = {
        channel: {
            "order_defect_rate": _metric(
                "order_defect_rate",
                odr_window,
                [o for o in in_odr if o.channel == channel],
                _is_defect,
            )
        }
        for channel in ("seller", "fba")
    }
    lines = list(dict.fromkeys(o.product_line for o in in_odr))  # first appearance, input order
    by_product_line = {
        line: {
            "order_defect_rate": _metric(
                "order_defect_rate",
                odr_window,
                [o for o in in_odr if o.product_line == line],
                _is_defect,
            )
        }
        for line in lines
    }

    return {
        "metrics": metrics,
        "violations": violations,
        "warnings": warnings,
        "at_risk": bool(violations),
        "by_channel": by_channel,
        "by_product_line": by_product_line,
    }
