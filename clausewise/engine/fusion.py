"""Loop fusion: definitions that each make one pass over the same list share one loop.

`[o for o in xs where ...]`, `count(...)`, `sum(...)` and `group(o for o in xs by ...)` over
the same `xs` are computed in one loop over it, at the place of the first: each element is read
once for all of them, which matters most for long lists of records. A pass over a filter of
`xs` (`ys = [o for o in xs where c]`, then `count(o for o in ys where d)`) joins the loop too,
nested under the filter's condition: the elements it visits are the filter's, in the same
order, so filters of filters make one loop over `xs` instead of a pass over each list. A
definition moves up only past definitions it does not use, and never past a requirement; a
pass that reads a list of the loop other than as its source stays out of it.

The fused loop computes the same values as the passes one after the other; only the order in
which elements are visited across passes differs. So that a decision that fails reports the
failure the passes in their written order would meet first, a failure inside the fused loop
evaluates those definitions again in their written order (the language is pure, and the cost
budget is restored to what it was before the loop), which raises it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from .emitter import Block, Emitter, Names


@dataclass(frozen=True, slots=True)
class LoopParts:
    """A definition that makes one pass over a list, generated as the parts of a loop body."""

    source: str  # the list
    # 'list', 'count', 'group', or a sum: 'sum_int', 'sum_decimal', 'sum_money'
    kind: str
    var: str  # the element's variable
    cond: str | None  # the `where` condition (and a counted predicate)
    elem: str | None  # the value kept or added (none for a count)
    key: str | None  # the group key
    # the ends of ranges the condition tests, each read once before the loop: (name, value)
    ends: tuple[tuple[str, str], ...] = ()
    # the generated names the condition, the element and the key read (not the source)
    reads: frozenset[str] = frozenset()
    # a list of the elements themselves (`[o for o in xs where ...]`): a filter, which passes
    # over it can be nested in
    keeps_element: bool = False


def fuse_loops(
    steps: list[Block],
    loops: Mapping[str, LoopParts],
    function_uses: Mapping[str, frozenset[str]],
    names: Names,
    metered: bool = False,
) -> list[Block]:
    """`steps` (definitions and requirement checks, in order of evaluation) with the passes in
    `loops` over one list (or over filters of it) merged into one block at the place of the
    first of them. `function_uses` gives the names each generated function reads; `metered`
    says the decision charges a cost meter `_C`."""
    blocks = {b.name: b for b in steps if b.name is not None}

    def closure(direct: frozenset[str]) -> set[str]:
        """The definitions read by code reading `direct`, directly or through the functions it
        calls."""
        seen: set[str] = set()
        todo = set(direct)
        while todo:
            n = todo.pop()
            if n not in seen:
                seen.add(n)
                todo |= function_uses.get(n, frozenset())
        return {n for n in seen if n in blocks}

    groups: dict[int, list[str]] = {}  # position of the first -> names, in order
    hoisted: dict[int, set[str]] = {}  # position of a group -> definitions moved before it
    open_group: dict[str, int] = {}  # source -> position of its open group
    group_of: dict[str, int] = {}  # a member -> the position of its group
    parent: dict[str, str] = {}  # a member nested in a filter -> that filter
    defined_at: dict[str, int] = {}
    last_req = -1

    def moves_with(n: str, at: int, reads: set[str]) -> set[str] | None:
        """The definitions `n` reads (`reads`) that are defined after the group at `at` and
        must move up with it; None when one of them cannot (a pass itself, or a member of a
        group)."""
        late: set[str] = set()
        todo = [m for m in reads if m != n and defined_at[m] >= at]
        while todo:
            m = todo.pop()
            if m in late:
                continue
            if m in loops or m in group_of:
                return None
            late.add(m)
            todo.extend(k for k in closure(blocks[m].uses) if defined_at[k] >= at)
        return late

    for i, step in enumerate(steps):
        n = step.name
        if n is None:
            last_req = i
            continue
        defined_at[n] = i
        parts = loops.get(n)
        if parts is None:
            continue
        joined: tuple[int, set[str]] | None = None
        over = parts.source
        if over in group_of and loops[over].keeps_element and group_of[over] > last_req:
            # a pass over a filter of the group's list: nested under the filter's condition,
            # when it reads no list of the loop other than its source
            late = moves_with(n, group_of[over], closure(parts.reads))
            if late is not None:
                joined = (group_of[over], late)
                parent[n] = over
        at = open_group.get(over)
        if joined is None and at is not None and at > last_req:
            late = moves_with(n, at, closure(step.uses))
            if late is not None:
                joined = (at, late)
        if joined is not None:
            at, late = joined
            groups[at].append(n)
            hoisted.setdefault(at, set()).update(late)
        else:
            at = open_group[over] = i
            groups[i] = [n]
        group_of[n] = at
    fused: dict[int, Block] = {}
    moved: set[str] = set()
    for at, members in groups.items():
        if len(members) < 2:
            continue
        # (a definition two groups need moves before the first of them)
        ahead = sorted(set(hoisted.get(at, ())) - moved, key=lambda m: defined_at[m])
        moved.update(ahead)
        # the definitions in their written order, from the first member to the last
        written = steps[at : max(defined_at[m] for m in members) + 1]
        fused[at] = _fused_block(
            [blocks[m] for m in members],
            [blocks[m] for m in ahead],
            written,
            {m: parent[m] for m in members if m in parent},
            loops,
            names,
            metered,
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
    written: list[Block],
    parent: Mapping[str, str],
    loops: Mapping[str, LoopParts],
    names: Names,
    metered: bool,
) -> Block:
    """One loop computing every member, after the definitions moved `ahead` of it, with the
    definitions `written` in their own order evaluated again on a failure; located at the
    first member. A member in `parent` is nested under its filter's condition."""
    first = member_blocks[0]
    members = [(b.name, loops[b.name]) for b in member_blocks if b.name is not None]
    nested: dict[str | None, list[str]] = {}
    for m, _parts in members:
        nested.setdefault(parent.get(m), []).append(m)
    em = Emitter()
    em.mark(first.marks[0][1] if first.marks else None)
    saved = names.temporary("budget")
    if metered:
        em.writeline(f"{saved} = _C.steps_left, _C.items_left")
    em.writeline("try:")
    with em.indent():
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
        with em.indent():
            variables = list(dict.fromkeys(parts.var for _m, parts in members))
            em.writeline(f"{' = '.join(variables)} = {it}")

            def each(m: str) -> None:
                """The member `m` and the members nested in it, for one element."""
                parts = loops[m]
                if parts.cond is None:
                    _accumulate(em, m, parts, names)
                    for inner in nested.get(m, ()):
                        each(inner)
                    return
                em.writeline(f"if {parts.cond}:")
                with em.indent():
                    _accumulate(em, m, parts, names)
                    for inner in nested.get(m, ()):
                        each(inner)

            for m in nested[None]:
                each(m)
        for m, parts in members:
            if parts.kind == "group":
                em.writeline(f"{m} = [{{'key': _k, 'items': _v}} for _k, _v in {m}.items()]")
    em.writeline("except Exception:")
    with em.indent():
        # the failure the definitions meet in their written order is the decision's
        if metered:
            em.writeline(f"_C.steps_left, _C.items_left = {saved}")
        for block in written:
            em.write_block(block)
    uses = set().union(*(b.uses for b in (*member_blocks, *ahead, *written)))
    return em.block(first.name, uses)


_START = {
    "count": "0",
    "group": "{}",
    "list": "[]",
    "sum_int": "0",
    "sum_decimal": "_D0",
    "sum_money": "None",
}


def _accumulate(em: Emitter, m: str, parts: LoopParts, names: Names) -> None:
    """The statements that add one element to the definition `m`."""
    if parts.kind == "count":
        em.writeline(f"{m} += 1")
    elif parts.kind == "list":
        em.writeline(f"{m}.append({parts.elem})")
    elif parts.kind == "sum_int":
        em.writeline(f"{m} += {parts.elem}")
    elif parts.kind == "sum_decimal":
        # as `_sum_decimal` adds
        em.writeline(f"{m} = _CTX.add({m}, {parts.elem})")
    elif parts.kind == "sum_money":
        # as `_sum_money` adds: the first amount, then each next one added to the total
        x = names.temporary("x")
        em.writeline(f"{x} = {parts.elem}")
        em.writeline(f"{m} = {x} if {m} is None else {m} + {x}")
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
