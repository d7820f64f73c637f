"""The active policy set and its atomic reload.

A `Snapshot` is immutable: an `Engine`, the revision (a digest of every file of the set) and the
time it was loaded. The service holds exactly one reference to the active snapshot; a reload
builds a whole new one off the request path (in a worker thread) and replaces the reference in
one assignment, so a request that read the reference keeps deciding on the set it started with,
and every answer names the revision that decided it. A set that does not check is never
activated: the previous snapshot keeps serving and the failure is kept, with its diagnostics, as
the last reload.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import Engine, PolicyError
from ..dsl.diagnostics import Diagnostic
from ..engine.revision import read_set, revision_of

# a set that changes while it is being read is read again, this many times at most
_STABLE_READ_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One loaded, checked and compiled policy set, never changed after it is built."""

    engine: Engine
    revision: str
    loaded_at: dt.datetime
    root: Path
    # the files the revision digests (relative path -> text), kept in the decision log so that
    # a decision is explained later by the very set that made it
    files: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload did: `ok` (a new set is active), `unchanged` or `failed`."""

    result: str
    trigger: str
    time: dt.datetime
    revision: str | None  # the active revision after the reload
    attempted_revision: str | None = None  # the revision of the set that was read
    diagnostics: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    error: str | None = None
    duration_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "result": self.result,
            "trigger": self.trigger,
            "time": _iso(self.time),
            "revision": self.revision,
            "attempted_revision": self.attempted_revision,
            "error": self.error,
            "diagnostics": list(self.diagnostics),
            "duration_seconds": round(self.duration_seconds, 6),
        }


def _iso(t: dt.datetime) -> str:
    return t.isoformat().replace("+00:00", "Z")


class SetChangedError(Exception):
    """The files kept changing while the set was being read."""


def load_snapshot(root: str | Path) -> Snapshot:
    """Load, check and compile the set under `root` into a snapshot.

    The revision is taken before and after loading; when the files changed in between, the set
    is read again, so the revision always names the files the engine was built from.
    Raises `PolicyError`, `FileNotFoundError` or `SetChangedError`.
    """
    root = Path(root)
    for _ in range(_STABLE_READ_ATTEMPTS):
        before = revision_of(root)
        engine = Engine.from_directory(root)
        for pid in engine.policy_ids():
            # compile the traced variants now rather than on the first request that needs them
            for lp in engine.store.policies[pid].values():
                _ = lp.compiled.variants["rules"]
        after, files = read_set(root)
        if after == before:
            return Snapshot(engine, before, dt.datetime.now(dt.UTC), root, files)
    raise SetChangedError(f"the files under {root} kept changing while they were read")


class SnapshotHolder:
    """Holds the active snapshot and reloads it: coalesced, off the event loop, all or nothing."""

    def __init__(
        self,
        root: str | Path,
        on_reload: Callable[[ReloadResult], None] | None = None,
        on_activate: Callable[[Snapshot], None] | None = None,
    ):
        self.root = Path(root)
        # called with a new snapshot before it becomes the active one (the decision log keeps
        # its files); when it raises, the snapshot is not activated
        self.on_activate = on_activate
        self.current: Snapshot | None = None
        self.last_reload: ReloadResult | None = None
        self.last_failure: ReloadResult | None = None
        self._on_reload = on_reload
        self._lock: asyncio.Lock | None = None
        self._requested = 0  # triggers seen
        self._served = 0  # triggers answered by a reload that started after them
        self._thread_lock = threading.Lock()

    def load_initial(self) -> Snapshot:
        """Load the first set (raises when it does not check: the service does not start)."""
        snap = load_snapshot(self.root)
        if self.on_activate is not None:
            self.on_activate(snap)
        self.current = snap
        self.last_reload = ReloadResult("ok", "start", snap.loaded_at, snap.revision, snap.revision)
        return snap

    async def reload(self, trigger: str) -> ReloadResult:
        """Reload the set. Triggers that arrive while a reload runs share the next one."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        self._requested += 1
        ticket = self._requested
        async with self._lock:
            if self._served >= ticket and self.last_reload is not None:
                # a reload that started after this trigger has finished meanwhile
                return self.last_reload
            covered = self._requested
            result = await asyncio.to_thread(self._reload_now, trigger)
            self._served = covered
            return result

    def _reload_now(self, trigger: str) -> ReloadResult:
        started = dt.datetime.now(dt.UTC)
        t0 = _monotonic()
        active = self.current
        try:
            attempted = revision_of(self.root)
            if active is not None and attempted == active.revision:
                res = ReloadResult(
                    "unchanged",
                    trigger,
                    started,
                    active.revision,
                    attempted,
                    duration_seconds=_monotonic() - t0,
                )
            else:
                snap = load_snapshot(self.root)
                if self.on_activate is not None:
                    self.on_activate(snap)
                self.current = snap  # the one assignment that activates the new set
                res = ReloadResult(
                    "ok",
                    trigger,
                    started,
                    snap.revision,
                    snap.revision,
                    duration_seconds=_monotonic() - t0,
                )
        except PolicyError as e:
            res = self._failed(trigger, started, t0, "the policy set does not check", e.diagnostics)
        except FileNotFoundError as e:
            res = self._failed(trigger, started, t0, str(e), [])
        except SetChangedError as e:
            res = self._failed(trigger, started, t0, str(e), [])
        except Exception as e:  # a reload must never take the service down
            res = self._failed(trigger, started, t0, f"{type(e).__name__}: {e}", [])
        self.last_reload = res
        if res.result == "failed":
            self.last_failure = res
        if self._on_reload is not None:
            self._on_reload(res)
        return res

    def _failed(
        self,
        trigger: str,
        started: dt.datetime,
        t0: float,
        error: str,
        diagnostics: list[Diagnostic],
    ) -> ReloadResult:
        try:
            attempted: str | None = revision_of(self.root)
        except OSError:
            attempted = None
        active = self.current
        return ReloadResult(
            "failed",
            trigger,
            started,
            active.revision if active else None,
            attempted,
            tuple(d.to_json() for d in diagnostics),
            error,
            _monotonic() - t0,
        )


def _monotonic() -> float:
    return time.monotonic()
