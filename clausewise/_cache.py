"""A per-user folder for data that is slow to derive and safe to keep: the parser's LALR tables
and which JSON Schemas are known to be valid. Everything kept here is keyed by the content it was
derived from, so a stale entry is never used; deleting the folder only costs time.

The folder is `$CLAUSEWISE_CACHE_DIR` when set (empty, `0` or `off` turn caching off), else
`clausewise` under the platform's user cache folder (`$XDG_CACHE_HOME` or `~/.cache` on Linux,
`~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). When it cannot be created or is not
the user's own, nothing is cached: everything still works, only slower.
"""

from __future__ import annotations

import functools
import hashlib
import os
import sys
from pathlib import Path

from .dsl import ast as A

ENV = "CLAUSEWISE_CACHE_DIR"


@functools.cache
def cache_dir() -> Path | None:
    """The cache folder, created if needed; None when caching is off or impossible."""
    explicit = os.environ.get(ENV)
    if explicit is not None:
        if explicit.strip().lower() in ("", "0", "off", "false", "no"):
            return None
        folder = Path(explicit).expanduser()
    else:
        try:
            folder = _platform_cache_root() / "clausewise"
        except (RuntimeError, KeyError, OSError):  # no home folder
            return None
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return None
    # cached parser tables are unpickled: only trust a folder that is the user's own and that
    # others cannot write to (an explicit folder is the user's choice)
    if (
        explicit is None
        and hasattr(os, "getuid")
        and (st.st_uid != os.getuid() or st.st_mode & 0o022)
    ):
        return None
    return folder


def _platform_cache_root() -> Path:
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def cache_file(name: str) -> Path | None:
    """A file in the cache folder (not necessarily existing); None when nothing is cached."""
    folder = cache_dir()
    return None if folder is None else folder / name


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode() if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


# ---- JSON Schemas known to be valid ----
# Checking a schema against the JSON Schema meta-schema costs more than everything else in
# loading a policy but its schemas (and imports jsonschema). Its outcome depends only on the
# schema's text, so a schema that passed once is remembered by its digest.

_SCHEMAS = "valid-schemas"


def schema_known_valid(text: str, dialect: str) -> bool:
    folder = cache_dir()
    if folder is None:
        return False
    return (folder / _SCHEMAS / digest(dialect, text)).exists()


def remember_valid_schema(text: str, dialect: str) -> None:
    folder = cache_dir()
    if folder is None:
        return
    try:
        (folder / _SCHEMAS).mkdir(mode=0o700, exist_ok=True)
        (folder / _SCHEMAS / digest(dialect, text)).touch()
    except OSError:
        pass


# ---- parsed policy files ----
# Parsing is the largest part of loading a policy. The tree of a file is kept under a digest of
# the file's path and text and of the code that builds trees (the `dsl` package and its grammar,
# lark, Python), so an edit to either gives a new parse. Only files that parse are kept.

_TREES = "trees"
_MAX_TREES = 2000


@functools.cache
def _tree_fingerprint() -> str:
    # lark is identified by its `__init__.py` (which holds its version) without importing it:
    # a process whose files are all in the cache never imports lark
    import importlib.util

    spec = importlib.util.find_spec("lark")
    lark_init = Path(spec.origin).read_bytes() if spec and spec.origin else b""
    parts: list[str | bytes] = [lark_init, sys.version]
    dsl = Path(__file__).with_name("dsl")
    for f in sorted(dsl.iterdir()):
        if f.suffix in (".py", ".lark"):
            parts += [f.name, f.read_bytes()]
    return digest(*parts)


def parse_file(path: str | Path) -> A.PolicyFile:
    """Read and parse a policy file; the tree of an unchanged file comes from the cache (and
    the parser, and lark, are then not even imported)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8")
    tree = load_tree(str(p), text)
    if isinstance(tree, A.PolicyFile):
        return tree
    from .dsl.parser import parse

    tree = parse(text, str(p))
    store_tree(str(p), text, tree)
    return tree


def _tree_path(path: str) -> Path | None:
    folder = cache_dir()
    if folder is None:
        return None
    # one entry per file: a new version of a file replaces the entry of the old one
    return folder / _TREES / (digest(os.path.abspath(path))[:32] + ".pickle")


def load_tree(path: str, text: str) -> object | None:
    """The tree of `path` parsed from exactly `text` by this code, if it was kept."""
    import pickle

    entry = _tree_path(path)
    if entry is None:
        return None
    try:
        with entry.open("rb") as f:
            key = f.readline().rstrip(b"\n").decode()
            if key != digest(_tree_fingerprint(), path, text):
                return None
            return pickle.load(f)
    except Exception:  # absent, unreadable or from an older layout: parse again
        return None


def store_tree(path: str, text: str, tree: object) -> None:
    import pickle
    import tempfile

    entry = _tree_path(path)
    if entry is None:
        return
    try:
        entry.parent.mkdir(mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(digest(_tree_fingerprint(), path, text).encode() + b"\n")
                pickle.dump(tree, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, entry)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        _prune(entry.parent)
    except Exception:  # a cache that cannot be written is no cache
        return


def _prune(folder: Path) -> None:
    names = os.listdir(folder)
    if len(names) <= _MAX_TREES:
        return
    entries = sorted((folder / n for n in names), key=lambda p: p.stat().st_mtime)
    for p in entries[: len(entries) // 2]:
        p.unlink(missing_ok=True)
