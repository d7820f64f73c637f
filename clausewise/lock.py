"""`clausewise.lock`: the content digests of released policy versions.

A released version is immutable. `clausewise lock` records, for every policy version under a
policy root, a sha256 digest of the files it is made of: the `.cw` file, the JSON Schemas its
header names, the modules it imports and its terms file (`<version>.terms.md`, when it has one:
a terms file added to a version locked without one is no change). `PolicyStore.load` (and so `clausewise check`) reports
`locked-version-changed` when a locked version's files no longer match, and
`locked-version-deleted` when its policy file is gone. Versions that are not locked yet are fine.

The lock file is JSON with sorted keys, so it is stable under version control::

    {
      "lock_version": 1,
      "policies": {
        "budgets/google-ads-credit-budget": {
          "1.0.0": {
            "digest": "sha256:...",
            "files": {"budgets/google-ads-credit-budget/1.0.0.cw": "sha256:...", ...},
            "path": "budgets/google-ads-credit-budget/1.0.0.cw"
          }
        }
      }
    }

Paths are relative to the policy root, with `/`. Text is hashed with `\\r\\n` read as `\\n`, so a
checkout with Windows line endings has the same digests.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dsl.diagnostics import ERROR, NO_SPAN, Diagnostic, Source, Span
from .treefiles import TreeFileError, check_in_tree, read_bytes, read_text, resolve_in_tree

if TYPE_CHECKING:
    from .engine.store import LoadedPolicy, PolicyStore

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


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def version_files(lp: LoadedPolicy, root: Path) -> list[Path]:
    """The files a loaded version is made of: the policy, its terms file, its schemas and
    imported modules (those inside `root`: a path leading out of it is the checker's error,
    never read)."""
    from .dsl.parser import parse_file
    from .terms import terms_path

    out: list[Path] = [lp.path]
    if terms_path(lp.path).is_file():
        out.append(terms_path(lp.path))
    hdr = lp.program.header
    for ref in (hdr.input_schema, hdr.output_schema):
        if ref:
            try:
                out.append(resolve_in_tree(root, lp.path.parent, ref))
            except TreeFileError:
                continue
    pending = [(lp.path, imp.path) for imp in lp.program.file.imports]
    seen: set[Path] = set()
    while pending:
        importer, rel = pending.pop()
        try:
            mod = Path(os.path.realpath(resolve_in_tree(root, importer.parent, rel)))
        except TreeFileError:
            continue
        if mod in seen:
            continue
        seen.add(mod)
        out.append(mod)
        try:
            pending.extend((mod, imp.path) for imp in parse_file(mod).imports)
        except Exception:  # a module that does not parse is reported by the checker
            continue
    return out


def entry_for(lp: LoadedPolicy, root: Path) -> Entry:
    """The lock entry of a loaded version, from the files on disk now."""
    files = {_rel(p, root): file_digest(p) for p in version_files(lp, root)}
    return Entry(_rel(lp.path, root), files)


# ---- reading and writing ----


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


def write_lock(path: Path, lock: Lock) -> bool:
    """Write the lock file atomically; False (and nothing written) when it is unchanged."""
    text = lock.to_text()
    try:
        if read_text(path) == text:
            return False
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=".clausewise-lock-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


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


def suggested_version(store: PolicyStore, pid: str, version: str) -> str:
    """The version to move a changed released `version` to: the patch after the newest
    version of the policy, so that it names no version that exists (`check` and `lock` both
    suggest this one)."""
    from .engine.store import version_key

    versions = [*store.policies.get(pid, {}), version]
    return next_patch(max(versions, key=version_key))


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


def lock_diagnostics(store: PolicyStore) -> list[Diagnostic]:
    """Errors for the locked versions under the store's root whose content changed or that
    were deleted (nothing when there is no lock file)."""

    root = store.root
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
            lp = store.policies.get(pid, {}).get(version)
            span = lp.program.header.span if lp is not None else NO_SPAN
            if span.source is None:
                span = _line_span(root / entry.path)
            bump = suggested_version(store, pid, version)
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


# ---- the `lock` command ----


@dataclass
class LockPlan:
    """What `clausewise lock` would do: the new lock and what changed."""

    lock: Lock
    added: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, list[str]]] = field(default_factory=list)
    deleted: list[tuple[str, str, str]] = field(default_factory=list)
    kept: int = 0


def plan_lock(store: PolicyStore, force: bool = False) -> LockPlan:
    """Add every loaded version that is not locked; keep the others. Changed or deleted
    locked versions are listed in the plan, and replaced (or dropped) only with `force`."""
    root = store.root
    old = read_lock(lock_path(root))
    new = Lock({pid: dict(vs) for pid, vs in old.entries.items()})
    plan = LockPlan(new)
    for pid in sorted(old.entries):
        for version, entry in sorted(old.entries[pid].items()):
            changed = changed_files(entry, root)
            if changed is None:
                plan.deleted.append((pid, version, entry.path))
                if force:
                    del new.entries[pid][version]
            elif changed:
                plan.changed.append((pid, version, changed))
            else:
                plan.kept += 1
    changed_keys = {(pid, v) for pid, v, _ in plan.changed}
    for pid in sorted(store.policies):
        for version, lp in sorted(store.policies[pid].items()):
            if (pid, version) in changed_keys:
                if force:
                    new.entries[pid][version] = entry_for(lp, root)
                continue
            if version not in old.entries.get(pid, {}):
                new.entries.setdefault(pid, {})[version] = entry_for(lp, root)
                plan.added.append((pid, version))
    return plan


def run_lock(root: str | Path, force: bool, echo: Any) -> int:
    """`clausewise lock`: update `<root>/clausewise.lock`; the exit code (0, 1, or 2 when the
    folder does not exist)."""
    from .engine.store import PolicyStore

    root = Path(root)
    if not root.is_dir():
        echo(f"error: policy folder not found: {root}")
        return 2
    store = PolicyStore.load(root, strict=False)
    errors = [d for d in store.diagnostics if d.severity == ERROR and d.code not in LOCK_CODES]
    if errors:
        for d in errors:
            echo(d.render() + "\n")
        echo(f"error: the policies in {root} do not check; fix them before locking them")
        return 1
    path = lock_path(root)
    try:
        plan = plan_lock(store, force)
    except LockFileError as e:
        echo(f"error: {e}")
        return 1
    if (plan.changed or plan.deleted) and not force:
        for pid, version, files in plan.changed:
            echo(
                f"error: {pid} {version} is locked but its content changed ({', '.join(files)}); "
                f"released versions are immutable: bump the version (e.g. "
                f"{suggested_version(store, pid, version)}), or re-lock it with "
                "`clausewise lock --force`"
            )
        for pid, version, rel in plan.deleted:
            echo(
                f"error: {pid} {version} is locked but its file {rel} was deleted; restore it, "
                "or drop its entry with `clausewise lock --force`"
            )
        echo(f"{path} was not changed")
        return 1
    for pid, version in plan.added:
        echo(f"locked {pid} {version}")
    for pid, version, files in plan.changed:
        echo(f"re-locked {pid} {version} (changed: {', '.join(files)})")
    for pid, version, rel in plan.deleted:
        echo(f"dropped {pid} {version} ({rel} was deleted)")
    try:
        written = write_lock(path, plan.lock)
    except OSError as e:
        echo(f"error: cannot write {path}: {e.strerror or e}")
        return 1
    total = sum(len(vs) for vs in plan.lock.entries.values())
    state = "written" if written else "up to date"
    echo(f"{path}: {total} version(s) locked, {len(plan.added)} new ({state})")
    return 0
