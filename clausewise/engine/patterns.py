"""Schema `pattern`s, matched in time linear in the input with RE2 (google-re2).

JSON Schema writes patterns in the ECMA-262 dialect; Python's `re` backtracks, so a pattern such
as `^(a+)+$` takes time exponential in the length of the string it is matched against, and the
string comes from whoever sends the decision input. RE2 never backtracks. The few ECMA-262
spellings RE2 does not know but can express are translated (`\\uXXXX`, `\\cX`, long Unicode
category names such as `\\p{Letter}`); what RE2 cannot do at all (look-around, back-references)
is a schema diagnostic, never a slow match. docs/schemas.md lists the differences.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import re2

__all__ = ["PatternError", "compile_pattern", "to_re2"]


class PatternError(ValueError):
    """A pattern RE2 cannot take (look-around, back-references, ...)."""


# ECMA-262 (with the `u` flag) accepts the long names of the general categories
_CATEGORIES = {
    "Letter": "L",
    "Cased_Letter": "L",  # RE2 has no LC; every cased letter is a letter
    "Uppercase_Letter": "Lu",
    "Lowercase_Letter": "Ll",
    "Titlecase_Letter": "Lt",
    "Modifier_Letter": "Lm",
    "Other_Letter": "Lo",
    "Mark": "M",
    "Nonspacing_Mark": "Mn",
    "Spacing_Mark": "Mc",
    "Enclosing_Mark": "Me",
    "Number": "N",
    "Decimal_Number": "Nd",
    "digit": "Nd",
    "Letter_Number": "Nl",
    "Other_Number": "No",
    "Punctuation": "P",
    "punct": "P",
    "Connector_Punctuation": "Pc",
    "Dash_Punctuation": "Pd",
    "Open_Punctuation": "Ps",
    "Close_Punctuation": "Pe",
    "Initial_Punctuation": "Pi",
    "Final_Punctuation": "Pf",
    "Other_Punctuation": "Po",
    "Symbol": "S",
    "Math_Symbol": "Sm",
    "Currency_Symbol": "Sc",
    "Modifier_Symbol": "Sk",
    "Other_Symbol": "So",
    "Separator": "Z",
    "Space_Separator": "Zs",
    "Line_Separator": "Zl",
    "Paragraph_Separator": "Zp",
    "Other": "C",
    "Control": "Cc",
    "cntrl": "Cc",
    "Format": "Cf",
    "Surrogate": "Cs",
    "Private_Use": "Co",
}
_HEX = set("0123456789abcdefABCDEF")


def to_re2(pattern: str) -> str:
    """The ECMA-262 `pattern` in RE2's syntax (escapes RE2 spells differently, rewritten)."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c != "\\" or i + 1 >= n:
            out.append(c)
            i += 1
            continue
        nxt = pattern[i + 1]
        if nxt == "u" and i + 6 <= n and set(pattern[i + 2 : i + 6]) <= _HEX:
            out.append("\\x{" + pattern[i + 2 : i + 6] + "}")
            i += 6
        elif nxt == "c" and i + 2 < n and pattern[i + 2].isascii() and pattern[i + 2].isalpha():
            out.append(f"\\x{{{ord(pattern[i + 2]) % 32:02x}}}")
            i += 3
        elif nxt in "pP" and i + 2 < n and pattern[i + 2] == "{":
            end = pattern.find("}", i + 3)
            name = pattern[i + 3 : end] if end > 0 else ""
            name = name.removeprefix("General_Category=").removeprefix("gc=")
            out.append(f"\\{nxt}{{{_CATEGORIES.get(name, name)}}}")
            i = end + 1 if end > 0 else n
        else:
            out.append(pattern[i : i + 2])
            i += 2
    return "".join(out)


@functools.lru_cache(maxsize=1024)
def compile_pattern(pattern: str) -> Callable[[str], bool]:
    """A predicate: does `pattern` match somewhere in the string (JSON Schema's `pattern`)?

    Raises `PatternError` when RE2 cannot take the pattern.
    """
    options = re2.Options()
    options.log_errors = False  # the error is reported as a diagnostic, not on stderr
    options.never_capture = True
    try:
        compiled = re2.compile(to_re2(pattern), options)
    except re2.error as e:
        why = e.args[0].decode() if e.args and isinstance(e.args[0], bytes) else str(e)
        raise PatternError(why) from None
    # The low-level matcher: the `re2` module's `search` builds match objects and maps offsets
    # back to characters, many times the cost of the match itself.
    match = compiled._regexp.Match
    unanchored = re2._re2.RE2.Anchor.UNANCHORED

    def search(text: str) -> bool:
        data = text.encode("utf-8", "surrogatepass")
        return match(unanchored, data, 0, len(data))[0][0] >= 0

    return search
