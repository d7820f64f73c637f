"""The order a decision evaluates a program's requirements and definitions in.

Each definition is evaluated once, after the definitions it uses (directly or through the
functions it calls); each requirement is checked as soon as what it uses is ready, and before the
definitions only the output needs, so that bad input is reported by the first requirement it
breaks rather than by a definition failing on it.
"""

from __future__ import annotations

from ..dsl.typed import Program, Requirement


def evaluation_order(program: Program, with_invariants: bool = False) -> list[Requirement | str]:
    """The requirements and the keys of the definitions the output (and, `with_invariants`, the
    invariants) need, in the order a decision evaluates them."""
    p = program
    defs = p.definitions
    roots = set(p.output_deps)
    for r in p.requirements:
        roots |= r.deps
    if with_invariants:
        for inv in p.invariants:
            roots |= inv.deps
    needed: set[str] = set()
    stack = list(roots)
    while stack:
        k = stack.pop()
        if k in needed:
            continue
        if k in defs:
            needed.add(k)
            stack.extend(defs[k].deps)
        elif k in p.functions:
            stack.extend(p.functions[k].deps)

    def deps_of(key: str, seen: set[str]) -> set[str]:
        """The definitions `key` uses, through the functions it calls."""
        out: set[str] = set()
        src = (
            defs[key].deps
            if key in defs
            else p.functions[key].deps
            if key in p.functions
            else set()
        )
        for d in src:
            if d in seen:
                continue
            seen.add(d)
            if d in defs:
                out.add(d)
            elif d in p.functions:
                out |= deps_of(d, seen)
        return out

    closure = {k: deps_of(k, {k}) for k in needed}
    req_deps = []
    for r in p.requirements:
        rd: set[str] = set()
        for d in r.deps:
            if d in defs:
                rd.add(d)
                rd |= closure.get(d, set())
            elif d in p.functions:
                rd |= deps_of(d, set())
        req_deps.append(rd)

    def wanted_by(i: int) -> set[str]:
        """The definitions requirement `i` needs, directly or through others."""
        wanted: set[str] = set()
        todo = list(req_deps[i])
        while todo:
            d = todo.pop()
            if d not in wanted:
                wanted.add(d)
                todo.extend(closure.get(d, ()))
        return wanted

    done: set[str] = set()
    out: list[Requirement | str] = []
    pending_reqs = list(range(len(p.requirements)))
    pending_defs = [k for k in defs if k in needed]
    while pending_reqs or pending_defs:
        progressed = False
        # requirements in source order, each as soon as what it uses is ready
        while pending_reqs and req_deps[pending_reqs[0]] <= done:
            out.append(p.requirements[pending_reqs.pop(0)])
            progressed = True
        wanted = wanted_by(pending_reqs[0]) if pending_reqs else None
        ready = [k for k in pending_defs if closure[k] <= done]
        pick = next((k for k in ready if wanted is None or k in wanted), None)
        if pick is None and ready:
            pick = ready[0]
        if pick is not None:
            out.append(pick)
            done.add(pick)
            pending_defs.remove(pick)
            progressed = True
        if not progressed:
            raise AssertionError("cyclic definitions survived the checker")
    return out
