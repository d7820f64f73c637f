"""The decision log in one SQLite file: WAL, `synchronous=FULL`, one writer, readers apart.

Every commit is fsynced before its appends are acknowledged (`synchronous=FULL`); in WAL mode
readers never block the writer, and each reading thread has its own connection.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .base import Query, RecordRejectedError, _Store
from .migrations import SQLITE_MIGRATIONS, NewerSchemaError, upgrade
from .record import DecisionRecord, format_time

__all__ = ["COLUMNS", "SQLiteStore", "decode_row", "encode_row", "sqlite_path", "where_clause"]


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:  # the standard encoder alone: correct, only slower
        return None


_orjson = _optional("orjson")

_BUSY_TIMEOUT_MS = 10_000

COLUMNS = (
    "decision_id, time, policy, version, revision, kind, shadow_of, "
    "input, output, outcome, explanation, trace"
)
_INSERT = f"INSERT INTO decisions ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


# `kind IN (...)` lets the (kind, time, decision_id) index find the old records
PRUNE_SQL = (
    "DELETE FROM decisions WHERE decision_id IN (SELECT decision_id FROM decisions "
    "WHERE kind IN ('live', 'shadow') AND time < {0} LIMIT {0})"
)
_PRUNE = PRUNE_SQL.format("?")


def sqlite_path(url: str) -> Path:
    """The file of a `sqlite:///PATH` URL: `sqlite:///decisions.db` is relative to the working
    folder, `sqlite:////var/lib/clausewise/decisions.db` (four slashes) is absolute."""
    rest = url[len("sqlite:///") :] if url.startswith("sqlite:///") else ""
    if not rest or "?" in rest or "#" in rest:
        raise ValueError(
            f"{url!r} is not a SQLite log URL: write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db"
        )
    return Path(rest)


def dumps(value: Any) -> str:
    """Compact JSON text that every store keeps as written (U+0000 is escaped).

    orjson (installed with the `server` extra) writes a decision's trace a dozen times faster
    than the standard library, which matters at thousands of decisions a second; what it refuses
    (lone surrogates, integers past 64 bits) goes to the standard encoder, escaped to ASCII.
    Unlike the standard encoder, orjson writes a NaN or infinite float as null; decision input
    never holds one (`loads_input` refuses them, and policies take decimals as strings).
    """
    if _orjson is not None:
        try:
            return _orjson.dumps(value).decode()
        except TypeError:
            pass
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False)


def encode_row(
    record: DecisionRecord, time: Callable[[dt.datetime], Any] = format_time
) -> tuple[Any, ...]:
    """The row both SQL stores insert, JSON values as text; `time` converts the time
    (fixed-width RFC 3339 text by default)."""
    return (
        record.decision_id,
        time(record.time),
        record.policy,
        record.version,
        record.revision,
        record.kind,
        record.shadow_of,
        dumps(record.input),
        dumps(record.output),
        record.outcome,
        None if record.explanation is None else dumps(record.explanation),
        None if record.trace is None else dumps(record.trace),
    )


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def decode_row(
    row: Sequence[Any],
    time: Callable[[Any], dt.datetime] = _parse_time,
    loads: Callable[[Any], Any] = json.loads,
) -> DecisionRecord:
    """A record from a row of `COLUMNS`; `time` and `loads` read the time and the JSON values
    as the store returns them (text by default)."""
    (did, at, policy, version, revision, kind, shadow_of, inp, out, outcome, expl, trace) = row
    return DecisionRecord(
        decision_id=did,
        time=time(at),
        policy=policy,
        version=version,
        revision=revision,
        input=loads(inp),
        output=loads(out),
        outcome=outcome,
        explanation=None if expl is None else loads(expl),
        trace=None if trace is None else loads(trace),
        kind=kind,
        shadow_of=shadow_of,
    )


def where_clause(q: Query, placeholder: str = "?") -> tuple[str, list[Any]]:
    """The WHERE and its parameters for a query; the time bounds compare as fixed-width text
    on SQLite and as timestamps on PostgreSQL, both in (time, decision_id) order."""
    conds: list[str] = []
    params: list[Any] = []
    for column, op, value in (
        ("kind", "=", q.kind),
        ("policy", "=", q.policy),
        ("outcome", "=", q.outcome),
        ("time", ">=", q.since),
        ("time", "<", q.until),
    ):
        if value is not None:
            conds.append(f"{column} {op} {placeholder}")
            params.append(value)
    if q.after is not None:
        conds.append(f"(time, decision_id) > ({placeholder}, {placeholder})")
        params.extend([_parse_time(q.after[0]), q.after[1]])
    return (" WHERE " + " AND ".join(conds)) if conds else "", params


class SQLiteStore(_Store):
    """A decision log in one SQLite file (created, with its folder, when missing)."""

    def __init__(self, path: Path, *, create: bool = True):
        self.path = path
        self.description = f"sqlite:///{path}"
        self.errors = (sqlite3.Error, OSError)
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        if not path.exists() and not create:
            raise ValueError(f"no decision log at {path}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer_connection()  # creates the file and brings the schema up to date
        except (OSError, sqlite3.Error, NewerSchemaError) as e:
            raise ValueError(f"the decision log {path} cannot be opened: {e}") from e

    # -- connections ---------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            isolation_level=None,
            check_same_thread=False,
            timeout=_BUSY_TIMEOUT_MS / 1000,
        )
        conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
        return conn

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            # switching a new file to WAL takes an exclusive lock without waiting for it, so
            # several servers opening one new log at once retry here for a bounded time
            deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    self._writer = self._open_writer()
                    break
                except sqlite3.OperationalError as e:
                    if "locked" not in str(e) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
        return self._writer

    def _open_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise sqlite3.OperationalError(f"the log cannot use WAL (journal mode {mode})")
            conn.execute("PRAGMA synchronous = FULL")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only = ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    # -- writer side ---------------------------------------------------------------------------

    def encode(self, record: DecisionRecord) -> tuple[Any, ...]:
        return encode_row(record)

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._writer_connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(_INSERT, rows)
        except sqlite3.IntegrityError as e:
            conn.execute("ROLLBACK")
            raise RecordRejectedError(f"a decision id is already in the log ({e})") from None
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def probe(self) -> None:
        conn = self._writer_connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(
                "INSERT INTO log_probe (id, checked) VALUES (1, ?) "
                "ON CONFLICT (id) DO UPDATE SET checked = excluded.checked",
                (format_time(dt.datetime.now(dt.UTC)),),
            )
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise

    def prune(self, older_than: dt.datetime, limit: int) -> int:
        # a connection of its own: `clausewise log prune` and the writer's retention both call it
        conn = self._connect()
        try:
            cur = conn.execute(_PRUNE, (format_time(older_than), limit))
            return cur.rowcount
        finally:
            conn.close()

    def save_revision(self, revision: str, root: str, files_json: str) -> None:
        # its own connection, in FULL sync like the writer's: the set's files are durable
        # before any of its decisions is acknowledged
        conn = self._connect()
        try:
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute(
                "INSERT INTO revisions (revision, root, files) VALUES (?, ?, ?) "
                "ON CONFLICT (revision) DO NOTHING",
                (revision, root, files_json),
            )
        finally:
            conn.close()

    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None:
        row = (
            self._reader()
            .execute("SELECT root, files FROM revisions WHERE revision = ?", (revision,))
            .fetchone()
        )
        return None if row is None else (row[0], json.loads(row[1]))

    def reset_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            conn.close()

    # -- readers -------------------------------------------------------------------------------

    def get(self, decision_id: str) -> DecisionRecord | None:
        row = (
            self._reader()
            .execute(f"SELECT {COLUMNS} FROM decisions WHERE decision_id = ?", (decision_id,))
            .fetchone()
        )
        return None if row is None else decode_row(row)

    def query(self, q: Query) -> list[DecisionRecord]:
        where, params = where_clause(q)
        params = [format_time(p) if isinstance(p, dt.datetime) else p for p in params]
        sql = f"SELECT {COLUMNS} FROM decisions{where} ORDER BY time, decision_id LIMIT ?"
        rows = self._reader().execute(sql, [*params, q.limit + 1]).fetchall()
        return [decode_row(r) for r in rows]

    def close(self) -> None:
        with self._readers_lock:
            readers, self._readers = self._readers, []
        for conn in readers:
            conn.close()
        self.reset_writer()


def _rollback(conn: sqlite3.Connection) -> None:
    try:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
    except sqlite3.Error:
        pass  # the transaction is gone with the failure; the connection is reset next


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Bring the log's schema to `target` (default: the newest) in one transaction; the version.

    A log written by a newer release is refused (`NewerSchemaError`).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = upgrade(conn.execute, SQLITE_MIGRATIONS, target, "?")
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return version
