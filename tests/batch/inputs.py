"""Inputs of the two bench policies for the batch tests: deterministic, with values on and next
to the thresholds and the period's edges."""

from __future__ import annotations

import random
from typing import Any

W1_FIELDS = ("odr", "cancellation_rate", "late_shipment_rate_10d", "late_shipment_rate_30d")
RATES = ["0", "0.0001", "0.0099", "0.01", "0.0100", "0.0101", "0.024", "0.025", "0.0251",
         "0.039", "0.04", "0.040", "0.0401", "0.5", "1", "0.00999999"]  # fmt: skip
MARKETS = ["FR", "IT", "ES", "US", "DE", "BR", "JP", "SE"]
PRODUCTS = ["sponsored_products", "sponsored_brands", "sponsored_display", "dsp"]
INSTANTS = ["2022-09-26T00:00:00-07:00", "2022-09-26T06:59:59Z", "2022-10-15T12:00:00Z",
            "2022-12-31T23:59:59-08:00", "2023-01-01T08:00:00Z", "2022-11-30T23:00:00+05:30"]  # fmt: skip


def w1_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{name: rng.choice(RATES) for name in W1_FIELDS} for _ in range(n)]


def w2_rows(n: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "marketplace": rng.choice(MARKETS),
            "launches": [
                {
                    "ad_product": rng.choice(PRODUCTS),
                    "launched_at": rng.choice(INSTANTS),
                    "active_days": rng.choice([0, 29, 30, 31, 90]),
                    "first_time": rng.random() < 0.7,
                }
                for _ in range(rng.randint(0, 4))
            ],
        }
        for _ in range(n)
    ]
