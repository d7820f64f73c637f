"""The decision log's schema, as an ordered list of migrations per store.

Version N of the schema is the result of applying the first N migrations. A log is brought to
the current version when it is opened, inside one transaction (and, on PostgreSQL, under an
advisory lock, so several servers starting at once migrate it once). A new migration is
appended, never edited: logs written by earlier releases are upgraded by it.
"""

from __future__ import annotations

__all__ = ["POSTGRES_MIGRATIONS", "SQLITE_MIGRATIONS"]

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
        "ALTER TABLE decisions ADD COLUMN kind TEXT NOT NULL DEFAULT 'live'",
        "ALTER TABLE decisions ADD COLUMN shadow_of TEXT",
        "DROP INDEX decisions_by_time",
        "DROP INDEX decisions_by_policy",
        "CREATE INDEX decisions_by_time ON decisions (kind, time, decision_id)",
        "CREATE INDEX decisions_by_policy ON decisions (kind, policy, time, decision_id)",
        "CREATE INDEX decisions_by_shadow_of ON decisions (shadow_of) WHERE shadow_of IS NOT NULL",
        "CREATE TABLE log_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked TEXT NOT NULL)",
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
        "ALTER TABLE decisions ADD COLUMN kind TEXT NOT NULL DEFAULT 'live'",
        "ALTER TABLE decisions ADD COLUMN shadow_of TEXT",
        "DROP INDEX decisions_by_time",
        "DROP INDEX decisions_by_policy",
        "CREATE INDEX decisions_by_time ON decisions (kind, time, decision_id)",
        "CREATE INDEX decisions_by_policy ON decisions (kind, policy, time, decision_id)",
        "CREATE INDEX decisions_by_shadow_of ON decisions (shadow_of) WHERE shadow_of IS NOT NULL",
        "CREATE TABLE log_probe (id INTEGER PRIMARY KEY CHECK (id = 1), checked TIMESTAMPTZ NOT NULL)",
    ),
)
