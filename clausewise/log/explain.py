"""Explanations rendered on read: a logged decision is decided again by the set that made it.

Decisions are pure: the same policy set (revision), version and input give the same output and
trace. So the service logs a decision without its explanation and trace, keeps the files of
every revision it activates in the log (`DecisionLog.save_revision`), and renders both when a
record is read: with the active engine when the record's revision is the active one, otherwise
with an engine built from the revision's stored files (a few kept, least recently used first
out). The decision taken again must give the logged output; when it does not, or when the
revision's files are not in the log, the record is returned without an explanation and with
`explanation_error` saying why. Reading a record never fails because of its explanation.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .base import DecisionLog, LogUnavailableError
from .record import DecisionRecord

if TYPE_CHECKING:
    from .. import Engine

__all__ = ["RecordExplainer"]

# (revision, engine) of the active policy set, or None
ActiveEngine = Callable[[], "tuple[str, Engine] | None"]


class _Stored:
    """An engine built from a revision's stored files, in a private folder kept while cached."""

    __slots__ = ("engine", "folder", "root")

    def __init__(self, engine: Engine, folder: tempfile.TemporaryDirectory[str], root: str):
        self.engine = engine
        self.folder = folder
        self.root = root

    def renamed(self, text: str) -> str:
        """`text` naming the files as the service that decided named them, not the folder
        they were materialised in."""
        from ..dsl.diagnostics import shown_path

        return text.replace(shown_path(self.folder.name) + "/", self.root.rstrip("/") + "/")


class RecordExplainer:
    """Fills in the explanation and trace of records read from `log` (thread-safe).

    `active` gives the revision and engine the service decides with now, so that the common
    read (a decision of the active set) builds nothing. `cache_size` engines of other
    revisions are kept.
    """

    def __init__(self, log: DecisionLog, active: ActiveEngine | None = None, cache_size: int = 4):
        self._log = log
        self._active = active
        self._cache_size = cache_size
        self._engines: OrderedDict[str, _Stored | str] = OrderedDict()  # or why there is none
        self._lock = threading.Lock()
        self._building: dict[str, threading.Lock] = {}

    def explain(self, record: DecisionRecord) -> DecisionRecord:
        """The record with `explanation` and `trace` at the `rules` level, or with
        `explanation_error` when they cannot be rendered. A record that carries them already
        (written by an earlier release) is returned as it is."""
        if record.explanation is not None or record.trace is not None:
            return record
        if "error" in record.output and record.outcome.startswith("error="):
            return record  # a shadow candidate that failed: there is nothing to explain
        try:
            found = self._engine(record.revision)
        except LogUnavailableError as e:
            return _without(record, f"the revision's files cannot be read: {e}")
        if isinstance(found, str):
            return _without(record, found)
        engine = found if not isinstance(found, _Stored) else found.engine
        try:
            decision = engine.evaluate(
                record.policy, record.input, trace="rules", version=record.version
            )
            output = json.loads(json.dumps(decision.output))
            explanation, trace = decision.explain(), decision.trace
        except KeyError:
            return _without(
                record, f"{record.policy} {record.version} is not in revision {record.revision}"
            )
        except Exception as e:  # the record is still worth reading without its explanation
            return _without(record, f"deciding the input again failed: {type(e).__name__}: {e}")
        if output != record.output:
            return _without(
                record,
                "deciding the logged input again gives a different output than the logged one; "
                "no explanation is shown rather than a wrong one",
            )
        if isinstance(found, _Stored):
            explanation = found.renamed(explanation)
            trace = json.loads(found.renamed(json.dumps(trace)))
        return dataclasses.replace(record, explanation=explanation, trace=trace)

    def _engine(self, revision: str) -> Engine | _Stored | str:
        if self._active is not None:
            active = self._active()
            if active is not None and active[0] == revision:
                return active[1]
        with self._lock:
            found = self._engines.get(revision)
            if found is not None:
                self._engines.move_to_end(revision)
                return found
            building = self._building.setdefault(revision, threading.Lock())
        with building:  # one build per revision, however many readers ask at once
            with self._lock:
                found = self._engines.get(revision)
            if found is None:
                found = self._build(revision)
                with self._lock:
                    self._engines[revision] = found
                    while len(self._engines) > self._cache_size:
                        _, gone = self._engines.popitem(last=False)
                        if isinstance(gone, _Stored):
                            gone.folder.cleanup()
                    self._building.pop(revision, None)
        return found

    def _build(self, revision: str) -> _Stored | str:
        from .. import Engine

        kept = self._log.revision_files(revision)
        if kept is None:
            return f"the log does not hold the files of revision {revision}"
        root, files = kept
        folder = tempfile.TemporaryDirectory(prefix="clausewise-revision-")
        base = Path(folder.name)
        try:
            for name, text in files.items():
                rel = PurePosixPath(name)
                if rel.is_absolute() or ".." in rel.parts:
                    raise ValueError(
                        f"revision {revision} names a file outside its folder: {name!r}"
                    )
                path = base.joinpath(*rel.parts)
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            return _Stored(Engine.from_directory(base), folder, root)
        except Exception as e:
            folder.cleanup()
            return f"the files of revision {revision} do not load: {type(e).__name__}: {e}"

    def close(self) -> None:
        """Remove the folders of the cached revisions."""
        with self._lock:
            for found in self._engines.values():
                if isinstance(found, _Stored):
                    found.folder.cleanup()
            self._engines.clear()


def _without(record: DecisionRecord, why: str) -> DecisionRecord:
    return dataclasses.replace(record, explanation=None, trace=None, explanation_error=why)
