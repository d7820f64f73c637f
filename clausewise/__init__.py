"""clausewise: business terms as checked policies, compiled to a fast engine that explains itself.

Embedding::

    from clausewise import Engine, InputError
    engine = Engine.from_directory("policies")
    decision = engine.evaluate("budgets/google-ads-credit-budget", data, trace="rules")
    decision.output       # plain JSON-ready dict, in the contract's formats
    decision.explain()    # readable text

Pipeline: parse (lark) -> check (names, types against the input schema) -> compile (generated
Python, one variant per trace level) -> evaluate (pure, terminating) -> Decision.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

from .dsl.diagnostics import Diagnostic, PolicyError, PolicySyntaxError
from .dsl.runtime import (
    DEFAULT_BUDGET,
    DecisionError,
    EvaluationBudget,
    EvaluationError,
    InputError,
)
from .engine.explain import Explainer, RuleOutcome
from .engine.jsoninput import InputLimits, loads_input
from .engine.store import LoadedPolicy, PolicyStore, UnknownPolicyError
from .engine.trace import Trace

__all__ = [
    "DEFAULT_BUDGET",
    "Decision",
    "DecisionError",
    "Diagnostic",
    "Engine",
    "EvaluationBudget",
    "EvaluationError",
    "InputError",
    "InputLimits",
    "PolicyError",
    "PolicyStore",
    "PolicySyntaxError",
    "UnknownPolicyError",
    "loads_input",
]

__version__ = "0.1.0"

TRACE_LEVELS = ("off", "rules", "full")
_now = time.time
_FOREVER = dt.datetime.max.replace(tzinfo=dt.UTC)
AUDIENCES = ("author", "reader")


class Decision:
    """The result of evaluating a policy: the output and the reasons for it."""

    # (the explainer, the trace's JSON and the input's digest fill `_built`, `_trace_json` and
    # `_digest` when first asked for: a decision that is only kept never pays for them; the
    # engine makes decisions with `_decision`, or fills the fields of `Decision()` itself, which
    # is cheaper than a call of an `__init__`)
    __slots__ = (
        "_built",
        "_digest",
        "_input",
        "_policy",
        "_trace",
        "_trace_json",
        "output",
        "trace_level",
    )
    _built: Explainer
    _digest: str
    _trace_json: dict[str, Any]
    output: dict[str, Any]
    trace_level: str
    _input: Any
    _policy: LoadedPolicy
    _trace: Trace | None

    @property
    def policy_id(self) -> str:
        return self._policy.id

    @property
    def version(self) -> str:
        return self._policy.version

    @property
    def _explainer(self) -> Explainer | None:
        """What renders the trace, built when first asked for: a traced decision that is only
        kept, logged or dropped never pays for it (None when tracing was off)."""
        if self._trace is None:
            return None
        try:
            return self._built
        except AttributeError:
            compiled, data = self._policy.compiled, self._input
            built = self._built = Explainer(
                compiled.program,
                self._trace,
                self.trace_level,
                self._policy.clauses,
                lambda: compiled.reason_values(data),
            )
            return built

    def __repr__(self) -> str:
        return f"Decision({self.policy_id!r}, {self.version!r}, output={self.output!r})"

    @property
    def input_digest(self) -> str:
        """`sha256:` of the input as canonical JSON (computed on first use)."""
        try:
            return self._digest
        except AttributeError:
            digest = self._digest = _digest(self._input)
            return digest

    @property
    def trace(self) -> dict[str, Any] | None:
        """The trace as JSON (see the README for its schema), or None when tracing was off."""
        explainer = self._explainer
        if explainer is None:
            return None
        try:
            return self._trace_json
        except AttributeError:
            json_ = self._trace_json = explainer.to_json()
            return json_

    def to_json(self) -> dict[str, Any]:
        """`{"policy", "version", "output"}`, plus `"trace"` when the decision was traced."""
        out: dict[str, Any] = {
            "policy": self.policy_id,
            "version": self.version,
            "output": self.output,
        }
        if self._explainer is not None:
            out["trace"] = self.trace
        return out

    def can_explain_why_not(self, target: str) -> bool:
        """Whether `target` is an output field or a rule of the policy (needs a trace)."""
        return self._explainer is not None and self._explainer.knows(target)

    def rule_outcomes(self) -> dict[tuple[str, str], RuleOutcome]:
        """Each rule tried, keyed by (`decision › rule`, what it was tried on), with whether it
        applied and its reason; empty when tracing was off."""
        return self._explainer.outcomes() if self._explainer is not None else {}

    def explain(self, why_not: str | None = None, audience: str = "author") -> str:
        """The decision as text; with `why_not`, the conditions that kept a field or rule from
        coming out. `audience="reader"` gives the view for the person the decision is about:
        the reasons of the rules that decided it, values filled in, and the clauses quoted."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, not {audience!r}")
        if audience == "reader" and why_not is None:
            title = f"{self.policy_id} {self.version}"
            if self._explainer is None:
                return title + '\n\n(no trace: evaluate with trace="rules" or "full" to see why)'
            return self._explainer.reader(title)
        header = (
            f"{self.policy_id} {self.version}\n"
            + "output: "
            + json.dumps(self.output, indent=2, ensure_ascii=False)
        )
        if self._explainer is None:
            return header + '\n\n(no trace: evaluate with trace="rules" or "full" to see the rules)'
        if why_not is not None:
            return self._explainer.why_not(why_not)
        return self._explainer.text(self.output, header)


def _decision(
    policy: LoadedPolicy, output: Any, input: Any, trace_level: str, trace: Trace | None
) -> Decision:
    made = Decision()
    made.output = output
    made.trace_level = trace_level
    made._input = input
    made._policy = policy
    made._trace = trace
    return made


def _digest(data: Any) -> str:
    try:
        canon = json.dumps(
            data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
        )
    except (TypeError, ValueError):
        canon = repr(data)
    return "sha256:" + hashlib.sha256(canon.encode()).hexdigest()


class Engine:
    """Evaluates policies. Thread-safe: compiled policies are immutable and evaluation is pure.

    `budget` bounds what one evaluation may spend (`EvaluationBudget(max_steps=...,
    max_items=...)`, default `DEFAULT_BUDGET`); past it, `evaluate` raises `EvaluationError`
    with code `cost_limit_exceeded`.
    """

    def __init__(self, store: PolicyStore, budget: EvaluationBudget | None = None):
        self.store = store
        # None when it is the default: the common call then passes nothing
        self.budget = None if budget is None or budget == DEFAULT_BUDGET else budget
        # the version of each policy in force now, and until when (a POSIX time): the common
        # call skips the lookup until then
        self._fast: dict[str, tuple[LoadedPolicy, Any, float]] = {}
        # the same for the most common call of all (trace off, with the default budget): the
        # policy, its converter, decision, writer and `run`, and until when (None: for as long as
        # the store is loaded, no later version being scheduled; then the clock is not read)
        self._fast_off: dict[str, tuple[LoadedPolicy, Any, Any, Any, Any, float | None]] = {}

    @classmethod
    def from_directory(
        cls, path: str | Path = "policies", budget: EvaluationBudget | None = None
    ) -> Engine:
        """Load, check and compile every policy under `path`. Raises `PolicyError` listing every problem."""
        return cls(PolicyStore.load(path), budget)

    def policy_ids(self) -> list[str]:
        return self.store.ids()

    def policy(
        self, policy_id: str, version: str | None = None, at: dt.datetime | str | None = None
    ) -> LoadedPolicy:
        """The loaded policy that `evaluate` would use. Raises `UnknownPolicyError` (a
        `KeyError`) when there is none."""
        return self.store.get(policy_id, version=version, at=at)

    def evaluate(
        self,
        policy_id: str,
        input: Any,
        trace: str = "off",
        version: str | None = None,
        at: dt.datetime | str | None = None,
        budget: EvaluationBudget | None = None,
    ) -> Decision:
        """Decide `input` with a policy: the version in force now, an exact `version`, or the
        one in force at the instant `at` (an aware datetime or an RFC 3339 string such as
        `"2026-01-01T00:00:00Z"`).

        Raises `InputError` (with `.code`, `.path`, `.message`) when the input is bad: no decision
        is made then; `EvaluationError` (with `.code`, `.message`, `.location`) when the policy
        fails on it, e.g. `cost_limit_exceeded` past `budget` (default: the engine's).
        Raises `UnknownPolicyError` (a `KeyError`) for an unknown policy or
        version, or when no version is in force; `TypeError`/`ValueError` for an `at` that is
        not an instant.
        """
        if (
            trace == "off"
            and budget is None
            and self.budget is None
            and version is None
            and at is None
        ):
            off = self._fast_off.get(policy_id)
            if off is not None and (off[5] is None or _now() < off[5]):
                # (the steps of `CompiledPolicy.run_off`, without a call of their own: this is
                # most of what a small decision costs besides deciding)
                lp, convert, decide, write, run, _ = off
                try:
                    output = write(decide(convert(input), None))
                except InputError:
                    raise
                except Exception:
                    # reported as `run` reports it (deciding is pure: it fails the same way)
                    output = run(input)[0]
                made = Decision()
                made.output = output
                made.trace_level = "off"
                made._input = input
                made._policy = lp
                made._trace = None
                return made
        if budget is None:
            budget = self.budget
        if version is None and at is None:
            fast = self._fast.get(policy_id)
            # (an untraced call without a budget took the path above: both caches are filled
            # together, until the same time)
            if fast is not None and _now() < fast[2]:
                lp, run, _ = fast
                if trace in TRACE_LEVELS:
                    output, tr = run(input, trace, budget)
                    return _decision(lp, output, input, trace, tr)
        if trace not in TRACE_LEVELS:
            raise ValueError(f"trace must be one of {', '.join(TRACE_LEVELS)}, not {trace!r}")
        if version is None and at is None:
            lp, until = self.store.in_force_now(policy_id)
            compiled = lp.compiled
            self._fast[policy_id] = (lp, compiled.run, until.timestamp())
            self._fast_off[policy_id] = (
                lp,
                compiled.convert_input,
                compiled.variants["off"].decide,
                compiled.write_output,
                compiled.run,
                None if until == _FOREVER else until.timestamp(),
            )
        else:
            lp = self.store.get(policy_id, version=version, at=at)
        compiled = lp.compiled
        output, tr = compiled.run(input, trace, budget)
        return _decision(lp, output, input, trace, tr)

    def evaluate_batch(
        self,
        policy_id: str,
        data: Any,
        trace: str = "off",
        version: str | None = None,
        at: dt.datetime | str | None = None,
        budget: EvaluationBudget | None = None,
        explain: bool = False,
        threads: int | None = None,
    ) -> Any:
        """Decide every row of `data` (a pyarrow Table or RecordBatch, or an iterable of dicts)
        and return a pyarrow Table: the output's fields as typed columns, `_version`,
        `_revision`, and per row either the output or its error (`_error_code`, `_error_path`,
        `_error_message`); `_trace` with a trace, `_explanation` with `explain`. A bad row never
        stops the batch. `threads` bounds the threads a columnar plan uses (default: one per
        CPU). Needs the `batch` extra (pyarrow); see docs/batch.md."""
        try:
            from .batch import evaluate_batch
        except ImportError as e:
            raise ImportError(
                f"evaluate_batch needs the batch extra (pip install 'clausewise[batch]'): {e}"
            ) from e
        return evaluate_batch(
            self, policy_id, data, trace, version, at, budget, explain, threads=threads
        )
