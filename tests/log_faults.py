"""Make a SQLite decision log unwritable in a way that holds even for root.

Permission bits do not stop root, and CI runs as root; the immutable attribute (`chattr +i`)
does. On the log's files it makes every commit fail with an I/O error, as a full or read-only
disk would, until it is lifted.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def _chattr(flag: str, paths: list[Path]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["chattr", flag, *map(str, paths)], capture_output=True, text=True, check=False
    )


@contextmanager
def unwritable(db_path: Path) -> Iterator[None]:
    """While inside, the SQLite log at `db_path` (and its WAL) cannot be written by anyone.

    Skips the test, saying why, where the file system has no immutable attribute.
    """
    if shutil.which("chattr") is None:
        pytest.skip("chattr (e2fsprogs) is absent: cannot make the log unwritable as root")
    files = [p for p in (db_path, Path(f"{db_path}-wal")) if p.exists()]
    done = _chattr("+i", files)
    if done.returncode != 0:
        pytest.skip(f"this file system has no immutable attribute: {done.stderr.strip()}")
    try:
        yield
    finally:
        _chattr("-i", files)
