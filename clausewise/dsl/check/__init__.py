"""The checker: a parsed policy and its schemas in, a typed program or diagnostics out.

It resolves every name, derives input types from the input JSON Schema, checks every
operation's types (money currencies and units kept apart), instantiates parameterised
definitions per argument types (no recursion: evaluation time stays bounded by the input's
size), turns tables into first-match decisions after checking them for gaps and overlaps, checks
the output against the output schema, and then looks at the checked program for what is likely
a mistake (the lints).

The parts, each a module:

- `pipeline`: the passes in order (`PASSES`) and `check_policy`, which runs them;
- `state`: what the parts share (scopes, environments, the diagnostics found so far);
- `scopes`: top-level names, modules and imports, instantiating definitions;
- `items`: the header, rules, decisions, tables, requirements and the output;
- `exprs`: expression typing (names, fields, conditions and the facts they prove, calls);
- `operators`: comparisons, membership, arithmetic, ranges;
- `comprehensions`: comprehensions and aggregates;
- `builtins`: calls of built-in functions, as `dsl.functions` declares them;
- `lints`: warnings over the checked program (rules that never fire or are shadowed, missing
  citations, unused definitions, cost).

Each part is a class that adds to the one before it (`CheckerBase` < `ScopeChecks` <
`ExpressionChecks` < `OperatorChecks` < `ComprehensionChecks` < `ItemChecks` < `Checker`), so
all of them share one state; the pipeline's passes are methods of the last.
"""

from __future__ import annotations

from .pipeline import PASSES, Checker, CheckResult, PassMetrics, check_policy
from .state import ModuleLoader

__all__ = ["PASSES", "CheckResult", "Checker", "ModuleLoader", "PassMetrics", "check_policy"]
