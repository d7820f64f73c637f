"""`clausewise eval POLICY_ID --batch IN --out OUT` with files on disk, through the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.feather as feather
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from clausewise import Engine
from clausewise.cli import main
from tests.batch.inputs import w1_rows as w1_inputs
from tests.batch.inputs import w2_rows as w2_inputs
from tests.batch.support import expected

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "policies"

W1 = "bench/w1-health-thresholds"
W2 = "bench/w2-promotion-credit"
ENGINE = Engine.from_directory(BENCH)


def _run(*args: str) -> Any:
    return CliRunner().invoke(main, ["eval", *args, "--policies", str(BENCH)])


def _w1_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = w1_inputs(50, 11)
    rows[7] = {**rows[7], "odr": "1e-3"}  # a bad row
    return rows


def _write(rows: list[dict[str, Any]], path: Path) -> None:
    table = pa.Table.from_pylist(rows)
    ext = path.suffix
    if ext == ".parquet":
        pq.write_table(table, path)
    elif ext in (".arrow", ".feather"):
        feather.write_feather(table, path)
    elif ext == ".csv":
        pacsv.write_csv(table, path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _read(path: Path) -> list[dict[str, Any]]:
    ext = path.suffix
    if ext == ".parquet":
        return pq.read_table(path).to_pylist()
    if ext in (".arrow", ".feather"):
        return feather.read_table(path).to_pylist()
    if ext == ".csv":
        return pacsv.read_csv(
            path, convert_options=pacsv.ConvertOptions(strings_can_be_null=True)
        ).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _as_json(row: dict[str, Any], ext: str) -> dict[str, Any]:
    """A result row from a file as `{"output"|"error", ...}` (CSV cells hold lists as JSON)."""
    if row["_error_code"] is not None:
        return {"code": row["_error_code"], "path": row["_error_path"]}
    violations = row["violations"]
    if ext == ".csv":
        violations = json.loads(violations)
    return {"violations": violations, "at_risk": row["at_risk"]}


FORMATS = [".parquet", ".arrow", ".feather", ".csv", ".jsonl"]


@pytest.mark.parametrize("src", FORMATS)
@pytest.mark.parametrize("dst", FORMATS)
def test_every_format_in_and_out_with_a_bad_row(src: str, dst: str, tmp_path: Path) -> None:
    rows = _w1_rows()
    _write(rows, tmp_path / f"in{src}")
    res = _run(W1, "--batch", str(tmp_path / f"in{src}"), "--out", str(tmp_path / f"out{dst}"))
    assert res.exit_code == 3, res.output  # a row was refused for its input
    assert "rows: 50\n" in res.output and "decisions: 49\n" in res.output
    assert "errors: 1\n" in res.output and "  invalid_format: 1\n" in res.output
    assert "rows/s" in res.output
    got = [_as_json(r, dst) for r in _read(tmp_path / f"out{dst}")]
    want = [
        {"code": w["error"]["code"], "path": w["error"]["path"]} if "error" in w else w["output"]
        for w in expected(ENGINE, W1, rows)
    ]
    assert got == want


def test_all_rows_decided_exits_0_and_explain_adds_the_rules_explanation(tmp_path: Path) -> None:
    rows = w2_inputs(30, 5)
    _write(rows, tmp_path / "in.jsonl")
    res = _run(W2, "--batch", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o.parquet"),
               "--explain")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "errors: 0\n" in res.output
    table = pq.read_table(tmp_path / "o.parquet")
    assert table.column("_explanation").to_pylist() == [
        ENGINE.evaluate(W2, r, trace="rules").explain() for r in rows
    ]


def test_trace_full_writes_the_trace_column(tmp_path: Path) -> None:
    rows = w2_inputs(10, 8)
    _write(rows, tmp_path / "in.jsonl")
    res = _run(W2, "--batch", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o.jsonl"),
               "--trace", "full")  # fmt: skip
    assert res.exit_code == 0, res.output
    lines = _read(tmp_path / "o.jsonl")
    assert [json.loads(line["_trace"]) for line in lines] == [
        ENGINE.evaluate(W2, r, trace="full").trace for r in rows
    ]
    assert [line["total_credit"] for line in lines] == [
        ENGINE.evaluate(W2, r).output["total_credit"] for r in rows
    ]


def test_a_missing_column_refuses_every_row_with_missing_field(tmp_path: Path) -> None:
    rows = [{k: v for k, v in r.items() if k != "odr"} for r in w1_inputs(20, 2)]
    _write(rows, tmp_path / "in.csv")
    res = _run(W1, "--batch", str(tmp_path / "in.csv"), "--out", str(tmp_path / "out.parquet"))
    assert res.exit_code == 3, res.output
    assert "  missing_field: 20\n" in res.output
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.column("_error_path").to_pylist() == ["/odr"] * 20
    assert out.column("violations").null_count == 20


def test_a_bad_json_line_is_its_row_s_error(tmp_path: Path) -> None:
    rows = w1_inputs(5, 4)
    text = "".join(json.dumps(r) + "\n" for r in rows[:2]) + "{not json\n\n"
    text += "".join(json.dumps(r) + "\n" for r in rows[2:])
    (tmp_path / "in.jsonl").write_text(text, encoding="utf-8")
    res = _run(W1, "--batch", str(tmp_path / "in.jsonl"), "--out", str(tmp_path / "o.jsonl"))
    assert res.exit_code == 3, res.output
    out = _read(tmp_path / "o.jsonl")
    assert [r["_error_code"] for r in out] == [None, None, "invalid_json", None, None, None]
    assert "line 3" in out[2]["_error_message"]


@pytest.mark.parametrize("name", ["in.txt", "in", "in.xlsx"])
def test_an_unknown_extension_is_refused(name: str, tmp_path: Path) -> None:
    (tmp_path / name).write_text("odr\n0\n", encoding="utf-8")
    res = _run(W1, "--batch", str(tmp_path / name), "--out", str(tmp_path / "o.csv"))
    assert res.exit_code == 2
    assert "unknown extension" in res.output
    res = _run(W1, "--batch", str(tmp_path / "x.csv"), "--out", str(tmp_path / name))
    assert res.exit_code == 2 and "unknown extension" in res.output
    assert not (tmp_path / name).is_dir()


@pytest.mark.parametrize("name", ["in.parquet", "in.arrow", "in.csv", "in.jsonl"])
def test_an_unreadable_file_is_refused_with_its_name(name: str, tmp_path: Path) -> None:
    res = _run(W1, "--batch", str(tmp_path / name), "--out", str(tmp_path / "o.parquet"))
    assert res.exit_code == 2
    assert name in res.output and "cannot be read" in res.output
    if name.endswith((".parquet", ".arrow")):
        (tmp_path / name).write_bytes(b"this is not a columnar file at all")
        res = _run(W1, "--batch", str(tmp_path / name), "--out", str(tmp_path / "o.parquet"))
        assert res.exit_code == 2 and "not a readable" in res.output, res.output
    assert not (tmp_path / "o.parquet").exists()


def test_batch_needs_out_and_excludes_input(tmp_path: Path) -> None:
    assert _run(W1, "--batch", "x.csv").exit_code == 2
    assert _run(W1, "--out", "x.csv").exit_code == 2
    assert _run(W1, "--input", "x.json", "--batch", "x.csv", "--out", "y.csv").exit_code == 2
