"""`clausewise.lock`, as the engine reads it: the digests of released policy versions.

`PolicyStore.load` (and so `clausewise check`) reports `locked-version-changed` when a locked
version's files no longer match, and `locked-version-deleted` when its policy file is gone.
Writing and updating the lock is `clausewise lock` (`authoring/lock.py`, where the file's format
is described).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dsl.diagnostics import ERROR, NO_SPAN, Diagnostic, Source, Span
from ..dsl.treefiles import check_in_tree, read_bytes, read_text

LOCK_NAME = "clausewise.lock"
LOCK_VERSION = 1

CHANGED = "locked-version-changed"
DELETED = "locked-version-deleted"
INVALID = "invalid-lock"
LOCK_CODES = frozenset({CHANGED, DELETED, INVALID})


class LockFileError(Exception):
    """The lock file cannot be read (not JSON, or not shaped like a lock)."""


@dataclass
class Entry:
    """One locked version: where its policy file is, and the digest of each of its files."""

    path: str
    files: dict[str, str]
    digest: str = ""

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = combined_digest(self.files)

    def to_json(self) -> dict[str, Any]:
        return {"digest": self.digest, "files": dict(sorted(self.files.items())), "path": self.path}


@dataclass
class Lock:
    """The parsed lock file: `entries[policy id][version]`."""

    entries: dict[str, dict[str, Entry]] = field(default_factory=dict)

    def to_text(self) -> str:
        data = {
            "lock_version": LOCK_VERSION,
            "policies": {
                pid: {v: self.entries[pid][v].to_json() for v in sorted(self.entries[pid])}
                for pid in sorted(self.entries)
                if self.entries[pid]
            },
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---- digests ----


def file_digest(path: Path) -> str:
    """`sha256:` of a file's bytes, with CRLF line endings read as LF (a regular file of bounded
    size only, see `treefiles`)."""
    data = read_bytes(path).replace(b"\r\n", b"\n")
    return "sha256:" + hashlib.sha256(data).hexdigest()


def combined_digest(files: dict[str, str]) -> str:
    """One digest for a version: over its files' paths and digests, in path order."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(f"{rel}\0{files[rel]}\n".encode())
    return "sha256:" + h.hexdigest()


# ---- reading ----


def lock_path(root: str | Path) -> Path:
    return Path(root) / LOCK_NAME


def read_lock(path: Path) -> Lock:
    """Read a lock file; an absent file is an empty lock. Raises `LockFileError`."""
    try:
        text = read_text(path)
    except FileNotFoundError:
        return Lock()
    except OSError as e:
        raise LockFileError(f"cannot read {path}: {e.strerror or e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise LockFileError(f"{path} is not JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(data, dict) or not isinstance(data.get("policies", {}), dict):
        raise LockFileError(f"{path} is not a clausewise lock file (no `policies` object)")
    lock = Lock()
    for pid, versions in data.get("policies", {}).items():
        if not isinstance(versions, dict):
            raise LockFileError(f"{path}: the entry of {pid} is not an object")
        for version, raw in versions.items():
            if (
                not isinstance(raw, dict)
                or not isinstance(raw.get("path"), str)
                or not isinstance(raw.get("files"), dict)
                or not isinstance(raw.get("digest"), str)
            ):
                raise LockFileError(
                    f"{path}: the entry of {pid} {version} needs `path`, `files` and `digest`"
                )
            files = {str(k): str(v) for k, v in raw["files"].items()}
            lock.entries.setdefault(pid, {})[version] = Entry(raw["path"], files, raw["digest"])
    return lock


# ---- comparing ----


def changed_files(entry: Entry, root: Path) -> list[str] | None:
    """The files of a locked version whose content differs (or that are gone); None when its
    policy file itself was deleted."""
    if not (root / entry.path).is_file():
        return None
    out = []
    for rel, digest in sorted(entry.files.items()):
        p = root / rel
        try:
            # the lock file is text in the repository: it names files to compare, never
            # files outside the policies folder
            check_in_tree(root, p)
            now = file_digest(p)
        except OSError:
            now = None
        if now != digest:
            out.append(rel)
    if not out and combined_digest(entry.files) != entry.digest:
        out.append(entry.path)  # the entry was edited by hand
    return out


def next_patch(version: str) -> str:
    """1.0.0 -> 1.0.1 (a pre-release suffix is dropped)."""
    core = version.partition("-")[0].split(".")
    if core and core[-1].isdigit():
        return ".".join([*core[:-1], str(int(core[-1]) + 1)])
    return version + ".1"


def version_key(v: str) -> tuple[Any, ...]:
    """The order of a policy's versions: `1.2.0-rc1` < `1.2.0` < `1.10.0`."""
    core, _, pre = v.partition("-")
    nums = tuple(int(x) if x.isdigit() else 0 for x in core.split("."))
    return (*nums, 0 if pre else 1, pre)


def suggested_version(versions: Iterable[str], version: str) -> str:
    """The version to move a changed released `version` to: the patch after the newest of the
    policy's `versions`, so that it names no version that exists (`check` and `lock` both
    suggest this one)."""
    return next_patch(max([*versions, version], key=version_key))


def _entry_line(text: str, pid: str, version: str) -> int:
    """The line of `"version": {` under `"pid": {` in the lock text (1 when not found)."""
    lines = text.splitlines()
    key_id, key_v = json.dumps(pid) + ":", json.dumps(version) + ":"
    start = next((i for i, ln in enumerate(lines) if ln.strip().startswith(key_id)), None)
    if start is None:
        return 1
    for i in range(start + 1, len(lines)):
        if lines[i].strip().startswith(key_v):
            return i + 1
    return start + 1


def _line_span(path: Path, line: int = 1) -> Span:
    try:
        text = read_text(path)
    except OSError:
        return Span(Source(str(path), ""), line, 1, line, 1)
    src = Source(str(path), text)
    lines = text.split("\n")
    start = sum(len(x) + 1 for x in lines[: line - 1])
    width = len(lines[line - 1]) if line - 1 < len(lines) else 0
    return Span(src, line, 1, line, width + 1, start, start + width)


def lock_diagnostics(root: Path, headers: Mapping[str, Mapping[str, Span]]) -> list[Diagnostic]:
    """Errors for the locked versions under the policy `root` whose content changed or that
    were deleted (nothing when there is no lock file). `headers[policy id][version]` is the
    header of each version loaded (where a changed one is reported)."""
    path = lock_path(root)
    if not path.is_file():
        return []
    try:
        lock = read_lock(path)
    except LockFileError as e:
        return [Diagnostic(INVALID, ERROR, str(e), _line_span(path), "run `clausewise lock`")]
    out: list[Diagnostic] = []
    for pid in sorted(lock.entries):
        for version, entry in sorted(lock.entries[pid].items()):
            changed = changed_files(entry, root)
            if changed is None:
                out.append(
                    Diagnostic(
                        DELETED,
                        ERROR,
                        f"{pid} {version} is locked but its file {entry.path} was deleted; "
                        "released versions are immutable",
                        _line_span(path, _entry_line(read_text(path), pid, version)),
                        f"restore {entry.path} (a version that was never released can be "
                        f"removed with `clausewise lock --force`)",
                    )
                )
                continue
            if not changed:
                continue
            span = headers.get(pid, {}).get(version, NO_SPAN)
            if span.source is None:
                span = _line_span(root / entry.path)
            bump = suggested_version(headers.get(pid, {}), version)
            out.append(
                Diagnostic(
                    CHANGED,
                    ERROR,
                    f"{pid} {version} is locked but its content changed; released versions are immutable",
                    span,
                    f"bump the version (e.g. {bump}) and run `clausewise lock`",
                    tuple(f"changed since it was locked: {rel}" for rel in changed),
                )
            )
    return out
