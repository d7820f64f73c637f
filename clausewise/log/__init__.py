"""The decision log: every decision the service makes, durable before it is answered.

`open_log(url)` opens one: `sqlite:///PATH` (one file, the default) or `postgresql://...` (several
servers sharing one log). Both backends sit behind `DecisionLog`; appends are group-committed by
one writer thread, and a failed commit is reported to every request in it (`LogUnavailableError`),
never dropped. See docs/log.md.
"""

from __future__ import annotations

import datetime as dt

from .base import DecisionLog, GroupCommitLog, LogUnavailableError, NullLog, _Store
from .explain import RecordExplainer
from .record import DecisionRecord, format_time, new_decision_id, parse_duration, parse_time

__all__ = [
    "DecisionLog",
    "DecisionRecord",
    "LogUnavailableError",
    "RecordExplainer",
    "format_time",
    "new_decision_id",
    "open_log",
    "parse_duration",
    "parse_time",
]


def open_log(
    url: str | None,
    retention: dt.timedelta | None = None,
    *,
    create: bool = True,
    probe_every: float = 5.0,
    prune_every: dt.timedelta = dt.timedelta(minutes=10),
) -> DecisionLog:
    """Open the decision log at `url`, bringing its schema up to date.

    `sqlite:///relative.db` or `sqlite:////absolute/path.db`; `postgresql://user@host/db`
    (or `postgres://`); None or `off` for a log that records nothing. With `retention`, records
    older than that are deleted periodically. With `create=False` a missing SQLite file is an
    error instead of a new log. `probe_every`: seconds between checks, while idle, that the
    store still accepts writes; `prune_every`: how often retention is applied. A bad URL or a
    log that cannot be opened raises ValueError.
    """
    if retention is not None and retention <= dt.timedelta(0):
        raise ValueError("the retention must be a positive duration")
    if url is None or url == "off":
        return NullLog()
    store: _Store
    if url.startswith("sqlite:"):
        from .sqlite import SQLiteStore, sqlite_path

        store = SQLiteStore(sqlite_path(url), create=create)
    elif url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        store = PostgresStore(url)
    else:
        raise ValueError(
            f"{url!r} is not a decision log URL: use sqlite:///PATH, postgresql://... or off"
        )
    return GroupCommitLog(store, retention, probe_every=probe_every, prune_every=prune_every)
