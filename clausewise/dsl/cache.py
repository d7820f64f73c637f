"""A per-user folder for data that is slow to derive and safe to keep: in one SQLite database
the parser's LALR tables, the parsed policy files and which JSON Schemas are known to be valid.
Everything kept here is keyed by the content it was derived from, so a stale entry is never used;
deleting the folder, or any file in it, only costs time.

Nothing read from the cache can run code: trees and tables are stored as JSON and read back by
checking decoders (`dsl.treecodec`, `dsl.tablecodec`) that can only build AST nodes, parser
tables and literal values; nothing is pickled. And the cache is only used when nobody else can
write it: the folder, the database and its `-wal`/`-shm` files must belong to the user and must
not be writable by group or others (wherever the folder comes from, `CLAUSEWISE_CACHE_DIR`
included); otherwise nothing is cached and one warning says why.

One database rather than a file per entry: checking a large policy repository on a fresh machine
would otherwise create thousands of small files, which costs more than the parsing it saves later.
Any number of processes may use it at once (write-ahead log; a busy or failing database is
skipped, never waited on for long). Writes are not synced to disk: a cache entry lost in a crash
is only parsed again.

The folder is `$CLAUSEWISE_CACHE_DIR` when set (empty, `0` or `off` turn caching off), else
`clausewise` under the platform's user cache folder (`$XDG_CACHE_HOME` or `~/.cache` on Linux,
`~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows). When it cannot be created or is not
the user's own, nothing is cached: everything still works, only slower.

The database is `cache-2.sqlite3`: the `cache.sqlite3` of earlier versions (which kept pickles)
is neither read nor removed, so an earlier version sharing the folder keeps working.
"""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import sys
import threading
from pathlib import Path
from typing import Any

from . import ast as A

ENV = "CLAUSEWISE_CACHE_DIR"


@functools.cache
def cache_dir() -> Path | None:
    """The cache folder, created if needed; None when caching is off, impossible, or unsafe
    (then with one warning on stderr)."""
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
    problem = _not_own(st, "folder")
    if problem is not None:
        _warn(folder, problem)
        return None
    return folder


def _not_own(st: os.stat_result, what: str) -> str | None:
    """Why a file or folder is not safe to cache in (None when it is the user's own): it must
    belong to the user and not be writable by group or others."""
    if not hasattr(os, "getuid"):  # Windows: the folder is under the user's profile
        return None
    if st.st_uid != os.getuid():
        return f"the {what} belongs to another user (uid {st.st_uid})"
    if st.st_mode & 0o022:
        return f"the {what} is writable by group or others (mode {stat.S_IMODE(st.st_mode):o})"
    return None


_warned: set[str] = set()


def _warn(where: Path, problem: str) -> None:
    # once per place and process: a long-running process must not repeat it per file
    if str(where) in _warned:
        return
    _warned.add(str(where))
    print(
        f"clausewise: warning: not using the cache in {where}: {problem}; nothing is cached",
        file=sys.stderr,
    )


def _platform_cache_root() -> Path:
    if sys.platform == "win32":
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local else Path.home() / "AppData" / "Local"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        # (a lone surrogate, which JSON's `\ud800` escape can put in a schema, is hashed as
        # it is held: the key only has to tell texts apart)
        h.update(p.encode("utf-8", "surrogatepass") if isinstance(p, str) else p)
        h.update(b"\0")
    return h.hexdigest()


# ---- the database ----

_DB = "cache-2.sqlite3"
_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS trees (path TEXT PRIMARY KEY, key TEXT NOT NULL, tree BLOB NOT NULL,
                                  stored INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS valid_schemas (digest TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS parser_tables (key TEXT PRIMARY KEY, tables BLOB NOT NULL);
"""
_MAX_TREES = 2000

# one connection per process (a forked worker opens its own) and a lock for its threads
_conn: tuple[tuple[int, Path | None], Any] | None = None
_lock = threading.Lock()
_pruned = False


def _connect(path: Path) -> Any:
    import sqlite3

    con = sqlite3.connect(path, timeout=1.0, isolation_level=None, check_same_thread=False)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.executescript(_SCHEMA_SQL)
    except BaseException:
        con.close()
        raise
    return con


def _db_files_problem(path: Path) -> str | None:
    """Why the database files cannot be trusted (None when they can, or do not exist yet)."""
    for suffix in ("", "-wal", "-shm"):
        try:
            st = os.lstat(f"{path}{suffix}")
        except FileNotFoundError:
            continue
        name = f"database file {path.name}{suffix}"
        if not stat.S_ISREG(st.st_mode):
            return f"the {name} is not a regular file"
        problem = _not_own(st, name)
        if problem is not None:
            return problem
    return None


def _create_private(path: Path) -> None:
    # created before SQLite opens it, so that it is the user's own and private whatever the
    # umask (SQLite gives its -wal and -shm files the database file's mode)
    try:
        fd = os.open(
            path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600
        )
    except FileExistsError:
        return
    os.close(fd)


def _db() -> Any:
    """This process's connection to the cache database; None when nothing is cached."""
    global _conn
    folder = cache_dir()
    key = (os.getpid(), folder)
    if _conn is not None and _conn[0] == key:
        return _conn[1]
    con = None
    if folder is not None:
        import sqlite3

        path = folder / _DB
        try:
            fresh = not os.path.lexists(path)
            if fresh:
                _create_private(path)
            problem = _db_files_problem(path)
            if problem is not None:
                _warn(path, problem)
            else:
                con = _connect(path)
                if fresh:  # the folders of the layout before the database, if any, go
                    import shutil

                    for old in ("trees", "valid-schemas"):
                        shutil.rmtree(folder / old, ignore_errors=True)
        except sqlite3.Error as e:
            if type(e) is sqlite3.DatabaseError:  # the file is no database: start a new one
                try:
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{path}{suffix}").unlink(missing_ok=True)
                    _create_private(path)
                    con = _connect(path)
                except (sqlite3.Error, OSError):
                    con = None
        except OSError:
            con = None
    _conn = (key, con)
    return con


def prepare() -> None:
    """Decide now whether the cache is used (with the one warning when it is not): called
    before worker processes are forked, so that they inherit the decision and do not each
    warn again."""
    _db()


def _query(sql: str, args: tuple[Any, ...]) -> list[Any] | None:
    """The rows of one statement; None when the cache cannot answer."""
    con = _db()
    if con is None:
        return None
    try:
        with _lock:
            return con.execute(sql, args).fetchall()
    except Exception:  # busy, read-only, full or damaged: do without
        return None


# ---- JSON Schemas known to be valid ----
# Checking a schema against the JSON Schema meta-schema costs more than everything else in
# loading a policy but its schemas (and imports jsonschema). Its outcome depends only on the
# schema's text, so a schema that passed once is remembered by its digest.


def schema_known_valid(text: str, dialect: str) -> bool:
    rows = _query("SELECT 1 FROM valid_schemas WHERE digest = ?", (digest(dialect, text),))
    return bool(rows)


def remember_valid_schema(text: str, dialect: str) -> None:
    _query("INSERT OR IGNORE INTO valid_schemas VALUES (?)", (digest(dialect, text),))


# ---- parsed policy files ----
# Parsing is the largest part of loading a policy. The tree of a file is kept under a digest of
# the file's path and text and of the code that builds trees (the `dsl` package and its grammar,
# lark, Python), so an edit to either gives a new parse. Only files that parse are kept.


@functools.cache
def _tree_fingerprint() -> str:
    # lark is identified by its `__init__.py` (which holds its version) without importing it:
    # a process whose files are all in the cache never imports lark
    import importlib.util

    spec = importlib.util.find_spec("lark")
    lark_init = Path(spec.origin).read_bytes() if spec and spec.origin else b""
    parts: list[str | bytes] = [lark_init, sys.version]
    dsl = Path(__file__).parent
    for f in sorted(dsl.iterdir()):
        if f.suffix in (".py", ".lark"):
            parts += [f.name, f.read_bytes()]
    return digest(*parts)


def load_tree(path: str, text: str) -> A.PolicyFile | None:
    """The tree of `path` parsed from exactly `text` by this code, if it was kept."""
    from .diagnostics import Source
    from .treecodec import TreeDecodeError, decode_tree

    rows = _query("SELECT key, tree FROM trees WHERE path = ?", (os.path.abspath(path),))
    if not rows or rows[0][0] != digest(_tree_fingerprint(), path, text):
        return None
    blob = rows[0][1]
    if not isinstance(blob, bytes):
        return None
    try:
        return decode_tree(blob, Source(path, text))
    except TreeDecodeError:  # damaged, or from another format: parse again
        return None


def store_tree(path: str, text: str, tree: A.PolicyFile) -> None:
    """Keep the tree of `path` (one entry per file: a new version replaces the old one)."""
    import time

    from .treecodec import encode_tree

    global _pruned
    try:
        blob = encode_tree(tree)
    except (TypeError, ValueError, RecursionError):  # e.g. nested too deeply to write
        return
    key = digest(_tree_fingerprint(), path, text)
    done = _query(
        "INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?)",
        (os.path.abspath(path), key, blob, time.time_ns()),
    )
    if done is not None and not _pruned:
        # once a process: past the limit, the older half goes
        _pruned = True
        count = _query("SELECT count(*) FROM trees", ())
        if count and count[0][0] > _MAX_TREES:
            _query(
                "DELETE FROM trees WHERE path IN (SELECT path FROM trees ORDER BY stored LIMIT ?)",
                (count[0][0] // 2,),
            )


# ---- parser tables ----
# Kept under a digest of the grammar, lark's version and Python's, as `dsl.tablecodec` data.


def load_tables(key: str) -> bytes | None:
    """The parser tables kept under `key`, as stored (None when there are none)."""
    rows = _query("SELECT tables FROM parser_tables WHERE key = ?", (key,))
    if not rows or not isinstance(rows[0][0], bytes):
        return None
    return bytes(rows[0][0])


def store_tables(key: str, tables: bytes) -> None:
    """Keep parser tables (written by `dsl.tablecodec`) under `key`."""
    _query("INSERT OR REPLACE INTO parser_tables VALUES (?, ?)", (key, tables))
