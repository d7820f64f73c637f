"""The outcome of a decision: its first boolean or string-enum output field, as `field=value`."""

from __future__ import annotations

from clausewise.server import outcome_of

SCHEMA = {
    "type": "object",
    "properties": {
        "total": {"type": "object"},
        "count": {"type": "integer"},
        "status": {"type": "string", "enum": ["ok", "at_risk"]},
        "eligible": {"type": "boolean"},
    },
}


def test_first_boolean_or_enum_field_in_schema_order() -> None:
    out = {"eligible": True, "status": "at_risk", "count": 3, "total": {}}
    assert outcome_of(out, SCHEMA) == "status=at_risk"
    assert outcome_of({"eligible": False}, SCHEMA) == "eligible=false"


def test_enum_without_type_counts_and_free_strings_do_not() -> None:
    schema = {"properties": {"note": {"type": "string"}, "tier": {"enum": ["gold", "basic"]}}}
    assert outcome_of({"note": "x", "tier": "gold"}, schema) == "tier=gold"
    mixed = {"properties": {"level": {"enum": [1, "two"]}}}
    assert outcome_of({"level": "two"}, mixed) == ""


def test_no_such_field_gives_empty() -> None:
    assert outcome_of({"count": 1}, SCHEMA) == ""
    assert outcome_of({"eligible": "yes"}, SCHEMA) == ""  # a value that breaks its schema
    assert outcome_of({"x": 1}, None) == ""
    assert outcome_of({"x": 1}, {"properties": []}) == ""
