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
from .migrations import POSTGRES_MIGRATIONS, NewerSchemaError, upgrade
from .record import DecisionRecord
from .sqlite import COLUMNS, PRUNE_SQL, decode_row, encode_row, where_clause

__all__ = ["PostgresStore"]

# pg_advisory_xact_lock key of the schema migration: "clausewise log" folded into 63 bits
_MIGRATION_LOCK = 0x636C617573657769

_INSERT = (
    f"INSERT INTO decisions ({COLUMNS}) VALUES "
    "(%s, %s, %s, %s, %s, %s, %s, %s::json, %s::json, %s, %s::json, %s::json)"
)
_CONNECT_TIMEOUT = 5  # seconds: a server that is down fails requests soon, not after minutes
# a server that vanishes without closing the connection (a network cut) is noticed by TCP
# within about ten seconds instead of the system's default of many minutes
_CONNECTION_OPTIONS: dict[str, Any] = {
    "connect_timeout": _CONNECT_TIMEOUT,
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,
}


def _utc(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC)


def _decoded(value: Any) -> Any:
    return value  # psycopg has already read the `json` columns


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
        except (PoolTimeout, psycopg.Error, NewerSchemaError) as e:
            self._pool.close()
            raise ValueError(f"the decision log {self.description} cannot be opened: {e}") from e

    def _new_pool(self) -> Any:
        from psycopg_pool import ConnectionPool

        return ConnectionPool(
            self._url,
            min_size=1,
            max_size=self._pool_size,
            timeout=_CONNECT_TIMEOUT,
            kwargs=_CONNECTION_OPTIONS,
            check=ConnectionPool.check_connection,
            name="clausewise-decision-log",
            open=False,
        )

    def _writer_connection(self) -> Any:
        # the writer has a connection of its own, made again at once after a failure: the
        # pool's reconnection backs off for up to minutes, the writer must not
        if self._writer is None:
            self._writer = self._psycopg.connect(self._url, **_CONNECTION_OPTIONS)
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
        return encode_row(record, time=_utc)

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

    def save_revision(self, revision: str, root: str, files_json: str) -> None:
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "INSERT INTO revisions (revision, root, files) VALUES (%s, %s, %s::json) "
                "ON CONFLICT (revision) DO NOTHING",
                (revision, root, files_json),
            )

    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT root, files FROM revisions WHERE revision = %s", (revision,)
            ).fetchone()
        return None if row is None else (row[0], row[1])

    def reset_writer(self) -> None:
        conn, self._writer = self._writer, None
        if conn is not None:
            conn.close()

    # -- readers -------------------------------------------------------------------------------

    def get(self, decision_id: str) -> DecisionRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {COLUMNS} FROM decisions WHERE decision_id = %s", (decision_id,)
            ).fetchone()
        return None if row is None else decode_row(row, time=_utc, loads=_decoded)

    def query(self, q: Query) -> list[DecisionRecord]:
        where, params = where_clause(q, "%s")
        sql = f"SELECT {COLUMNS} FROM decisions{where} ORDER BY time, decision_id LIMIT %s"
        with self._pool.connection() as conn:
            rows = conn.execute(sql, [*params, q.limit + 1]).fetchall()
        return [decode_row(r, time=_utc, loads=_decoded) for r in rows]

    def close(self) -> None:
        self.reset_writer()
        self._pool.close(timeout=2.0)


def migrate(pool: Any, target: int | None = None) -> int:
    """Bring the schema to `target` (default: the newest) in one transaction, holding an
    advisory lock so that servers starting together take turns; the resulting version."""
    with pool.connection() as conn, conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
        return upgrade(conn.execute, POSTGRES_MIGRATIONS, target, "%s")
