"""The parts of `docs/` generated from the catalogues: `diagnostics.md` from the diagnostic
codes (`codes`) and the built-ins table of `language.md` from the functions (`functions`)."""

from __future__ import annotations

from pathlib import Path

from .codes import markdown
from .functions import with_docs


def write_docs(folder: str) -> None:
    """Regenerate the docs read from the catalogues: `diagnostics.md` and the built-ins of
    `language.md` (see `functions.with_docs`)."""
    docs = Path(folder)
    (docs / "diagnostics.md").write_text(markdown(), encoding="utf-8")
    language = docs / "language.md"
    language.write_text(with_docs(language.read_text(encoding="utf-8")), encoding="utf-8")
