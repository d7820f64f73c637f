"""A semantic diff of two versions of a policy: what a reviewer of a policy change needs to see.

The two files are parsed and compared item by item, by name: rules (top-level, and inside each
decision), definitions, decisions (strategy, default, the order their rules are tried in), tables
(hit policy and rows), requirements, invariants, output fields, imports and the header (title,
source, schemas, effective period, out-of-scope clauses). Spans and comments take no part, so
reformatting a file or reordering its definitions shows no change. When a condition or a
definition differs only in literals, each threshold is shown on its own line
(`rule odr: input.odr >= 0.01 -> >= 0.015`, `let order_defect_target: 0.01 -> 0.015`).
When the terms files beside the two versions differ, the clauses added, removed or reworded
follow, each with what cites it: the rules to re-read when the contract changes.

Order is only reported where it changes a decision: the rules of a `first` or `collect` decision
(the first that fires wins; the order of collected values), the rows of a `first` table, and the
requirements (the first that fails is the input error).

Expressions and literals are shown by the printer `fmt` uses (`dsl.printer`), on one line and
as the author wrote them: `2024-01-01T10:00:00+02:00` stays so, `1.50` keeps its zero.

`model` holds the result (changes and their details), `exprs` compares expressions, `compare`
compares items, headers, schemas and terms, and `sources` reads the two sides (files, versions
in a policies folder, a git revision).
"""

from __future__ import annotations

from ...dsl.diagnostics import PolicyError
from .compare import diff_policies, json_changes, terms_changes
from .exprs import same
from .model import Change, Detail, PolicyDiff
from .sources import (
    DiffError,
    Side,
    added_policy,
    diff_sides,
    file_side,
    git_side,
    version_side,
)

__all__ = [
    "Change",
    "Detail",
    "DiffError",
    "PolicyDiff",
    "PolicyError",
    "Side",
    "added_policy",
    "diff_policies",
    "diff_sides",
    "file_side",
    "git_side",
    "json_changes",
    "same",
    "terms_changes",
    "version_side",
]
