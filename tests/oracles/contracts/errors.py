"""The error the reference implementations raise on bad input."""

from __future__ import annotations


class ReferenceInputError(Exception):
    """Bad input: no decision. Carries the JSON pointer of the offending field."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message
