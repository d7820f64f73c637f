"""A policy set as its files and digest: what travels to the workers of Spark and Dask.

An engine is never pickled: the driver reads the set's files once (`read_policy_set`), and each
worker process writes them into a private temporary folder and loads, checks and compiles them
there, once per digest (`engine_for`). The digest is the revision the decision service reports
for the same files.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from ..engine.revision import read_set

if TYPE_CHECKING:
    from .. import Engine


@dataclass(frozen=True)
class PolicySet:
    """The files of a policy set (relative POSIX path -> bytes) and their digest."""

    digest: str
    files: dict[str, bytes]


def read_policy_set(root: str | Path) -> PolicySet:
    """The policy set under `root` (hidden files aside; the engine reads only text files)."""
    digest, texts = read_set(root)
    return PolicySet(digest, {k: v.encode("utf-8") for k, v in texts.items()})


def as_policy_set(policies: PolicySet | Engine | str | Path) -> PolicySet:
    """A policy set from itself, an engine (the folder it was loaded from) or a folder."""
    if isinstance(policies, PolicySet):
        return policies
    if isinstance(policies, str | Path):
        return read_policy_set(policies)
    return read_policy_set(policies.store.root)


_ENGINES: dict[str, Engine] = {}
_LOADING = threading.Lock()


def engine_for(policy_set: PolicySet) -> Engine:
    """The engine of `policy_set` in this process: loaded from a private copy of its files the
    first time its digest is seen, then reused. Raises `PolicyError` when the set does not check
    and `ValueError` for a file path that would leave the folder."""
    got = _ENGINES.get(policy_set.digest)
    if got is not None:
        return got
    with _LOADING:
        got = _ENGINES.get(policy_set.digest)
        if got is not None:
            return got
        from .. import Engine

        folder = Path(tempfile.mkdtemp(prefix="clausewise-set-"))
        atexit.register(shutil.rmtree, folder, True)
        for rel, data in policy_set.files.items():
            parts = PurePosixPath(rel).parts
            if not parts or PurePosixPath(rel).is_absolute() or ".." in parts:
                raise ValueError(f"a policy set file path must stay inside the set: {rel!r}")
            path = folder.joinpath(*parts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        engine = Engine.from_directory(folder)
        engine.__dict__["_batch_revision"] = policy_set.digest
        _ENGINES[policy_set.digest] = engine
        return engine
