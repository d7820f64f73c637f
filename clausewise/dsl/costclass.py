"""A cost class (`O(n*m)`): polynomials in the sizes of a policy's input lists, kept as their
largest terms. The analysis that finds a policy's class is `cost.py`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .diagnostics import Span

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


def simplify(terms: set[Monomial]) -> Poly:
    """The terms no other term is a multiple of (`n + n*m` is `n*m` up to constants)."""
    kept = {t for t in terms if not any(u != t and _divides(t, u) for u in terms)}
    return frozenset(kept) if kept else ONE


def add(*ps: Poly) -> Poly:
    return simplify({t for p in ps for t in p})


def mul(p: Poly, q: Poly) -> Poly:
    return simplify({tuple(sorted(a + b)) for a in p for b in q})


def degree(p: Poly) -> int:
    return max((len(t) for t in p), default=0)


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
