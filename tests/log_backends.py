"""The stores the decision log tests run against, behind one helper per backend.

Each helper gives a fresh, empty log URL and the backend-specific acts the behavioural tests
need: an outage of the store, a log written with the first schema, the schema version.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

from clausewise.log import migrations
from tests.log_faults import unwritable
from tests.pg_cluster import PostgresCluster

_V1_ROW = {
    "time": "2026-01-02T03:04:05.000006Z",
    "policy": "promotions/click-credit",
    "version": "1.0.0",
    "revision": "sha256:v1",
    "input": json.dumps({"n": 1}),
    "output": json.dumps({"eligible": True}),
    "outcome": "eligible=true",
    "explanation": json.dumps("written by the first schema"),
    "trace": None,
}


class LogBackend:
    """A store for one test: its URL and the acts the behavioural suite needs."""

    kind: str
    url: str
    newest_schema: int

    def outage(self) -> AbstractContextManager[None]:
        """While inside, the store refuses writes."""
        raise NotImplementedError

    def create_first_schema_with_one_record(self, decision_id: str) -> None:
        """Create the log with schema version 1 only, holding one decision."""
        raise NotImplementedError

    def write_lock_held(self) -> AbstractContextManager[None]:
        """While inside, another client holds the lock a write needs (writes wait)."""
        raise NotImplementedError

    def schema_version(self) -> int:
        raise NotImplementedError

    def set_schema_version(self, version: int) -> None:
        raise NotImplementedError


class SQLiteBackend(LogBackend):
    kind = "sqlite"
    newest_schema = len(migrations.SQLITE_MIGRATIONS)

    def __init__(self, folder: Path):
        self.path = folder / "decisions.db"
        self.url = f"sqlite:///{self.path}"

    @contextmanager
    def outage(self) -> Iterator[None]:
        with unwritable(self.path):
            yield

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, isolation_level=None)

    @contextmanager
    def write_lock_held(self) -> Iterator[None]:
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")

    def create_first_schema_with_one_record(self, decision_id: str) -> None:
        from clausewise.log.sqlite import migrate

        with closing(self._connect()) as conn:
            migrate(conn, target=1)
            columns = ", ".join(["decision_id", *_V1_ROW])
            marks = ", ".join("?" * (len(_V1_ROW) + 1))
            conn.execute(
                f"INSERT INTO decisions ({columns}) VALUES ({marks})",
                [decision_id, *_V1_ROW.values()],
            )

    def schema_version(self) -> int:
        with closing(self._connect()) as conn:
            return int(conn.execute("SELECT version FROM schema_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        with closing(self._connect()) as conn:
            conn.execute("UPDATE schema_version SET version = ?", (version,))


def first_schema_row() -> dict[str, Any]:
    """The columns of the record `create_first_schema_with_one_record` writes."""
    return dict(_V1_ROW)


class PostgresBackend(LogBackend):
    kind = "postgresql"
    newest_schema = len(migrations.POSTGRES_MIGRATIONS)

    def __init__(self, cluster: PostgresCluster):
        self.cluster = cluster
        self.url = cluster.new_database()

    def outage(self) -> AbstractContextManager[None]:
        return self.cluster.stopped()

    def _connect(self) -> Any:
        import psycopg

        return psycopg.connect(self.url, autocommit=True, connect_timeout=10)

    @contextmanager
    def write_lock_held(self) -> Iterator[None]:
        with self._connect() as conn:
            conn.execute("BEGIN")
            conn.execute("LOCK TABLE decisions IN EXCLUSIVE MODE")
            try:
                yield
            finally:
                conn.execute("ROLLBACK")

    def create_first_schema_with_one_record(self, decision_id: str) -> None:
        from psycopg_pool import ConnectionPool

        from clausewise.log.postgres import migrate

        with ConnectionPool(self.url, min_size=1, max_size=1, open=True) as pool:
            migrate(pool, target=1)
        with self._connect() as conn:
            columns = ", ".join(["decision_id", *_V1_ROW])
            marks = ", ".join(["%s"] * (len(_V1_ROW) + 1))
            conn.execute(
                f"INSERT INTO decisions ({columns}) VALUES ({marks})",
                [decision_id, *_V1_ROW.values()],
            )

    def schema_version(self) -> int:
        with self._connect() as conn:
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            return int(row[0])

    def set_schema_version(self, version: int) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE schema_version SET version = %s", (version,))
