"""The revision of a policy set: one digest of every file under its folder (names and bytes,
hidden files and folders aside), and the text of the files it digests. The service names the
revision in every answer and logs the files by it; batch workers receive a set as its files and
digest."""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path


def _policy_files(root: Path) -> list[Path]:
    # hidden files and folders (editor swap files, .git) are not part of the set
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                files.append(Path(dirpath) / name)
    return files


def revision_of(root: str | Path) -> str:
    """The digest of a policy set: every file under `root` (hidden ones aside), names and bytes."""
    return read_set(root)[0]


def read_set(root: str | Path) -> tuple[str, dict[str, str]]:
    """The revision of the set under `root` and the text of the files it digests (relative
    path -> text; a file that is not UTF-8 text is digested but not kept)."""
    root = Path(root)
    h = hashlib.sha256()
    files: dict[str, str] = {}
    for path in _policy_files(root):
        rel_text = path.relative_to(root).as_posix()
        rel = rel_text.encode()
        try:
            data = path.read_bytes()
        except OSError:
            # a file removed while the set is read: the digest differs from the one taken
            # after loading, and the set is read again
            data = b"\0unreadable"
        else:
            with contextlib.suppress(UnicodeDecodeError):  # the engine reads only text files
                files[rel_text] = data.decode("utf-8")
        h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big") + data)
    return "sha256:" + h.hexdigest()[:32], files
