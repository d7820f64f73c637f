"""The decision log's schema, as an ordered list of migrations per store.

Version N of the schema is the result of applying the first N migrations. A log is brought to
the current version when it is opened, inside one transaction (and, on PostgreSQL, under an
advisory lock, so several servers starting at once migrate it once). A new migration is
appended, never edited: logs written by earlier releases are upgraded by it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS", "NewerSchemaError", "upgrade"]


class NewerSchemaError(ValueError):
    """The log was written by a newer release, with a schema this one does not know."""


def upgrade(
    execute: Callable[..., Any],
    migrations: Sequence[Sequence[str]],
    target: int | None,
    placeholder: str,
) -> int:
    """Apply the migrations a log lacks, up to `target` (default: all); the resulting version.

    `execute(sql, params)` runs a statement inside the caller's transaction (a DB-API
    connection's `execute`), so the schema and its version change together or not at all.
    """
    target = len(migrations) if target is None else target
    execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)", ())
    row = execute("SELECT version FROM schema_version", ()).fetchone()
    current = 0 if row is None else int(row[0])
    if current > len(migrations):
        raise NewerSchemaError(
            f"the log's schema is version {current}, newer than this clausewise knows "
            f"({len(migrations)}): upgrade clausewise"
        )
    for steps in migrations[current:target]:
        for statement in steps:
            execute(statement, ())
    if target > current:
        execute("DELETE FROM schema_version", ())
        execute(f"INSERT INTO schema_version (version) VALUES ({placeholder})", (target,))
    return max(current, target)


# version 2's change of the decisions table, the same SQL on both stores
_SHADOW_COLUMNS = (
    "ALTER TABLE decisions ADD COLUMN kind TEXT NOT NULL DEFAULT 'live'",
    "ALTER TABLE decisions ADD COLUMN shadow_of TEXT",
    "DROP INDEX decisions_by_time",
    "DROP INDEX decisions_by_policy",
    "CREATE INDEX decisions_by_time ON decisions (kind, time, decision_id)",
    "CREATE INDEX decisions_by_policy ON decisions (kind, policy, time, decision_id)",
    "CREATE INDEX decisions_by_shadow_of ON decisions (shadow_of) WHERE shadow_of IS NOT NULL",
)

SQLITE_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: decisions
    (
        """CREATE TABLE decisions (
            decision_id TEXT PRIMARY KEY,
            time TEXT NOT NULL,
            policy TEXT NOT NULL,
            version TEXT NOT NULL,
            revision TEXT NOT NULL,
            input TEXT NOT NULL,
            output TEXT NOT NULL,
            outcome TEXT NOT NULL,
            explanation TEXT,
            trace TEXT
        )""",
        "CREATE INDEX decisions_by_time ON decisions (time, decision_id)",
        "CREATE INDEX decisions_by_policy ON decisions (policy, time, decision_id)",
    ),
    # 2: shadow decisions beside the live ones, and a row the writer's health probe rewrites
    (
        *_SHADOW_COLUMNS,
        "CREATE TABLE log_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked TEXT NOT NULL)",
    ),
    # 3: the files of each policy set that decided, so that explanations are rendered on read
    (
        "CREATE TABLE revisions (revision TEXT PRIMARY KEY, root TEXT NOT NULL, files TEXT NOT NULL)",
    ),
)

# JSON values are kept as `json` (the text as written), not `jsonb`: jsonb refuses strings
# holding U+0000, which decision input may contain, and a decision must never fail to log
# because of its input.
POSTGRES_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    # 1: decisions
    (
        """CREATE TABLE decisions (
            decision_id TEXT COLLATE "C" PRIMARY KEY,
            time TIMESTAMPTZ NOT NULL,
            policy TEXT NOT NULL,
            version TEXT NOT NULL,
            revision TEXT NOT NULL,
            input JSON NOT NULL,
            output JSON NOT NULL,
            outcome TEXT NOT NULL,
            explanation JSON,
            trace JSON
        )""",
        "CREATE INDEX decisions_by_time ON decisions (time, decision_id)",
        "CREATE INDEX decisions_by_policy ON decisions (policy, time, decision_id)",
    ),
    # 2: shadow decisions beside the live ones, and a row the writer's health probe rewrites
    (
        *_SHADOW_COLUMNS,
        "CREATE TABLE log_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked TIMESTAMPTZ NOT NULL)",
    ),
    # 3: the files of each policy set that decided, so that explanations are rendered on read
    (
        'CREATE TABLE revisions (revision TEXT COLLATE "C" PRIMARY KEY, root TEXT NOT NULL, '
        "files JSON NOT NULL)",
    ),
)
