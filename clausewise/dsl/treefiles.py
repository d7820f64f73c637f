"""Reading the files a policy names: its imported modules, its JSON Schemas, a test's input file.

Policy text is not trusted to name only harmless files, so every such path goes through here:

- it resolves inside the policies root: a relative path from the naming file's folder, `..`
  allowed while it stays inside; absolute paths are refused; symlinks are resolved first and the
  place they lead to is checked, so a link within the tree works and a link out of it does not;
- only a regular file is read (never a FIFO, a device, a socket or a folder): it is checked with
  `stat` before it is opened, opened non-blocking (a FIFO swapped in meanwhile cannot hang the
  open), and checked again with `fstat` on the open descriptor;
- at most `MAX_FILE_BYTES` are read: a larger file (or a file that grows past the limit while
  it is read, or a `/proc` file that says it is empty) is refused.

The errors are `OSError`s whose message quotes only the path as the policy wrote it, never
anything read from the file.

The policies root is the folder given to `clausewise check`, `eval`, `test` or
`Engine.from_directory`. For a single policy file checked on its own it is inferred from the
policy id: `<root>/<policy id>/<version>.cw`, or the file's own folder when the file is not
laid out that way (see `policies_root_of`).
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 4 * 1024 * 1024  # a policy, module, schema or test input file


class TreeFileError(OSError):
    """A file a policy names that clausewise will not read (the message quotes only the path
    as the policy wrote it). `code` is the code of the diagnostic that reports it."""

    code = "unreadable"

    def __init__(self, message: str):
        super().__init__(message)
        self.strerror = message


class OutsideTreeError(TreeFileError):
    """The path leads outside the policies root (absolute, `..` too far, or a symlink)."""

    code = "file-outside-tree"


class NotRegularFileError(TreeFileError):
    """The path names a folder, a FIFO, a device or a socket."""

    code = "file-not-regular"


class FileTooLargeError(TreeFileError):
    """The file is larger than `MAX_FILE_BYTES`."""

    code = "file-too-large"


def policies_root_of(path: str | Path, policy_id: str | None) -> Path:
    """The policies root of a policy file checked on its own: the folder that holds
    `<policy id>/<version>.cw`, when the file is laid out that way, else the file's folder."""
    folder = Path(os.path.abspath(path)).parent
    if policy_id:
        parts = policy_id.split("/")
        if len(parts) < len(folder.parts) and list(folder.parts[-len(parts) :]) == parts:
            return folder.parents[len(parts) - 1]
    return folder


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def _encodable(ref: str) -> bool:
    """Whether the file system can be asked for `ref` (a lone surrogate cannot be encoded)."""
    try:
        os.fsencode(ref)
    except UnicodeEncodeError:
        return False
    return True


def resolve_in_tree(root: str | Path, base: str | Path, ref: str) -> Path:
    """The file that `ref` (a path written in a policy file in folder `base`) names, as an
    path with `.` and `..` resolved (relative when `base` is); raises `OutsideTreeError` when that file, after
    following symlinks, is not inside `root`. The returned path keeps the symlinks inside the
    tree (diagnostics show the path as the author knows it)."""
    if not ref or "\0" in ref or not ref.isprintable() or not _encodable(ref):
        raise TreeFileError("it is not a file path")
    if os.path.isabs(ref) or os.path.splitdrive(ref)[0] or ref.startswith(("/", "\\")):
        raise OutsideTreeError(
            "it is an absolute path (paths are relative to the file naming them)"
        )
    lexical = os.path.normpath(os.path.join(base, ref))
    root_real = os.path.realpath(root)
    if not _inside(os.path.realpath(lexical), root_real):
        raise OutsideTreeError(f"it leads outside the policies folder {root}")
    return Path(lexical)


def check_in_tree(root: str | Path, path: str | Path) -> None:
    """Raise `OutsideTreeError` when `path` (symlinks followed) is not inside `root`."""
    if not _inside(os.path.realpath(path), os.path.realpath(root)):
        raise OutsideTreeError(f"it leads outside the policies folder {root}")


NOT_REGULAR = "it is not a regular file (a FIFO, a device or a socket)"


def _too_large(limit: int) -> str:
    return f"it is larger than {limit} bytes"


def read_bytes(path: str | Path, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Raises `NotRegularFileError`,
    `FileTooLargeError`, or the `OSError` of a file that cannot be read (missing, no access)."""
    name = os.fspath(path)
    before = os.stat(name)
    if stat.S_ISDIR(before.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), name)
    if not stat.S_ISREG(before.st_mode):
        raise NotRegularFileError(NOT_REGULAR)
    if before.st_size > limit:
        raise FileTooLargeError(_too_large(limit))
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    fd = os.open(name, flags)
    try:
        opened = os.fstat(fd)
        if not stat.S_ISREG(opened.st_mode):
            raise NotRegularFileError(NOT_REGULAR)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileTooLargeError(_too_large(limit))
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_text(path: str | Path, limit: int = MAX_FILE_BYTES) -> str:
    """`read_bytes` decoded as UTF-8 with universal newlines, as `Path.read_text` reads (raises
    `UnicodeDecodeError` for other text). A leading byte order mark, which some editors on
    Windows write, is not part of the text."""
    text = read_bytes(path, limit).decode("utf-8-sig")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def read_in_tree(root: str | Path, base: str | Path, ref: str) -> tuple[Path, bytes]:
    """`resolve_in_tree` then `read_bytes`: the path and the bytes of the file `ref` names."""
    path = resolve_in_tree(root, base, ref)
    return path, read_bytes(path)
