"""The cost class of a policy in the sizes of its input lists: O(1), O(n), O(n*m), O(n^2)...

A pass over the typed program. Each input list (`input.orders`, and each list inside its items,
`input.orders[].lines`) has a size of its own; an expression's cost is a polynomial in those
sizes, kept as its largest terms (a set of monomials, none dividing another). A comprehension
costs its source plus the source's size times what it does per element; a list's size follows
it through comprehensions, `flatten` (the product of the outer and inner sizes), `group`,
`indexed` and definitions; a call costs its function's body with the parameters bound to the
arguments' sizes; a membership test in a list costs the list's size. Definitions are computed
once per evaluation, so their cost adds up once.

The class is an upper bound on the engine's work up to constant factors (a comprehension whose
filter keeps few elements is still counted at its source's size).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from . import types as T
from .diagnostics import Span
from .typed import (
    Builtin,
    Call,
    Coalesce,
    Comp,
    Decision,
    Field,
    Global,
    If,
    Index,
    InputRef,
    ListLit,
    Local,
    Member,
    Node,
    Pair,
    Program,
    RecordLit,
    Rule,
    children,
)

# A monomial: the sizes multiplied, sorted (`("input.a", "input.a")` is n^2); `()` is 1.
Monomial = tuple[str, ...]
Poly = frozenset[Monomial]

ONE: Poly = frozenset({()})


def _divides(a: Monomial, b: Monomial) -> bool:
    """Whether `a` divides `b` (as multisets of sizes)."""
    rest = list(b)
    for s in a:
        if s not in rest:
            return False
        rest.remove(s)
    return True


def _simplify(terms: set[Monomial]) -> Poly:
    """The terms no other term is a multiple of (`n + n*m` is `n*m` up to constants)."""
    kept = {t for t in terms if not any(u != t and _divides(t, u) for u in terms)}
    return frozenset(kept) if kept else ONE


def add(*ps: Poly) -> Poly:
    return _simplify({t for p in ps for t in p})


def mul(p: Poly, q: Poly) -> Poly:
    return _simplify({tuple(sorted(a + b)) for a in p for b in q})


def degree(p: Poly) -> int:
    return max((len(t) for t in p), default=0)


@dataclass
class Shape:
    """What the analysis knows of a value: how long it is, if a list (or map), the shape of
    its elements, and the shapes of its fields, if a record."""

    size: Poly | None = None
    elem: Shape | None = None
    fields: dict[str, Shape] = field(default_factory=dict)

    def key(self) -> str:
        return repr(self)


SCALAR = Shape()


def _merge(a: Shape, b: Shape) -> Shape:
    if a is b:
        return a
    size = a.size if b.size is None else b.size if a.size is None else add(a.size, b.size)
    elem = a.elem if b.elem is None else b.elem if a.elem is None else _merge(a.elem, b.elem)
    fields = dict(a.fields)
    for k, v in b.fields.items():
        fields[k] = _merge(fields[k], v) if k in fields else v
    return Shape(size, elem, fields)


@dataclass(frozen=True)
class CostClass:
    """A policy's cost class: its largest terms, and the input lists its letters stand for."""

    terms: Poly
    sizes: dict[str, str]  # letter -> input path
    # the construct (a comprehension, `flatten`, a membership test) that raises the degree
    # to its highest
    where: Span | None = None

    @property
    def degree(self) -> int:
        return degree(self.terms)

    @property
    def text(self) -> str:
        """`O(1)`, `O(n)`, `O(n*m)`, `O(n^2)`, `O(n^2 + m)`..."""
        letters = {path: letter for letter, path in self.sizes.items()}
        order = list(self.sizes)  # letters in the order they were handed out
        parts = []
        for term in sorted(self.terms, key=lambda t: (-len(t), t)):
            if not term:
                parts.append("1")
                continue
            counts: dict[str, int] = {}
            for s in term:
                counts[letters[s]] = counts.get(letters[s], 0) + 1
            ordered = sorted(counts.items(), key=lambda kc: order.index(kc[0]))
            parts.append("*".join(f"{k}^{c}" if c > 1 else k for k, c in ordered))
        return f"O({' + '.join(parts)})"

    def to_json(self) -> dict[str, Any]:
        return {"class": self.text, "degree": self.degree, "sizes": dict(self.sizes)}


_LETTERS = "nmkpqrstuvwxyzabcdefghij"


def cost_class(program: Program) -> CostClass:
    """The cost class of evaluating `program` (its requirements, definitions and output)."""
    analysis = _Analysis(program)
    total = analysis.program_cost()
    # a group's items reached outside a pass over its groups: at most the list grouped
    while any(s in analysis.partitions for t in total for s in t):
        total = substitute(total, analysis.partitions)
    used: list[str] = []
    for term in sorted(total, key=lambda t: (-len(t), t)):
        for s in term:
            if s not in used:
                used.append(s)
    letters = {(_LETTERS[i] if i < len(_LETTERS) else f"n{i}"): path for i, path in enumerate(used)}
    return CostClass(total, letters, analysis.worst_span)


class _Analysis:
    def __init__(self, program: Program):
        self.p = program
        # where the cost reaches its highest degree first: the construct a warning points at
        self.worst_degree = 1
        self.worst_span: Span | None = None
        # `group` results: a marker size standing for the items of one group -> the size of
        # the list grouped (all groups' items together are that list)
        self.partitions: dict[str, Poly] = {}
        self.input_shape = self._from_type(program.input_type, "input", 0)
        self.definitions: dict[str, tuple[Poly, Shape]] = {}
        self.calls: dict[str, tuple[Poly, Shape]] = {}
        self.active: set[str] = set()

    def _from_type(self, t: T.Type, path: str, depth: int) -> Shape:
        t = T.strip(t)
        if depth > 8:
            return SCALAR
        if isinstance(t, T.ListT | T.MapT):
            inner = t.elem if isinstance(t, T.ListT) else t.value
            return Shape(frozenset({(path,)}), self._from_type(inner, path + "[]", depth + 1))
        if isinstance(t, T.RecordT):
            return Shape(
                fields={k: self._from_type(v, f"{path}.{k}", depth + 1) for k, v in t.fields}
            )
        if t == T.ANY and depth == 0:
            return Shape()
        return SCALAR

    def program_cost(self) -> Poly:
        costs = [ONE]
        for key in self.p.definitions:
            costs.append(self.definition(key)[0])
        for r in self.p.requirements:
            env: dict[str, Shape] = {}
            per = ONE
            outer = ONE
            for var, src, where, _path in r.fors:
                c, shape = self.ev(src, env)
                outer = add(outer, mul(per, c))
                per = mul(per, shape.size or ONE)
                env[var] = shape.elem or SCALAR
                if where is not None:
                    outer = add(outer, mul(per, self.ev(where, env)[0]))
            costs.append(add(outer, mul(per, self.ev(r.cond, env)[0])))
        if self.p.output is not None:
            costs.append(self.ev(self.p.output, {})[0])
        return add(*costs)

    def definition(self, key: str) -> tuple[Poly, Shape]:
        if key not in self.definitions:
            d = self.p.definitions.get(key)
            if d is None or key in self.active:
                return ONE, Shape()
            self.active.add(key)
            self.definitions[key] = self.ev(d.body, {})
            self.active.discard(key)
        return self.definitions[key]

    def ev(self, n: Node, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        match n:
            case InputRef():
                return ONE, self.input_shape
            case Local(name=name):
                return ONE, env.get(name, SCALAR)
            case Global(key=key):
                return ONE, self.definition(key)[1]  # computed once: its cost counts there
            case Field():
                return self.x_field(n, env)
            case Index(obj=obj, index=index):
                c1, shape = self.ev(obj, env)
                c2, _ = self.ev(index, env)
                return add(c1, c2), shape.elem or SCALAR
            case ListLit():
                return self.x_list(n, env)
            case RecordLit():
                return self.x_record(n, env)
            case If(cond=c, then=t, orelse=o):
                c0, _ = self.ev(c, env)
                c1, s1 = self.ev(t, env)
                c2, s2 = self.ev(o, env)
                return add(c0, c1, c2), _merge(s1, s2)
            case Coalesce(left=a, right=b):
                c1, s1 = self.ev(a, env)
                c2, s2 = self.ev(b, env)
                return add(c1, c2), _merge(s1, s2)
            case Member():
                return self.x_in(n, env)
            case Comp():
                return self.x_comp(n, env)
            case Builtin():
                return self.x_builtin(n, env)
            case Call():
                return self.x_call(n, env)
            case Rule():
                return self.x_rule(n, env)
            case Decision():
                return self.x_decision(n, env)
        return add(ONE, *(self.ev(c, env)[0] for c in children(n))), SCALAR

    # ---- values ----
    def x_field(self, n: Field, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        c, shape = self.ev(n.obj, env)
        name = n.name
        if name in shape.fields:
            return c, shape.fields[name]
        if shape is self.input_shape or (shape.size is None and not shape.fields):
            # an untyped record's field: a list of its own, possibly
            return c, self._from_type(n.type, f"{_path_of(n)}", 0) if _path_of(n) else SCALAR
        return c, SCALAR

    def x_list(self, n: ListLit, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        costs = [ONE]
        elem: Shape | None = None
        for x in n.items:
            c, s = self.ev(x, env)
            costs.append(c)
            elem = s if elem is None else _merge(elem, s)
        return add(*costs), Shape(ONE, elem or SCALAR)

    def x_record(self, n: RecordLit, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        costs = [ONE]
        fields = {}
        for k, v in n.fields:
            c, s = self.ev(v, env)
            costs.append(c)
            fields[k] = s
        return add(*costs), Shape(fields=fields)

    def x_in(self, n: Member, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        a, b = n.item, n.container
        ca, _ = self.ev(a, env)
        cb, sb = self.ev(b, env)
        walk = sb.size if isinstance(T.strip(b.type), T.ListT) and sb.size is not None else ONE
        return self._note(n, add(ca, cb, walk)), SCALAR

    # ---- passes over lists ----
    def x_comp(self, n: Comp, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        agg, var, where, elem, order, by = n.agg, n.var, n.where, n.elem, n.order, n.by
        c_src, s_src = self.ev(n.source, env)
        plain = isinstance(elem, Local) and elem.name == var
        if agg in ("count", "any") and where is None and plain:
            return c_src, SCALAR  # the list's length, or whether it has one: no pass
        size = s_src.size or ONE
        inner = {**env, var: s_src.elem or SCALAR}
        per = [ONE]
        shapes: dict[str, Shape] = {}
        for name, part in (("where", where), ("elem", elem), ("order", order), ("by", by)):
            if part is not None:
                c, s = self.ev(part, inner)
                per.append(c)
                shapes[name] = s
        per_element = add(*per)
        # over the groups of a `group`, what is done with each group's items adds up to what
        # is done with the list grouped: those terms are not multiplied by the number of groups
        marker = self._marker_of(s_src)
        cost = self._note(
            n,
            add(
                c_src,
                mul(size, _without(per_element, marker)),
                _within(per_element, marker, self.partitions),
            ),
        )
        e = shapes.get("elem", SCALAR)
        if isinstance(elem, Pair):
            e = self.ev(elem.value, inner)[1]
        if agg == "distinct" and _finite(by.type if by is not None else elem.type):
            return cost, Shape(ONE, e)  # at most one per value of a closed enum or a bool
        if agg in ("list", "distinct", "map"):
            return cost, Shape(size, e)
        if agg == "group":
            marker = f"#group{len(self.partitions)}"
            self.partitions[marker] = size
            items = Shape(frozenset({(marker,)}), e)
            group = Shape(fields={"key": shapes.get("by", SCALAR), "items": items})
            groups = ONE if by is not None and _finite(by.type) else size
            return cost, Shape(groups, group)
        if agg == "running_sum":
            item = Shape(fields={"item": s_src.elem or SCALAR, "total": SCALAR})
            return cost, Shape(size, item)
        if agg in ("first", "last", "min", "max"):
            return cost, e
        return cost, SCALAR

    def x_builtin(self, n: Builtin, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        name = n.name
        results = [self.ev(a, env) for a in n.args]
        cost = add(ONE, *(c for c, _ in results))
        if name == "flatten" and results:
            outer = results[0][1]
            inner = outer.elem or SCALAR
            size = mul(outer.size or ONE, inner.size or ONE)
            return self._note(n, add(cost, size)), Shape(size, inner.elem or SCALAR)
        if name == "indexed" and results:
            xs = results[0][1]
            item = Shape(fields={"index": SCALAR, "item": xs.elem or SCALAR})
            return add(cost, xs.size or ONE), Shape(xs.size or ONE, item)
        if name == "values" and results:
            m = results[0][1]
            return add(cost, m.size or ONE), Shape(m.size or ONE, m.elem or SCALAR)
        if name in ("least", "greatest"):
            shape = results[0][1] if results else SCALAR
            return cost, shape
        return cost, SCALAR

    def _note(self, n: Node, cost: Poly) -> Poly:
        """`cost`, the cost of `n`; `n` is the culprit when it raises the highest degree."""
        d = degree(cost)
        if d > self.worst_degree:
            self.worst_degree, self.worst_span = d, n.span
        return cost

    def _marker_of(self, shape: Shape) -> str | None:
        items = shape.elem.fields.get("items") if shape.elem is not None else None
        if items is None or items.size is None:
            return None
        for term in items.size:
            if len(term) == 1 and term[0] in self.partitions:
                return term[0]
        return None

    # ---- definitions and calls ----
    def x_call(self, n: Call, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        key = n.key
        results = [self.ev(a, env) for a in n.args]
        fn = self.p.functions.get(key)
        if fn is None:
            return add(ONE, *(c for c, _ in results)), SCALAR
        bound = dict(zip(fn.params, (s for _, s in results), strict=True))
        memo = key + "|" + "|".join(bound[p].key() for p in fn.params)
        if memo not in self.calls:
            if memo in self.active:
                return ONE, SCALAR
            self.active.add(memo)
            self.calls[memo] = self.ev(fn.body, bound)
            self.active.discard(memo)
        body_cost, shape = self.calls[memo]
        return add(body_cost, *(c for c, _ in results)), shape

    def x_rule(self, n: Rule, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        then = n.then
        c, _ = self.ev(n.when, env)
        if then is None:
            return c, SCALAR
        c2, s2 = self.ev(then, env)
        return add(c, c2), s2

    def x_decision(self, n: Decision, env: dict[str, Shape]) -> tuple[Poly, Shape]:
        default = n.default
        costs = [ONE]
        shape: Shape | None = None
        for _rid, when, then in n.cases:
            costs.append(self.ev(when, env)[0])
            c, s = self.ev(then, env)
            costs.append(c)
            shape = s if shape is None else _merge(shape, s)
        if default is not None:
            c, s = self.ev(default, env)
            costs.append(c)
            shape = s if shape is None else _merge(shape, s)
        out = shape or SCALAR
        if n.strategy == "collect":
            out = Shape(ONE, out)
        return add(*costs), out


def _finite(t: T.Type) -> bool:
    """Whether a value of `t` is one of a few known values (a closed enum, a bool)."""
    t = T.strip(t)
    return t == T.BOOL or (isinstance(t, T.EnumT) and t.closed)


def _without(p: Poly, marker: str | None) -> Poly:
    """The terms of `p` that do not mention `marker` (all of them when it is None)."""
    if marker is None:
        return p
    return _simplify({t for t in p if marker not in t})


def _within(p: Poly, marker: str | None, partitions: dict[str, Poly]) -> Poly:
    """The terms of `p` that mention `marker`, with it replaced by the size of the list
    grouped."""
    if marker is None:
        return ONE
    terms = {t for t in p if marker in t}
    if not terms:
        return ONE
    return substitute(frozenset(terms), {marker: partitions[marker]})


def substitute(p: Poly, sizes: dict[str, Poly]) -> Poly:
    """`p` with each size in `sizes` replaced by its polynomial."""
    out: list[Poly] = []
    for term in p:
        acc = ONE
        for s in term:
            acc = mul(acc, sizes.get(s, frozenset({(s,)})))
        out.append(acc)
    return add(*out)


def _path_of(n: Node) -> str | None:
    """`input.a.b` for a chain of fields from the input, else None."""
    if isinstance(n, InputRef):
        return "input"
    if isinstance(n, Field):
        base = _path_of(n.obj)
        return None if base is None else f"{base}.{n.name}"
    return None


_TERM = re.compile(r"[a-z][a-z0-9]*(\^\d+)?")


def acknowledged_degree(text: str) -> int | None:
    """The degree of a cost class as an author writes it (`O(n^2)`, `O(n*m)`, `O(n + m^3)`),
    or None when it is not one."""
    m = re.fullmatch(r"\s*O\((.*)\)\s*", text)
    if m is None:
        return None
    best = 0
    for term in m.group(1).split("+"):
        term = term.strip()
        if term == "1":
            continue
        d = 0
        for factor in term.split("*"):
            factor = factor.strip()
            if not _TERM.fullmatch(factor):
                return None
            _base, _, power = factor.partition("^")
            d += int(power) if power else 1
        best = max(best, d)
    return best
