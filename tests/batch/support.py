"""What the batch tests share: the row engine's answers, in the form `result_rows` gives."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from clausewise import DecisionError, Engine
from clausewise.batch import result_rows
from clausewise.batch.rows import row_reader


def expected(
    engine: Engine, pid: str, inputs: list[Any], trace: str = "off", **kw: Any
) -> list[dict[str, Any]]:
    """Each input decided by `engine.evaluate`: `{"output"|"error", "version"[, "trace"]}`."""
    lp = engine.policy(pid, **kw)
    out = []
    for inp in inputs:
        try:
            d = engine.evaluate(pid, inp, trace=trace, **kw)
        except DecisionError as e:
            message = e.message + (f" ({e.location})" if getattr(e, "location", "") else "")
            out.append({"error": {"code": e.code, "path": e.path, "message": message}})
        else:
            item: dict[str, Any] = {"output": d.output}
            if trace != "off":
                item["trace"] = d.trace
            out.append(item)
        out[-1]["version"] = lp.version
    return out


def got(engine: Engine, pid: str, table: pa.Table, **kw: Any) -> list[dict[str, Any]]:
    return result_rows(table, engine.policy(pid, **kw).program.output_schema)


def arrow_faithful(engine: Engine, pid: str, inputs: list[Any], **kw: Any) -> pa.Table | None:
    """`inputs` as an Arrow table, when Arrow holds them exactly (reading its rows back gives
    the same inputs); None when it cannot (mixed types, an explicit null where a field may be
    absent, which Arrow writes as absent)."""
    try:
        table = pa.Table.from_pylist(inputs)
    except (pa.ArrowException, AttributeError, TypeError, ValueError, OverflowError):
        return None
    read = row_reader(engine.policy(pid, **kw).program.input_schema)
    if [read(r) for r in table.to_pylist()] != inputs:
        return None
    return table
