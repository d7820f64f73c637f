"""The interface every decision log backend implements, and the group-commit writer they share.

A backend only knows how to write one batch of records in one transaction, read records back,
delete old ones and prove it can still write (`_Store`). `GroupCommitLog` puts one writer thread
in front of it: appends queue up, and every record that arrived while the previous commit was
in flight goes into the next transaction, so concurrent requests share one fsync. A future is
resolved only after its records' transaction committed; when the commit fails every future in
it fails with `LogUnavailableError`, and nothing is dropped silently.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

from .record import DecisionRecord, format_time

__all__ = [
    "DecisionLog",
    "GroupCommitLog",
    "LogUnavailableError",
    "NullLog",
    "Query",
    "RecordRejectedError",
    "decode_cursor",
    "encode_cursor",
]

_logger = logging.getLogger("clausewise.log")


class LogUnavailableError(Exception):
    """The decision log cannot record decisions right now (disk full, read-only, database down)."""


class DecisionLog(ABC):
    """A durable record of decisions. One per server process; every method is thread-safe."""

    @abstractmethod
    def append(self, records: Sequence[DecisionRecord]) -> Future[None]:
        """Queue records for the log. The future resolves once they are durable, or fails with
        `LogUnavailableError` when they could not be written."""

    @abstractmethod
    def get(self, decision_id: str) -> DecisionRecord | None:
        """The record with this id, or None (`LogUnavailableError` when the store cannot be read)."""

    @abstractmethod
    def query(
        self,
        *,
        policy: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        outcome: str | None = None,
        kind: str | None = "live",
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[DecisionRecord], str | None]:
        """One page of records in time order (`since` inclusive, `until` exclusive), and the
        cursor of the next page (None on the last). `kind=None` means live and shadow alike.
        A bad cursor raises ValueError; a store that cannot be read, `LogUnavailableError`."""

    @abstractmethod
    def save_revision(self, revision: str, root: str, files: dict[str, str]) -> None:
        """Keep the files of a policy set (relative path -> text) under its revision, durably,
        before it decides anything; a revision kept already is left as it is. `root` is the
        set's folder as its traces name it. Raises `LogUnavailableError` when they cannot be
        written."""

    @abstractmethod
    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None:
        """(root, files) kept for a revision, or None when the log has none for it."""

    @abstractmethod
    def healthy(self) -> bool:
        """Whether the log accepts writes right now."""

    @abstractmethod
    def prune(self, older_than: dt.datetime) -> int:
        """Delete records older than `older_than`; how many were deleted."""

    @abstractmethod
    def backlog(self) -> int:
        """Records queued and not yet committed."""

    @abstractmethod
    def close(self) -> None:
        """Commit what is queued and release the store."""

    def __enter__(self) -> DecisionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Query:
    """The filters of one `query` call, validated once for every backend."""

    __slots__ = ("after", "kind", "limit", "outcome", "policy", "since", "until")

    def __init__(
        self,
        policy: str | None,
        since: dt.datetime | None,
        until: dt.datetime | None,
        outcome: str | None,
        kind: str | None,
        limit: int,
        after: str | None,
    ):
        for name, t in (("since", since), ("until", until)):
            if t is not None and (t.tzinfo is None or t.utcoffset() is None):
                raise ValueError(f"{name} must be a timezone-aware time")
        if kind not in (None, "live", "shadow"):
            raise ValueError(f"kind must be 'live', 'shadow' or None, not {kind!r}")
        if not 1 <= limit <= 10_000:
            raise ValueError(f"limit must be between 1 and 10000, not {limit}")
        self.policy = policy
        self.since = since
        self.until = until
        self.outcome = outcome
        self.kind = kind
        self.limit = limit
        self.after = decode_cursor(after) if after else None


def encode_cursor(record: DecisionRecord) -> str:
    """The opaque position just after `record` in time order."""
    raw = f"{format_time(record.time)}|{record.decision_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, str]:
    """(time text, decision id) from a cursor; ValueError when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        time_text, decision_id = raw.split("|", 1)
        dt.datetime.strptime(time_text, "%Y-%m-%dT%H:%M:%S.%fZ")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ValueError(f"{cursor!r} is not a cursor returned by a log query") from None
    return time_text, decision_id


class RecordRejectedError(Exception):
    """The store refused a record itself (its id is taken), not because the store is failing."""


class _Store(ABC):
    """What a backend provides to `GroupCommitLog`. `write` and `probe` run on the writer
    thread only; `get`, `query` and `prune` on any thread."""

    description: str
    errors: tuple[type[BaseException], ...]  # what a failing store raises on reads

    @abstractmethod
    def encode(self, record: DecisionRecord) -> tuple[Any, ...]:
        """The record as the row the store inserts (raises ValueError when it cannot be)."""

    @abstractmethod
    def write(self, rows: list[tuple[Any, ...]]) -> None:
        """Insert the rows in one transaction and commit it durably, or raise
        (`RecordRejectedError` when a row itself is refused)."""

    @abstractmethod
    def probe(self) -> None:
        """A small durable write that proves the store accepts writes, or raise."""

    @abstractmethod
    def prune(self, older_than: dt.datetime, limit: int) -> int:
        """Delete up to `limit` records older than `older_than` in one transaction; how many."""

    @abstractmethod
    def save_revision(self, revision: str, root: str, files_json: str) -> None:
        """Insert the files of a revision (JSON text) unless it is there, committed durably
        (a connection of its own: it runs on the reloading thread, not the writer's)."""

    @abstractmethod
    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None: ...

    @abstractmethod
    def get(self, decision_id: str) -> DecisionRecord | None: ...

    @abstractmethod
    def query(self, q: Query) -> list[DecisionRecord]:
        """Up to `q.limit + 1` records matching `q`, in (time, decision_id) order."""

    def recovered(self) -> None:  # noqa: B027 (most stores have nothing to refresh)
        """Called by the writer when the store takes writes again after a failure."""

    @abstractmethod
    def reset_writer(self) -> None:
        """Drop the writer's connection after a failure, so the next write starts afresh."""

    @abstractmethod
    def close(self) -> None: ...


class _Pending:
    __slots__ = ("future", "rows")

    def __init__(self, rows: list[tuple[Any, ...]], future: Future[None]):
        self.rows = rows
        self.future = future


class GroupCommitLog(DecisionLog):
    """A `DecisionLog` over a `_Store`, with one writer thread doing group commit.

    `retention`: records older than this are pruned by the writer every `prune_every`.
    `probe_every`: while idle, the writer checks that the store still takes writes this often
    (more often after a failure), so `healthy()` turns false, and back to true, without traffic.
    """

    max_batch = 2000  # records per transaction, so one huge backlog is not one huge commit
    prune_slice = 5000  # records deleted per transaction
    stalled_after = 10.0  # seconds a commit may take before the log counts as not healthy

    def __init__(
        self,
        store: _Store,
        retention: dt.timedelta | None = None,
        *,
        prune_every: dt.timedelta = dt.timedelta(minutes=10),
        probe_every: float = 5.0,
        probe_every_when_failing: float = 0.5,
    ):
        self._store = store
        self._retention = retention
        self._prune_every = prune_every.total_seconds()
        self._probe_every = probe_every
        self._probe_every_failing = probe_every_when_failing
        self.commits = 0  # transactions committed: appends per commit shows the grouping
        self._queue: deque[_Pending] = deque()
        self._queued_records = 0
        self._in_flight = 0
        self._commit_started: float | None = None
        self._cv = threading.Condition()
        self._closed = False
        self._healthy = True
        self._last_prune = -float("inf") if retention is not None else float("inf")
        self._thread = threading.Thread(
            target=self._run, name=f"decision-log-writer ({store.description})", daemon=True
        )
        self._thread.start()

    # -- the interface ------------------------------------------------------------------------

    def append(self, records: Sequence[DecisionRecord]) -> Future[None]:
        future: Future[None] = Future()
        future.set_running_or_notify_cancel()  # a caller cannot cancel what may be committed
        if not records:
            future.set_result(None)
            return future
        try:
            rows = [self._store.encode(r) for r in records]
        except (TypeError, ValueError) as e:
            future.set_exception(LogUnavailableError(f"a decision cannot be logged: {e}"))
            return future
        with self._cv:
            if self._closed:
                future.set_exception(LogUnavailableError("the decision log is closed"))
                return future
            self._queue.append(_Pending(rows, future))
            self._queued_records += len(rows)
            self._cv.notify()
        return future

    def get(self, decision_id: str) -> DecisionRecord | None:
        try:
            return self._store.get(decision_id)
        except self._store.errors as e:
            raise LogUnavailableError(self._unreadable(e)) from e

    def save_revision(self, revision: str, root: str, files: dict[str, str]) -> None:
        from .sqlite import dumps

        try:
            self._store.save_revision(revision, root, dumps(files))
        except self._store.errors as e:
            raise LogUnavailableError(
                f"the decision log ({self._store.description}) cannot keep revision {revision}: {e}"
            ) from e

    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None:
        try:
            return self._store.revision_files(revision)
        except self._store.errors as e:
            raise LogUnavailableError(self._unreadable(e)) from e

    def _unreadable(self, error: BaseException) -> str:
        return f"the decision log ({self._store.description}) cannot be read: {error}"

    def query(
        self,
        *,
        policy: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        outcome: str | None = None,
        kind: str | None = "live",
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[DecisionRecord], str | None]:
        q = Query(policy, since, until, outcome, kind, limit, after)
        try:
            rows = self._store.query(q)
        except self._store.errors as e:
            raise LogUnavailableError(self._unreadable(e)) from e
        if len(rows) > limit:
            page = rows[:limit]
            return page, encode_cursor(page[-1])
        return rows, None

    def healthy(self) -> bool:
        started = self._commit_started
        if started is not None and time.monotonic() - started > self.stalled_after:
            return False  # a commit hangs (a stuck disk or network): writes are not accepted
        return self._healthy and not self._closed

    def prune(self, older_than: dt.datetime) -> int:
        if older_than.tzinfo is None:
            raise ValueError("older_than must be a timezone-aware time")
        deleted = 0
        try:
            while True:  # in slices, so that appends are never held up for long
                n = self._store.prune(older_than, self.prune_slice)
                deleted += n
                if n < self.prune_slice:
                    return deleted
        except self._store.errors as e:
            raise LogUnavailableError(
                f"the decision log ({self._store.description}) cannot be pruned: {e}"
            ) from e

    def backlog(self) -> int:
        with self._cv:
            return self._queued_records + self._in_flight

    def close(self) -> None:
        with self._cv:
            if self._closed:
                return
            self._closed = True
            self._cv.notify()
        self._thread.join()
        self._store.close()

    # -- the writer thread --------------------------------------------------------------------

    def _run(self) -> None:
        last_activity = time.monotonic()
        while True:
            if self._healthy and time.monotonic() - self._last_prune >= self._prune_every:
                self._prune_expired()
            with self._cv:
                if not self._queue and not self._closed:
                    self._cv.wait(timeout=self._idle_wait(last_activity))
                batch = self._take_batch()
                closing = self._closed and not self._queue
            if batch:
                self._commit(batch)
                last_activity = time.monotonic()
            elif closing:
                return
            elif self._idle_wait(last_activity) <= 0:
                self._probe()
                last_activity = time.monotonic()

    def _idle_wait(self, last_activity: float) -> float:
        """Seconds until the next health probe or pruning is due."""
        every = self._probe_every if self._healthy else self._probe_every_failing
        wait = last_activity + every - time.monotonic()
        if self._retention is not None:
            wait = min(wait, self._last_prune + self._prune_every - time.monotonic())
        return max(0.0, wait)

    def _take_batch(self) -> list[_Pending]:
        batch: list[_Pending] = []
        count = 0
        while self._queue and (not batch or count + len(self._queue[0].rows) <= self.max_batch):
            pending = self._queue.popleft()
            batch.append(pending)
            count += len(pending.rows)
        self._queued_records -= count
        self._in_flight = count
        return batch

    def _commit(self, batch: list[_Pending]) -> None:
        self._commit_started = time.monotonic()
        try:
            self._write(batch)
        finally:
            self._commit_started = None
            with self._cv:
                self._in_flight = 0

    def _write(self, batch: list[_Pending]) -> None:
        try:
            self._store.write([row for p in batch for row in p.rows])
        except RecordRejectedError as e:
            self._reset_writer()
            if len(batch) == 1:
                # only this append's records are at fault; the store itself is fine
                batch[0].future.set_exception(LogUnavailableError(f"not logged: {e}"))
                return
            for p in batch:  # find the append at fault without failing the others
                self._write([p])
        except Exception as e:  # any failure of the store: the records are not durable
            self._fail(batch, e)
        else:
            self._set_healthy()
            self.commits += 1
            for p in batch:
                p.future.set_result(None)

    def _fail(self, batch: list[_Pending], error: Exception) -> None:
        if self._healthy:
            _logger.error("decision log %s cannot be written: %s", self._store.description, error)
        self._healthy = False
        self._reset_writer()
        message = f"the decision log ({self._store.description}) cannot be written: {error}"
        for p in batch:
            p.future.set_exception(LogUnavailableError(message))

    def _probe(self) -> None:
        try:
            self._store.probe()
        except Exception as e:
            if self._healthy:
                _logger.error("decision log %s cannot be written: %s", self._store.description, e)
            self._healthy = False
            self._reset_writer()
        else:
            self._set_healthy()

    def _set_healthy(self) -> None:
        if self._healthy:
            return
        _logger.warning("decision log %s accepts writes again", self._store.description)
        self._healthy = True
        try:
            self._store.recovered()
        except Exception:  # readers reconnect by themselves, only later
            _logger.warning("refreshing the decision log's readers failed", exc_info=True)

    def _reset_writer(self) -> None:
        try:
            self._store.reset_writer()
        except Exception:  # the connection is broken already; a new one is made next time
            _logger.debug("resetting the decision log writer failed", exc_info=True)

    def _prune_expired(self) -> None:
        """One slice of the retention; the next slice comes after the appends waiting now."""
        assert self._retention is not None
        self._last_prune = time.monotonic()
        try:
            deleted = self._store.prune(dt.datetime.now(dt.UTC) - self._retention, self.prune_slice)
        except Exception as e:
            _logger.error("pruning the decision log failed: %s", e)
            return
        if deleted:
            _logger.info("pruned %d decision(s) older than %s", deleted, self._retention)
        if deleted == self.prune_slice:
            self._last_prune = -float("inf")  # more to delete: due again at once


class NullLog(DecisionLog):
    """A log that records nothing (the service with the log switched off)."""

    def append(self, records: Sequence[DecisionRecord]) -> Future[None]:
        future: Future[None] = Future()
        future.set_running_or_notify_cancel()
        future.set_result(None)
        return future

    def get(self, decision_id: str) -> DecisionRecord | None:
        return None

    def query(
        self,
        *,
        policy: str | None = None,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        outcome: str | None = None,
        kind: str | None = "live",
        limit: int = 100,
        after: str | None = None,
    ) -> tuple[list[DecisionRecord], str | None]:
        Query(policy, since, until, outcome, kind, limit, after)  # the same errors as a real log
        return [], None

    def save_revision(self, revision: str, root: str, files: dict[str, str]) -> None:
        pass

    def revision_files(self, revision: str) -> tuple[str, dict[str, str]] | None:
        return None

    def healthy(self) -> bool:
        return True

    def prune(self, older_than: dt.datetime) -> int:
        return 0

    def backlog(self) -> int:
        return 0

    def close(self) -> None:
        pass
