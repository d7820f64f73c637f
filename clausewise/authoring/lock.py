"""`clausewise.authoring.lock`: the content digests of released policy versions.

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

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dsl.diagnostics import ERROR
from ..dsl.treefiles import TreeFileError, read_text, resolve_in_tree
from ..engine.lockfile import (
    LOCK_CODES,
    Entry,
    Lock,
    LockFileError,
    changed_files,
    file_digest,
    lock_path,
    read_lock,
    suggested_version,
)

if TYPE_CHECKING:
    from ..engine.store import LoadedPolicy, PolicyStore

# ---- the files of a version ----


def _rel(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def version_files(lp: LoadedPolicy, root: Path) -> list[Path]:
    """The files a loaded version is made of: the policy, its terms file, its schemas and
    imported modules (those inside `root`: a path leading out of it is the checker's error,
    never read)."""
    from ..dsl.parser import parse_file
    from ..dsl.terms import terms_path

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


# ---- writing ----


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
    from ..engine.store import PolicyStore

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
                f"{suggested_version(store.policies.get(pid, {}), version)}), or re-lock it with "
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
