"""A small policy (`shop/discount`) with its schemas and its tests file (`1.0.0.test.yaml`),
written to a policy folder for the tests of `clausewise test`."""

from __future__ import annotations

import json
from pathlib import Path

POLICY = """\
policy "shop/discount"
version "1.0.0"
title "Loyalty discount"
source "Shop terms S1-S3"
input schema "input.schema.json"
output schema "output.schema.json"

table rate(tier) cites S1 {
  | "gold" => 10%
  | "silver" => 5%
  | "bronze" => 0%
}

rule big_order cites S2 "Orders of 1,000 EUR or more get 2% more."
  when input.total >= 1000 EUR

rule blocked cites S3 "Accounts on hold get no discount."
  when input.on_hold

output {
  discount: if blocked then 0 EUR
    else round(input.total * (rate(input.tier) + (if big_order then 2% else 0%)), 2),
}
"""

INPUT_SCHEMA = {
    "type": "object",
    "properties": {
        "tier": {"type": "string", "enum": ["gold", "silver", "bronze"]},
        "on_hold": {"type": "boolean"},
        "total": {"$ref": "#/$defs/money"},
    },
    "required": ["tier", "on_hold", "total"],
    "$defs": {
        "money": {
            "type": "object",
            "format": "money",
            "properties": {
                "amount": {
                    "type": ["string", "integer"],
                    "format": "decimal",
                    "pattern": "^[0-9]+(\\.[0-9]+)?$",
                    "minimum": 0,
                },
                "currency": {"type": "string", "minLength": 1},
            },
            "required": ["amount", "currency"],
        }
    },
}
OUTPUT_SCHEMA = {
    "type": "object",
    "properties": {"discount": {"$ref": "#/$defs/money"}},
    "required": ["discount"],
    "$defs": {
        "money": {
            "type": "object",
            "format": "money",
            "properties": {"amount": {"type": "string"}, "currency": {"type": "string"}},
            "required": ["amount", "currency"],
        }
    },
}

TESTS = """\
policy: shop/discount
cases:
  - name: gold, big order
    input: {tier: gold, on_hold: false, total: {amount: "1000", currency: EUR}}
    expect: {discount: {amount: "120.00", currency: EUR}}
    fired: [big_order, rate row 1]
    not_fired: [blocked]
  - name: silver small, subset
    input_file: silver.json
    expect_subset: {discount: {amount: "5.00"}}
  - name: bad tier
    input: {tier: platinum, on_hold: false, total: {amount: "1", currency: EUR}}
    error: {code: unknown_enum_value, path: /tier}
"""


def write_discount_policy(tmp_path: Path, tests: str = TESTS) -> Path:
    root = tmp_path / "policies"
    d = root / "shop" / "discount"
    d.mkdir(parents=True)
    (d / "1.0.0.cw").write_text(POLICY)
    (d / "input.schema.json").write_text(json.dumps(INPUT_SCHEMA))
    (d / "output.schema.json").write_text(json.dumps(OUTPUT_SCHEMA))
    (d / "1.0.0.test.yaml").write_text(tests)
    (d / "silver.json").write_text(
        json.dumps(
            {"tier": "silver", "on_hold": False, "total": {"amount": "100", "currency": "EUR"}}
        )
    )
    return root
