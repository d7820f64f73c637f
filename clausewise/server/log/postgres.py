"""The decision log in PostgreSQL, for several servers sharing one log (psycopg 3, a pool).

Each server has its own writer thread doing group commit; readers take connections from the
pool. The schema is migrated under an advisory lock, so servers starting together migrate it
once. Installed by the `postgres` extra.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from .base import Query, RecordRejectedError, _Store
from .migrations import POSTGRES_MIGRATIONS
from .record import DecisionRecord
from .sqlite import PRUNE_SQL, dumps, where_clause

__all__ = ["PostgresStore"]

# pg_advisory_xact_lock key of the schema migration: "clausewise log" folded into 63 bits
_MIGRATION_LOCK = 0x636C617573657769

_COLUMNS = (
    "decision_id, time, policy, version, revision, kind, shadow_of, "
    "input, output, outcome, explanation, trace"
)
_INSERT = (
    f"INSERT INTO decisions ({_COLUMNS}) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s::json, %s::json, %s, %s::json, %s::json)"
)
_CONNECT_TIMEOUT = 5  # seconds: a server that is down fails requests soon, not after minutes


def _describe(url: str) -> str:
    """The URL without its password, to name the log in messages."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(url)
    except Exception:
        return "postgresql://(unparsable URL)"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


class PostgresStore(_Store):
    """A decision log in a PostgreSQL database (its tables created or upgraded on open)."""

    def __init__(self, url: str, *, pool_size: int = 8):
        try:
            import psycopg
            from psycopg_pool import PoolClosed, PoolTimeout
        except ImportError:
            raise ValueError(
                "a PostgreSQL decision log needs the `postgres` extra: "
                "pip install 'clausewise[postgres]'"
            ) from None
        self._psycopg = psycopg
        self._url = url
        self.description = _describe(url)
        self.errors = (psycopg.Error, PoolTimeout, PoolClosed)
        self._pool_size = pool_size
        self._pool_lock = threading.Lock()
        self._writer: psycopg.Connection[Any] | None = None
        try:
            self._pool = self._new_pool()
        except psycopg.ProgrammingError as e:
            raise ValueError(f"{self.description} is not a usable PostgreSQL URL: {e}") from None
        try:
            self._pool.open(wait=True, timeout=_CONNECT_TIMEOUT * 2)
            migrate(self._pool)
        except (PoolTimeout, psycopg.Error) as e:
            self._pool.close()
            raise ValueError(f"the decision log {self.description} cannot be opened: {e}") from e

    def _new_pool(self) -> Any:
        from psycopg_pool import ConnectionPool

        return ConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            timeout=_CONNECT_TIMEOUT,
            kwargs={"connect_timeout": _CONNECT_TIMEOUT},
            check=ConnectionPool.check_connection,
            name="clausewise-decision-log",
            open=False,
        )

    def _writer_connection(self) -> Any:
        # the writer has a connection of its own, made again at once after a failure: the
        # pool's reconnection backs off for up to minutes, the writer must not
        if self._writer is None:
            self._writer = self._psycopg.connect(self._url, connect_timeout=_CONNECT_TIMEOUT)
        return self._writer

    def recovered(self) -> None:
        """The server is back: replace the readers' pool, whose reconnection may be backing off."""
        fresh = self._new_pool()
        fresh.open(wait=False)
        with self._pool_lock:
            stale, self._pool = self._pool, fresh
        threading.Thread(target=stale.close, kwargs={"timeout": 1.0}, daemon=True).start()

    # -- writer side ---------------------------------------------------------------------------

    def encode(self, record: DecisionRecord) -> tuple[Any, ...]:
        return (
            record.decision_id,
            record.time.astimezone(dt.UTC),
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

    def write(self, rows: list[tuple[Any, ...]]) -> None:
        conn = self._writer_connection()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(_INSERT, rows)
        except self._psycopg.errors.UniqueViolation as e:
            raise RecordRejectedError(f"a decision id is already in the log ({e})") from None

    def probe(self) -> None:
        conn = self._writer_connection()
        with conn.transaction():
            conn.execute(
                "INSERT INTO log_probe (id, checked) VALUES (1, now()) "
                "ON CONFLICT (id) DO UPDATE SET checked = excluded.checked"
            )

    def prune(self, older_than: dt.datetime, limit: int) -> int:
        with self._pool.connection() as conn, conn.transaction():
            return conn.execute(PRUNE_SQL.format("%s"), (older_than, limit)).rowcount

    def reset_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            conn.close()

    # -- readers -------------------------------------------------------------------------------

    def get(self, decision_id: str) -> DecisionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM decisions WHERE decision_id = %s", (decision_id,)
            ).fetchone()
        return None if row is None else _decode(row)

    def query(self, q: Query) -> list[DecisionRecord]:
        where, params = where_clause(q, "%s")
        sql = f"SELECT {_COLUMNS} FROM decisions{where} ORDER BY time, decision_id LIMIT %s"
        with self._pool.connection() as conn:
            rows = conn.execute(sql, [*params, q.limit + 1]).fetchall()
        return [_decode(r) for r in rows]

    def close(self) -> None:
        self.reset_writer()
        self._pool.close(timeout=2.0)


def _decode(row: tuple[Any, ...]) -> DecisionRecord:
    (did, time, policy, version, revision, kind, shadow_of, inp, out, outcome, expl, trace) = row
    return DecisionRecord(
        decision_id=did,
        time=time.astimezone(dt.UTC),
        policy=policy,
        version=version,
        revision=revision,
        input=inp,
        output=out,
        outcome=outcome,
        explanation=expl,
        trace=trace,
        kind=kind,
        shadow_of=shadow_of,
    )


def schema_version(conn: Any) -> int:
    """The schema version of a PostgreSQL log (0 when it has no tables yet)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT version FROM schema_version").fetchone()
    return 0 if row is None else int(row[0])


def migrate(pool: Any, target: int | None = None) -> int:
    """Bring the schema to `target` (default: the newest) in one transaction, holding an
    advisory lock so that servers starting together take turns; the resulting version."""
    import psycopg

    target = len(POSTGRES_MIGRATIONS) if target is None else target
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        current = schema_version(conn)
        if current > len(POSTGRES_MIGRATIONS):
            raise psycopg.DataError(
                f"the log's schema is version {current}, newer than this clausewise knows "
                f"({len(POSTGRES_MIGRATIONS)}): upgrade clausewise"
            )
        for steps in POSTGRES_MIGRATIONS[current:target]:
            for statement in steps:
                conn.execute(statement)
        if target > current:
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (target,))
    return max(current, target)
