"""Reason texts with placeholders: `"{defects} of your {n} transactions had a defect"`.

A placeholder is an expression in the rule's scope between braces; `{{` and `}}` stand for
literal braces. The checker checks each placeholder like any expression, where it is written;
the explainer fills the values in only when it renders a reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .diagnostics import Span

Piece = str | int  # literal text, or the index of a placeholder


class TemplateError(ValueError):
    """A brace that opens no placeholder or closes none; `offset` is where, in the text."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def split(text: str) -> tuple[list[Piece], list[tuple[int, int]]]:
    """The pieces of a reason text and the (start, end) offsets of its placeholders' expressions."""
    pieces: list[Piece] = []
    places: list[tuple[int, int]] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        c = text[i]
        if c == "{" and text.startswith("{{", i):
            literal.append("{")
            i += 2
            continue
        if c == "}" and text.startswith("}}", i):
            literal.append("}")
            i += 2
            continue
        if c == "}":
            raise TemplateError("a `}` closes no placeholder (write `}}` for a brace)", i)
        if c != "{":
            literal.append(c)
            i += 1
            continue
        # a placeholder: up to the brace that closes it (records inside it nest)
        depth, j = 1, i + 1
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        if depth:
            raise TemplateError("a `{` opens a placeholder that is never closed", i)
        if not text[i + 1 : j - 1].strip():
            raise TemplateError("an empty placeholder: write an expression between the braces", i)
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(len(places))
        places.append((i + 1, j - 1))
        i = j
    if literal:
        pieces.append("".join(literal))
    return pieces, places


def has_placeholders(text: str) -> bool:
    """Whether a reason text has any placeholder (a quick test before splitting)."""
    return "{" in text or "}" in text


def raw_reason(span: Span) -> tuple[int, int] | None:
    """The (start, end) offsets in its file of the text of the reason string of the rule at
    `span` (without the quotes): the first string literal of the rule."""
    if span.source is None:
        return None
    text = span.source.text
    i, end = span.start_pos, span.end_pos
    while i < end:
        c = text[i]
        if c == "#":
            nl = text.find("\n", i)
            i = end if nl < 0 else nl + 1
        elif c == '"':
            j = i + 1
            while j < end and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            return (i + 1, j) if j < end else None
        else:
            i += 1
    return None


def render(
    reason: str,
    values: Sequence[Any] | None,
    show: Callable[[Any], str],
) -> str:
    """The reason with its placeholders replaced by `show(value)`; with no values (the rule
    was not evaluated in a way that gives them), the text as written."""
    if values is None or not has_placeholders(reason):
        return reason
    try:
        pieces, _ = split(reason)
    except TemplateError:
        return reason
    return "".join(p if isinstance(p, str) else show(values[p]) for p in pieces)
