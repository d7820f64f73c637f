"""Source text, spans and diagnostics: every message says what, where, and how to fix it."""

from __future__ import annotations

import dataclasses
import difflib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .codes import CODES
from .codes import ERROR as ERROR  # the severities, re-exported: raisers import them from here
from .codes import NOTE as NOTE
from .codes import WARNING as WARNING


@dataclass(frozen=True, slots=True)
class Source:
    """A policy file's text and the name it is reported under."""

    path: str
    text: str

    def line(self, n: int) -> str:
        """The 1-based line `n` without its newline ('' past the end). Lines end at `\n` only,
        as spans count them (`splitlines` would also split at `\f`, `\x1e`, `\u2028`...)."""
        lines = self.text.split("\n")
        return lines[n - 1].removesuffix("\r") if 0 < n <= len(lines) else ""


def shown_path(path: str) -> str:
    """A file's path as a reader (or a CI annotation) can open it: relative to the working
    folder with `.` and `..` resolved when the file is inside it, else absolute; a module
    imported as `../../shared/x.cw` shows as `policies/shared/x.cw`, not through its importer."""
    if path.startswith("<"):
        return path  # `<input>`, `<policy>`: no file
    absolute = os.path.normpath(os.path.abspath(path))
    try:
        rel = os.path.relpath(absolute)
    except ValueError:  # another drive
        return absolute
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return absolute
    return rel.replace(os.sep, "/")


@dataclass(frozen=True, slots=True)
class Span:
    """A region of a source file: 1-based lines and columns, end exclusive."""

    source: Source | None
    line: int
    col: int
    end_line: int
    end_col: int
    start_pos: int = 0
    end_pos: int = 0

    @property
    def path(self) -> str:
        return self.source.path if self.source else "<input>"

    def location(self) -> str:
        """`file:line:col`, the file as `shown_path` shows it."""
        return f"{shown_path(self.path)}:{self.line}:{self.col}"

    def text(self) -> str:
        """The exact source text the span covers."""
        if self.source is None:
            return ""
        return self.source.text[self.start_pos : self.end_pos]

    def snippet(self) -> str:
        """The first line of the span with a `^^^` underline beneath it."""
        if self.source is None:
            return ""
        src = self.source.line(self.line)
        end = self.end_col if self.end_line == self.line else len(src) + 1
        width = max(1, end - self.col)
        gutter = f"{self.line:>4} | "
        return f"{gutter}{src}\n{' ' * (len(gutter) + self.col - 1)}{'^' * width}"


NO_SPAN = Span(None, 0, 0, 0, 0)

# each code is declared once, with its severity, in `codes`; when CLAUSEWISE_CHECK_CODES is set
# (the test suite sets it) a diagnostic with an undeclared code, or another severity, is refused
_CHECK_CODES = bool(os.environ.get("CLAUSEWISE_CHECK_CODES"))


class UndeclaredCodeError(ValueError):
    """A diagnostic was made with a code `codes.CODES` does not declare (or another severity)."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about a policy: a stable code, a severity, where, what, and how to fix it."""

    code: str
    severity: str
    message: str
    span: Span
    help: str | None = None
    notes: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        if _CHECK_CODES:
            declared = CODES.get(self.code)
            if declared is None or declared.severity != self.severity:
                raise UndeclaredCodeError(
                    f"{self.severity}[{self.code}] is not declared in clausewise.dsl.codes"
                    + (f" (declared as {declared.severity})" if declared else "")
                )

    def render(self) -> str:
        """Human-readable, compiler style: location, message, underlined source, help."""
        out = [f"{self.span.location()}: {self.severity}[{self.code}]: {self.message}"]
        snippet = self.span.snippet()
        if snippet:
            out.append(snippet)
        out.extend(f"  = note: {n}" for n in self.notes)
        if self.help:
            out.append(f"  = help: {self.help}")
        return "\n".join(out)

    def to_json(self) -> dict[str, object]:
        """The diagnostic as JSON (the `check --format json` element)."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.span.path,
            "line": self.span.line,
            "col": self.span.col,
            "end_line": self.span.end_line,
            "end_col": self.span.end_col,
            "text": self.span.text(),
            "help": self.help,
        }

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.path, self.span.line, self.span.col, self.code)


class PolicyError(Exception):
    """A policy could not be loaded: it carries every diagnostic found, sorted by location."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = sorted(diagnostics, key=Diagnostic.sort_key)
        super().__init__("\n\n".join(d.render() for d in self.diagnostics))


class PolicySyntaxError(PolicyError):
    """The policy text does not follow the grammar."""


def did_you_mean(name: str, candidates: object) -> str | None:
    """'did you mean `x`?' for the closest candidate by edit distance, if any is close."""
    names = [str(c) for c in candidates]  # type: ignore[attr-defined]
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else None


def pickle_by_fields(namespace: dict[str, Any]) -> None:
    """Pickle the dataclasses defined in a module (its `globals()`) as a call of the class with
    their field values: for frozen slotted dataclasses that is about a third faster to write and
    to read than the default, and smaller (checked programs are sent back by `check`'s worker
    processes). Pickles are only exchanged with those workers, never stored: the cache keeps
    trees as data (`treecodec`)."""
    for obj in list(namespace.values()):
        if (
            isinstance(obj, type)
            and dataclasses.is_dataclass(obj)
            and obj.__module__ == namespace["__name__"]
        ):
            reducer = _by_fields(tuple(f.name for f in dataclasses.fields(obj)))
            setattr(obj, "__reduce__", reducer)  # noqa: B010 (a method replaced on purpose)


def _by_fields(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    def reduce(self: Any) -> tuple[Any, ...]:
        return (type(self), tuple([getattr(self, n) for n in names]))

    return reduce


pickle_by_fields(globals())
