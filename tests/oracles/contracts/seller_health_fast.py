"""Single-pass, speed-tuned implementation of ``health/amazon-seller-account-health``.

The floor the benchmark compares the DSL engine against (50,000 orders): one loop over the
orders, dates parsed with ``date.fromisoformat`` and compared as proleptic ordinals, counters in
local variables. Validation is minimal, equivalent to type checks: every field must be present
with the right JSON type (enums checked, dates parsed); on a failure the slow path pinpoints the
field and raises a ``CodedInputError`` (codes as in ``tests.oracles.contracts.values``). On valid input the output is identical to
``tests.oracles.contracts.seller_health.decide``.
"""

from __future__ import annotations

from datetime import date
from fractions import Fraction
from typing import Any

from tests.oracles.contracts.values import CodedInputError

_fromisoformat = date.fromisoformat
_fromordinal = date.fromordinal

_ORDER_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "str"),
    ("placed_on", "date"),
    ("channel", "channel"),
    ("product_line", "str"),
    ("negative_feedback", "bool"),
    ("feedback_removed", "bool"),
    ("az_claim", "claim"),
    ("chargeback", "bool"),
    ("cancelled_by_seller", "bool"),
    ("cancel_requested_by_buyer", "bool"),
    ("expected_ship_date", "date?"),
    ("ship_confirmed_on", "date?"),
    ("tracking_valid", "bool?"),
    ("estimated_delivery_date", "date?"),
    ("delivered_on", "date?"),
)
_RETURN_FIELDS: tuple[tuple[str, str], ...] = (
    ("id", "str"),
    ("requested_on", "date"),
    ("negative_feedback", "bool"),
    ("answered_within_48h", "bool"),
    ("wrongly_rejected", "bool"),
)
_CLAIMS = {"none": 0, "open": 1, "granted": 1, "denied": 2}  # 1: a defect (C4)
_CHANNELS = frozenset(("seller", "fba"))


def _check(value: Any, kind: str) -> tuple[str, str] | None:
    """Return (code, message) when ``value`` is not of ``kind``, else None."""
    if kind.endswith("?"):
        if value is None:
            return None
        kind = kind[:-1]
    elif value is None:
        return "null_not_allowed", "None is not allowed here"
    if kind == "str":
        return None if type(value) is str else ("wrong_type", "expected a string")
    if kind == "bool":
        return None if type(value) is bool else ("wrong_type", "expected a boolean")
    if kind in ("channel", "claim"):
        allowed = _CHANNELS if kind == "channel" else _CLAIMS
        if type(value) is str and value in allowed:
            return None
        return "unknown_enum_value", f"{value!r} is not one of {sorted(allowed)}"
    if type(value) is not str:
        return "wrong_type", "expected a date string"
    try:
        _fromisoformat(value)
    except ValueError:
        return "invalid_format", f"{value!r} is not a date (YYYY-MM-DD)"
    return None


def _diagnose(prefix: str, item: Any, fields: tuple[tuple[str, str], ...]) -> CodedInputError:
    """Slow path: find the offending field of a list item that failed the fast path."""
    if type(item) is not dict:
        return CodedInputError(prefix, "expected an object", "wrong_type")
    for name, kind in fields:
        if name not in item:
            return CodedInputError(
                f"{prefix}/{name}", f"{name!r} is a required property", "missing_field"
            )
        problem = _check(item[name], kind)
        if problem is not None:
            return CodedInputError(f"{prefix}/{name}", problem[1], problem[0])
    return CodedInputError(prefix, "invalid item", "schema_violation")


def _rate(numerator: int, denominator: int) -> str | None:
    if denominator == 0:
        return None
    scaled = round(Fraction(numerator * 10_000, denominator))  # half to even
    return f"{scaled // 10_000}.{scaled % 10_000:04d}"


def _metric(
    numerator: int,
    denominator: int,
    start: int,
    end: int,
    target: str | None,
    contractual: bool,
) -> dict[str, Any]:
    meets: bool | None
    if target is None:
        meets = None
    elif denominator == 0:
        meets = True
    else:
        threshold = Fraction(target[2:])
        value = Fraction(numerator, denominator)
        meets = value < threshold if target[0] == "<" else value > threshold
    return {
        "value": _rate(numerator, denominator),
        "numerator": numerator,
        "denominator": denominator,
        "window_start": _fromordinal(start).isoformat(),
        "window_end": _fromordinal(end).isoformat(),
        "target": target,
        "meets": meets,
        "contractual": contractual,
    }


def decide(data: dict[str, Any]) -> dict[str, Any]:
    """Compute the seller account health decision in one pass over the orders."""
    if type(data) is not dict:
        raise CodedInputError("", "expected an object", "wrong_type")
    for name, kind in (("as_of", "date"), ("orders", "list"), ("return_requests", "list")):
        if name not in data:
            raise CodedInputError(f"/{name}", f"{name!r} is a required property", "missing_field")
        value = data[name]
        if kind == "list":
            if type(value) is not list:
                code = "null_not_allowed" if value is None else "wrong_type"
                raise CodedInputError(f"/{name}", "expected an array", code)
        elif (problem := _check(value, kind)) is not None:
            raise CodedInputError(f"/{name}", problem[1], problem[0])
    orders = data["orders"]
    requests = data["return_requests"]

    as_of = _fromisoformat(data["as_of"]).toordinal()
    odr_lo, odr_hi = as_of - 89, as_of - 30  # 60 days ending as_of - 30
    c7_lo = as_of - 6
    l10_lo = as_of - 9
    l30_lo = as_of - 29

    odr_n = nfr_n = azc_n = cb_n = 0
    # per channel: [denominator, defects]
    seller_odr = [0, 0]
    fba_odr = [0, 0]
    lines: dict[str, list[int]] = {}
    cancel_d = cancel_n = 0
    l10_d = l10_n = l30_d = l30_n = 0
    vtr_d = vtr_n = 0
    otd_d = otd_n = 0

    claims = _CLAIMS
    index = 0
    try:
        for index, o in enumerate(orders):  # noqa: B007 - index is read in the except clause
            placed = _fromisoformat(o["placed_on"]).toordinal()
            channel = o["channel"]
            is_seller = channel == "seller"
            if not is_seller and channel != "fba":
                raise ValueError
            line = o["product_line"]
            nf = o["negative_feedback"]
            removed = o["feedback_removed"]
            claim = claims[o["az_claim"]]
            chargeback = o["chargeback"]
            cancelled = o["cancelled_by_seller"]
            buyer_cancel = o["cancel_requested_by_buyer"]
            tracking = o["tracking_valid"]
            expected_s = o["expected_ship_date"]
            shipped_s = o["ship_confirmed_on"]
            estimated_s = o["estimated_delivery_date"]
            delivered_s = o["delivered_on"]
            if (
                type(o["id"]) is not str
                or type(line) is not str
                or type(nf) is not bool
                or type(removed) is not bool
                or type(chargeback) is not bool
                or type(cancelled) is not bool
                or type(buyer_cancel) is not bool
                or (tracking is not None and type(tracking) is not bool)
            ):
                raise ValueError
            expected = None if expected_s is None else _fromisoformat(expected_s).toordinal()
            shipped = None if shipped_s is None else _fromisoformat(shipped_s).toordinal()
            estimated = None if estimated_s is None else _fromisoformat(estimated_s).toordinal()
            delivered = None if delivered_s is None else _fromisoformat(delivered_s).toordinal()

            if odr_lo <= placed <= odr_hi:
                neg = nf and not removed
                defect = neg or claim == 1 or chargeback
                if neg:
                    nfr_n += 1
                if claim:
                    azc_n += 1
                if chargeback:
                    cb_n += 1
                per_channel = seller_odr if is_seller else fba_odr
                per_channel[0] += 1
                per_line = lines.get(line)
                if per_line is None:
                    per_line = lines[line] = [0, 0]
                per_line[0] += 1
                if defect:
                    odr_n += 1
                    per_channel[1] += 1
                    per_line[1] += 1

            if is_seller and l30_lo <= placed <= as_of:
                if placed >= c7_lo:
                    cancel_d += 1
                    if cancelled and not buyer_cancel:
                        cancel_n += 1
                if not cancelled:
                    if expected is None:
                        late = False
                    elif shipped is not None:
                        late = shipped > expected
                    else:
                        late = as_of > expected
                    l30_d += 1
                    if late:
                        l30_n += 1
                    if placed >= l10_lo:
                        l10_d += 1
                        if late:
                            l10_n += 1
                if shipped is not None:
                    vtr_d += 1
                    if tracking is True:
                        vtr_n += 1
                        if delivered is not None:
                            otd_d += 1
                            if estimated is None or delivered <= estimated:
                                otd_n += 1
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _diagnose(f"/orders/{index}", orders[index], _ORDER_FIELDS) from None

    rdr_d = rdr_n = 0
    try:
        for index, r in enumerate(requests):  # noqa: B007
            requested = _fromisoformat(r["requested_on"]).toordinal()
            nf = r["negative_feedback"]
            answered = r["answered_within_48h"]
            wrong = r["wrongly_rejected"]
            if (
                type(r["id"]) is not str
                or type(nf) is not bool
                or type(answered) is not bool
                or type(wrong) is not bool
            ):
                raise ValueError
            if l30_lo <= requested <= as_of:
                rdr_d += 1
                if nf or not answered or wrong:
                    rdr_n += 1
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _diagnose(f"/return_requests/{index}", requests[index], _RETURN_FIELDS) from None

    odr = _metric(odr_n, seller_odr[0] + fba_odr[0], odr_lo, odr_hi, "< 0.01", True)
    metrics = {
        "order_defect_rate": odr,
        "negative_feedback_rate": _metric(nfr_n, odr["denominator"], odr_lo, odr_hi, None, False),
        "az_claim_rate": _metric(azc_n, odr["denominator"], odr_lo, odr_hi, None, False),
        "chargeback_rate": _metric(cb_n, odr["denominator"], odr_lo, odr_hi, None, False),
        "cancellation_rate": _metric(cancel_n, cancel_d, c7_lo, as_of, "< 0.025", True),
        "late_shipment_rate_10d": _metric(l10_n, l10_d, l10_lo, as_of, "< 0.04", True),
        "late_shipment_rate_30d": _metric(l30_n, l30_d, l30_lo, as_of, "< 0.04", True),
        "valid_tracking_rate": _metric(vtr_n, vtr_d, l30_lo, as_of, None, False),
        "on_time_delivery_rate": _metric(otd_n, otd_d, l30_lo, as_of, "> 0.97", False),
        "return_dissatisfaction_rate": _metric(rdr_n, rdr_d, l30_lo, as_of, "< 0.10", False),
    }
    violations = [
        name
        for name, metric in metrics.items()
        if metric["contractual"] and metric["meets"] is False
    ]
    warnings = [
        name
        for name, metric in metrics.items()
        if not metric["contractual"] and metric["meets"] is False
    ]
    return {
        "metrics": metrics,
        "violations": violations,
        "warnings": warnings,
        "at_risk": bool(violations),
        "by_channel": {
            "seller": {
                "order_defect_rate": _metric(
                    seller_odr[1], seller_odr[0], odr_lo, odr_hi, "< 0.01", True
                )
            },
            "fba": {
                "order_defect_rate": _metric(fba_odr[1], fba_odr[0], odr_lo, odr_hi, "< 0.01", True)
            },
        },
        "by_product_line": {
            line: {"order_defect_rate": _metric(n, d, odr_lo, odr_hi, "< 0.01", True)}
            for line, (d, n) in lines.items()
        },
    }
