"""Schemas that would hang or break the checker or the engine, found before either reads them.

A schema comes from the policy author and is trusted to mean what it says, not to be careful:
a `$ref` that leads back to itself (directly, through other references or through `$defs`) would
make the expansion of the schema endless, a `pattern` RE2 cannot match in linear time would make
validation slow in the length of the input, and `NaN` or `Infinity` (which Python's `json`
reads) would make every comparison with the bound fail. Each is reported with the JSON pointer
of the place in the schema, and `locate` turns the pointer into a line and column of the file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..dsl.types import subschemas
from .patterns import PatternError, compile_pattern

__all__ = ["SchemaProblem", "locate", "schema_problems"]


@dataclass(frozen=True, slots=True)
class SchemaProblem:
    """One problem: where in the schema (a JSON pointer), a stable code, and what."""

    pointer: str
    code: str
    message: str


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unescape(part: str) -> str:
    return part.replace("~1", "/").replace("~0", "~")


def _non_finite(x: Any, ptr: str) -> Iterator[str]:
    stack = [(ptr, x)]
    while stack:
        here, v = stack.pop()
        if isinstance(v, float) and not math.isfinite(v):
            yield here
        elif isinstance(v, dict):
            stack.extend((f"{here}/{_escape(k)}", w) for k, w in v.items())
        elif isinstance(v, list):
            stack.extend((f"{here}/{i}", w) for i, w in enumerate(v))


def _target(root: Any, ref: str) -> str | None:
    """The pointer a local `$ref` leads to, or None when it leads nowhere."""
    if not ref.startswith("#"):
        return None
    node = root
    parts = [_unescape(p) for p in ref[1:].split("/")[1:]] if ref != "#" else []
    if ref not in ("#", "") and not ref.startswith("#/"):
        return None  # an anchor (`#name`): not a pointer
    for part in parts:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return "".join("/" + _escape(p) for p in parts)


def _within(ptr: str, base: str) -> bool:
    return ptr == base or ptr.startswith(base + "/")


def _ref_cycles(root: Any, refs: dict[str, str]) -> list[list[str]]:
    """Cycles of references (the pointers of the schemas holding the `$ref`s, the first one
    repeated last), each reference in at most one of them.

    Expanding the reference at A means expanding everything under its target, so there is an
    edge from A to each reference that lies under A's target: a cycle is an endless expansion.
    """
    targets = {at: _target(root, ref) for at, ref in refs.items()}
    edges = {
        at: sorted(b for b in refs if t is not None and _within(b, t)) for at, t in targets.items()
    }
    cycles = []
    while (cycle := _find_cycle(edges)) is not None:
        cycles.append(cycle)
        for at in cycle:
            edges.pop(at, None)
        edges = {at: [b for b in bs if b in edges] for at, bs in edges.items()}
    return cycles


def _find_cycle(edges: dict[str, list[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(edges):
        if state.get(start):
            continue
        path: list[str] = [start]
        todo: list[Iterator[str]] = [iter(edges[start])]
        state[start] = 1
        while todo:
            nxt = next(todo[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                todo.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                todo.append(iter(edges[nxt]))
    return None


def schema_problems(schema: Any) -> list[SchemaProblem]:
    """What makes `schema` unsafe to check or to evaluate with; [] when nothing does."""
    problems = [
        SchemaProblem(p, "non-finite-number", "NaN and Infinity are not numbers in JSON Schema")
        for p in sorted(_non_finite(schema, ""))
    ]
    refs: dict[str, str] = {}
    for ptr, s in subschemas(schema):
        if not isinstance(s, dict):
            continue
        pattern = s.get("pattern")
        if isinstance(pattern, str):
            try:
                compile_pattern(pattern)
            except PatternError as e:
                problems.append(
                    SchemaProblem(
                        ptr + "/pattern",
                        "unsupported-pattern",
                        f"the pattern {pattern!r} cannot be matched in linear time ({e}): "
                        "look-around and back-references are not supported",
                    )
                )
        ref = s.get("$ref")
        if isinstance(ref, str):
            refs[ptr + "/$ref"] = ref
            if ref.startswith("#") and _target(schema, ref) is None:
                problems.append(
                    SchemaProblem(ptr + "/$ref", "unresolved-ref", f"`{ref}` leads nowhere")
                )
    for cycle in _ref_cycles(schema, {at.removesuffix("/$ref"): r for at, r in refs.items()}):
        chain = " -> ".join(f"{at or '#'} ($ref {refs[at + '/$ref']})" for at in cycle[:-1])
        problems.append(
            SchemaProblem(
                cycle[0] + "/$ref",
                "ref-cycle",
                f"the references form a cycle: {chain} -> back to {cycle[-1] or '#'}; "
                "recursive schemas are not supported",
            )
        )
    return sorted(problems, key=lambda p: p.pointer)


def locate(text: str, ptr: str) -> tuple[int, int] | None:
    """The 1-based line and column where the value at JSON pointer `ptr` starts in the JSON
    `text` (None when the text has no such value)."""
    decoder = json.JSONDecoder()
    ws = " \t\r\n"

    def skip(i: int) -> int:
        while i < len(text) and text[i] in ws:
            i += 1
        return i

    i = skip(0)
    for part in [_unescape(p) for p in ptr.split("/")[1:]] if ptr else []:
        if i >= len(text) or text[i] not in "{[":
            return None
        is_object = text[i] == "{"
        i = skip(i + 1)
        index = 0
        while True:
            if i >= len(text) or text[i] in "}]":
                return None
            if is_object:
                try:
                    key, i = decoder.raw_decode(text, i)
                except ValueError:
                    return None
                i = skip(i)
                if i >= len(text) or text[i] != ":":
                    return None
                i = skip(i + 1)
                found = key == part
            else:
                found = str(index) == part
                index += 1
            if found:
                break
            try:
                _value, i = decoder.raw_decode(text, i)
            except ValueError:
                return None
            i = skip(i)
            if i < len(text) and text[i] == ",":
                i = skip(i + 1)
    line = text.count("\n", 0, i) + 1
    return line, i - (text.rfind("\n", 0, i) + 1) + 1
