"""Loop fusion: definitions that each make one pass over the same list share one loop.

`[o for o in xs where ...]`, `count(o for o in xs where ...)` and `group(o for o in xs by ...)`
over the same `xs` are computed in one loop over it, at the place of the first: each element is
read once for all of them, which matters most for long lists of records. A definition moves up
only past definitions it does not use, and never past a requirement.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .emitter import Block, Emitter, Names


@dataclass(frozen=True, slots=True)
class LoopParts:
    """A definition that makes one pass over a list, generated as the parts of a loop body."""

    source: str  # the list
    kind: str  # 'list', 'count' or 'group'
    var: str  # the element's variable
    cond: str | None  # the `where` condition (and a counted predicate)
    elem: str | None  # the value kept (none for a count)
    key: str | None  # the group key
    # the ends of ranges the condition tests, each read once before the loop: (name, value)
    ends: tuple[tuple[str, str], ...] = ()


def fuse_loops(
    steps: list[Block],
    loops: Mapping[str, LoopParts],
    function_uses: Mapping[str, frozenset[str]],
    names: Names,
) -> list[Block]:
    """`steps` (definitions and requirement checks, in order of evaluation) with the passes in
    `loops` over one list merged into one block at the place of the first of them.
    `function_uses` gives the names each generated function reads."""
    blocks = {b.name: b for b in steps if b.name is not None}

    def uses(block: Block) -> set[str]:
        """The definitions `block` reads, directly or through the functions it calls."""
        seen: set[str] = set()
        todo = set(block.uses)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo |= function_uses.get(n, frozenset())
        return {n for n in seen if n in blocks}

    groups: dict[int, list[str]] = {}  # position of the first -> names, in order
    hoisted: dict[int, set[str]] = {}  # position of a group -> definitions moved before it
    open_group: dict[str, int] = {}  # source -> position of its open group
    defined_at: dict[str, int] = {}
    last_req = -1
    for i, step in enumerate(steps):
        n = step.name
        if n is None:
            last_req = i
            continue
        defined_at[n] = i
        parts = loops.get(n)
        if parts is None:
            continue
        at = open_group.get(parts.source)
        late: set[str] = set()
        ok = at is not None and at > last_req
        if ok and at is not None:
            # what it uses that is defined after the group's place moves up with it, when that
            # is no pass of its own and uses nothing defined later still
            todo = [m for m in uses(step) if m != n and defined_at[m] >= at]
            while ok and todo:
                m = todo.pop()
                if m in late:
                    continue
                if m in loops or any(m in g for g in groups.values()):
                    ok = False
                    break
                late.add(m)
                todo.extend(k for k in uses(blocks[m]) if defined_at[k] >= at)
        if ok and at is not None:
            groups[at].append(n)
            hoisted.setdefault(at, set()).update(late)
        else:
            open_group[parts.source] = i
            groups[i] = [n]
    fused: dict[int, Block] = {}
    moved: set[str] = set()
    for at, members in groups.items():
        if len(members) < 2:
            continue
        # (a definition two groups need moves before the first of them)
        ahead = sorted(set(hoisted.get(at, ())) - moved, key=lambda m: defined_at[m])
        moved.update(ahead)
        fused[at] = _fused_block(
            [blocks[m] for m in members], [blocks[m] for m in ahead], loops, names
        )
        moved.update(members)
    out: list[Block] = []
    for i, step in enumerate(steps):
        if i in fused:
            out.append(fused[i])
        elif step.name not in moved:
            out.append(step)
    return out


def _fused_block(
    member_blocks: list[Block],
    ahead: list[Block],
    loops: Mapping[str, LoopParts],
    names: Names,
) -> Block:
    """One loop computing every member, after the definitions moved `ahead` of it; located at
    the first member."""
    first = member_blocks[0]
    members = [(b.name, loops[b.name]) for b in member_blocks if b.name is not None]
    em = Emitter()
    em.mark(first.marks[0][1] if first.marks else None)
    for block in ahead:
        for line in block.lines:
            em.writeline(line)
    for m, parts in members:
        em.writeline(f"{m} = {_START[parts.kind]}")
    ends: set[str] = set()
    for _m, parts in members:
        for name, value in parts.ends:
            if name not in ends:
                ends.add(name)
                em.writeline(f"{name} = {value}")
    it = names.temporary("it")
    em.writeline(f"for {it} in {members[0][1].source}:")
    grouped = []
    with em.indent():
        variables = list(dict.fromkeys(parts.var for _m, parts in members))
        em.writeline(f"{' = '.join(variables)} = {it}")
        for m, parts in members:
            if parts.cond is None:
                _accumulate(em, m, parts, names)
            else:
                em.writeline(f"if {parts.cond}:")
                with em.indent():
                    _accumulate(em, m, parts, names)
            if parts.kind == "group":
                grouped.append(m)
    for m in grouped:
        em.writeline(f"{m} = [{{'key': _k, 'items': _v}} for _k, _v in {m}.items()]")
    uses = set().union(*(b.uses for b in (*member_blocks, *ahead)))
    return em.block(first.name, uses)


_START = {"count": "0", "group": "{}", "list": "[]"}


def _accumulate(em: Emitter, m: str, parts: LoopParts, names: Names) -> None:
    """The statements that add one element to the definition `m`."""
    if parts.kind == "count":
        em.writeline(f"{m} += 1")
    elif parts.kind == "list":
        em.writeline(f"{m}.append({parts.elem})")
    else:
        # items by key, keys in order of first appearance (as `_group` does)
        k, g = names.temporary("k"), names.temporary("g")
        em.writeline(f"{k} = {parts.key}")
        em.writeline(f"{g} = {m}.get({k})")
        em.writeline(f"if {g} is None:")
        with em.indent():
            em.writeline(f"{m}[{k}] = [{parts.elem}]")
        em.writeline("else:")
        with em.indent():
            em.writeline(f"{g}.append({parts.elem})")
