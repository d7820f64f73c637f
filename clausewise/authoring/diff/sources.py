"""Where the two versions of a policy come from: files, a git revision, or versions in a
policies folder; each side with its schemas and the terms file beside it."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...dsl import ast as A
from ...dsl.parser import parse
from ...dsl.treefiles import MAX_FILE_BYTES, policies_root_of, read_text, resolve_in_tree
from .compare import SchemaReader, diff_policies, terms_changes
from .model import Change, Detail, PolicyDiff


class DiffError(Exception):
    """The versions to compare cannot be found or read."""


@dataclass
class Side:
    label: str
    text: str
    path: str  # reported in diagnostics
    schemas: SchemaReader | None
    terms: str | None = None  # the text of the terms file beside the policy, if it has one


def _json_or_none(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return None


def _file_reader(policy_path: Path) -> SchemaReader:
    def read(policy_id: str, name: str) -> Any:
        # only inside the policies root, as `check` reads it (see `treefiles`)
        root = policies_root_of(policy_path, policy_id)
        try:
            return _json_or_none(read_text(resolve_in_tree(root, policy_path.parent, name)))
        except (OSError, UnicodeDecodeError):
            return None

    return read


def file_side(path: Path, label: str | None = None) -> Side:
    try:
        text = read_text(path)
    except (OSError, UnicodeDecodeError) as e:
        why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or e
        raise DiffError(f"cannot read {path}: {why}") from None
    from ...dsl.terms import terms_path

    try:
        terms: str | None = read_text(terms_path(path))
    except (OSError, UnicodeDecodeError):
        terms = None  # none, or unreadable: `check` reports that
    return Side(label or str(path), text, str(path), _file_reader(path), terms)


def git_show(rev: str, path: Path, limit: int = MAX_FILE_BYTES) -> str | None:
    """The text of `path` at git revision `rev` (None when it does not exist there, or is not
    a file there: a symlink, a submodule); at most `limit` bytes (`DiffError` past it)."""
    folder = path.parent if str(path.parent) else Path(".")
    spec = f"{rev}:./{path.name}"
    kind = _git(folder, ["cat-file", "-t", spec], 100, quiet_missing=True)
    if kind is None:
        return None
    if kind.strip() != b"blob" or _git_mode(folder, rev, path.name) not in ("100644", "100755"):
        return None
    data = _git(folder, ["cat-file", "blob", spec], limit)
    if data is None:
        return None
    try:
        return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError:
        raise DiffError(f"{rev}:{path} is not UTF-8 text") from None


def _git_mode(folder: Path, rev: str, name: str) -> str | None:
    out = _git(folder, ["ls-tree", rev, "--", f"./{name}"], 64 * 1024, quiet_missing=True)
    if not out:
        return None
    return out.decode("utf-8", "replace").split(" ", 1)[0]


def _git(folder: Path, args: list[str], limit: int, quiet_missing: bool = False) -> bytes | None:
    """The output of a git command, read up to `limit` bytes (a larger output is an error)."""
    try:
        proc = subprocess.Popen(
            ["git", "-C", str(folder), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
    except OSError as e:
        raise DiffError(f"cannot run git: {e.strerror or e}") from None
    assert proc.stdout is not None and proc.stderr is not None
    with proc:
        data = proc.stdout.read(limit + 1)
        if len(data) > limit:
            proc.kill()
            raise DiffError(f"git {args[0]} {args[-1]}: larger than {limit} bytes")
        err = proc.stderr.read(64 * 1024).decode("utf-8", "replace").strip()
        code = proc.wait()
    if code != 0:
        if quiet_missing and ("does not exist" in err or "exists on disk, but not in" in err):
            return None
        raise DiffError(f"git {' '.join(args)}: {err or 'failed'}")
    return data


def git_side(rev: str, path: Path) -> Side | None:
    text = git_show(rev, path)
    if text is None:
        return None

    def read(policy_id: str, name: str) -> Any:
        # the schema at the revision, inside the policies root as `check` would read it
        root = policies_root_of(path, policy_id)
        try:
            schema_path = resolve_in_tree(root, path.parent, name)
            return _json_or_none(git_show(rev, schema_path))
        except (DiffError, OSError):
            return None

    from ...dsl.terms import terms_path

    try:
        terms = git_show(rev, terms_path(path))
    except DiffError:
        terms = None
    return Side(f"{path} at {rev}", text, f"{rev}:{path}", read, terms)


def version_side(root: Path, policy_id: str, version: str) -> Side:
    from ...engine.store import EXTENSION

    path = root / policy_id / f"{version}{EXTENSION}"
    if not path.is_file():
        folder = root / policy_id
        have = sorted(p.stem for p in folder.glob(f"*{EXTENSION}")) if folder.is_dir() else []
        hint = f" (it has {', '.join(have)})" if have else f" (no folder {folder})"
        raise DiffError(f"{policy_id} has no version {version}{hint}")
    return file_side(path, f"{policy_id} {version}")


def parse_side(side: Side) -> A.PolicyFile:
    return parse(side.text, side.path)


def diff_sides(old: Side, new: Side) -> PolicyDiff:
    """Parse both sides and compare them. Raises `PolicyError` when either does not parse."""
    old_tree, new_tree = parse_side(old), parse_side(new)
    result = diff_policies(old_tree, new_tree, old.label, new.label, old.schemas, new.schemas)
    result.changes += terms_changes(old, new, old_tree, new_tree)
    return result


def added_policy(new: Side, rev: str) -> PolicyDiff:
    """A file that did not exist at `rev`: the whole policy is new."""
    tree = parse_side(new)
    d = PolicyDiff(f"(not in {rev})", new.label, tree.header.id, None, tree.header.version)
    d.changes.append(
        Change("policy", tree.header.id, "added", [Detail("file", f"new file {new.path}")])
    )
    return d
