"""The decision service: an HTTP shell over `clausewise.Engine`.

`clausewise serve` runs it (see docs/server.md). The parts: `app` (routes), `snapshot` (the active
policy set and its atomic reload), `auth` (bearer tokens), `metrics` (Prometheus), `openapi`
(the document typed per policy), and `log` (the durable decision log and its backends).
"""

from __future__ import annotations

from typing import Any

__all__ = ["outcome_of"]


def outcome_of(output: dict[str, Any], output_schema: dict[str, Any] | None) -> str:
    """The headline of a decision, `field=value`, used to filter the log and label metrics.

    It is the output's first top-level field (in the output schema's order) whose schema type
    is boolean or a string enum, e.g. `eligible=true`; "" when the output has no such field.
    """
    props = (output_schema or {}).get("properties")
    if not isinstance(props, dict):
        return ""
    for name, spec in props.items():
        if not isinstance(spec, dict) or name not in output:
            continue
        value = output[name]
        kind = spec.get("type")
        if kind == "boolean" and isinstance(value, bool):
            return f"{name}={'true' if value else 'false'}"
        enum = spec.get("enum")
        if (
            kind in ("string", None)
            and isinstance(enum, list)
            and enum
            and all(isinstance(e, str) for e in enum)
            and isinstance(value, str)
        ):
            return f"{name}={value}"
    return ""
