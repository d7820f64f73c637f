"""Writing generated Python source: statements at an indentation, names handed out and recorded.

The compiler never reads the text it generates. Every generated name comes from `Names`, which
remembers what each one stands for; every piece of the program becomes a `Block` that lists the
generated names its code reads, so what the decision function needs is found by following those
records.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..dsl.diagnostics import Span

INDENT = "    "


class Names:
    """Hands out the names of generated code: temporaries (`_t3`), and one name per definition or
    function key (`g4_total`, `f5_fee`), recording the key each of those stands for."""

    def __init__(self) -> None:
        self._count = 0
        self._by_key: dict[str, str] = {}
        self.keys: dict[str, str] = {}  # generated name -> the key it stands for

    def temporary(self, base: str = "t") -> str:
        """A fresh name, never handed out before: `_<base><n>`."""
        self._count += 1
        return f"_{base}{self._count}"

    def of(self, key: str, prefix: str) -> str:
        """The name of the definition or function `key` (the same name on every call)."""
        name = self._by_key.get(key)
        if name is None:
            self._count += 1
            readable = re.sub(r"[^A-Za-z0-9_]", "_", key.split("(")[0])[:40]
            name = self._by_key[key] = f"{prefix}{self._count}_{readable}"
            self.keys[name] = key
        return name


@dataclass
class Block:
    """Statements generated for one piece of a program: the name they define (None for a
    requirement's check or the result), the generated names their code reads, and where in the
    block each part of the policy text is computed (line offset, span)."""

    name: str | None
    lines: list[str]
    uses: frozenset[str]
    marks: list[tuple[int, Span | None]] = field(default_factory=list)


class Emitter:
    """Lines of source at the current indentation, and where each part of the policy text is
    computed."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.marks: list[tuple[int, Span | None]] = []
        self._level = 0

    def writeline(self, text: str) -> None:
        self.lines.append(INDENT * self._level + text)

    @contextmanager
    def indent(self) -> Iterator[None]:
        self._level += 1
        try:
            yield
        finally:
            self._level -= 1

    def mark(self, span: Span | None) -> None:
        """The lines written from here on compute the policy text at `span`."""
        self.marks.append((len(self.lines), span))

    def write_block(self, block: Block) -> None:
        """The lines of `block`, at the current indentation, with its marks."""
        for offset, span in block.marks:
            self.marks.append((len(self.lines) + offset, span))
        for line in block.lines:
            self.writeline(line)

    def block(self, name: str | None, uses: set[str]) -> Block:
        """What was written, as the block defining `name` that reads `uses`."""
        return Block(name, self.lines, frozenset(uses), self.marks)
