"""Columnar plans: the parts of a policy over scalar input fields, decided with Arrow compute."""

from __future__ import annotations

from typing import Any

from ..dsl.typed import Program


def compile_plan(program: Program) -> Any:
    """The columnar plan of `program`, or None when it has none."""
    return None
