"""Policy tests (`*.test.yaml` beside a policy) and their coverage."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import Decision, Engine, InputError
from ..dsl import ast as A
from ..dsl.diagnostics import ERROR, Diagnostic, did_you_mean
from ..dsl.treefiles import read_text, resolve_in_tree
from ..engine.store import EXTENSION, PolicyStore, version_key
from ..engine.trace import Trace
from .testfile import TestFile, check_references, read_test_file


@dataclass
class CaseResult:
    """One test case's outcome."""

    file: Path
    policy_id: str
    name: str
    ok: bool
    message: str = ""
    explanation: str = ""
    clauses: tuple[str, ...] = ()  # the clauses the case exercised (see `exercised_clauses`)


@dataclass
class PolicyCoverage:
    """What the tests of one policy version exercised."""

    policy_id: str
    version: str
    rules: dict[str, list[int]] = field(default_factory=dict)  # name -> [fired, not fired]
    rows: dict[str, list[int]] = field(default_factory=dict)
    branches: dict[str, list[int]] = field(default_factory=dict)  # condition -> [true, false]
    clauses: dict[str, int] = field(
        default_factory=dict
    )  # clause -> times a citing rule fired: every clause of the terms, else the cited ones
    locations: dict[str, str] = field(default_factory=dict)
    out_of_scope: list[str] = field(default_factory=list)  # clauses left out of `clauses`
    cases: int = 0  # cases run against this version: none means it is untested (0%)

    def _pct(self, items: dict[str, Any], ok: Any) -> float:
        return 100.0 if not items else 100.0 * sum(1 for v in items.values() if ok(v)) / len(items)

    def percentages(self) -> dict[str, float]:
        if not self.cases:
            return {"rules": 0.0, "rows": 0.0, "branches": 0.0, "clauses": 0.0}
        return {
            "rules": self._pct(self.rules, lambda v: v[0] > 0),
            "rows": self._pct(self.rows, lambda v: v[0] > 0),
            "branches": self._pct(self.branches, lambda v: v[0] > 0 and v[1] > 0),
            "clauses": self._pct(self.clauses, lambda v: v > 0),
        }

    def total(self) -> float:
        """The overall figure `--min-coverage` compares with: the lowest of the four."""
        return min(self.percentages().values())

    def to_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy_id,
            "version": self.version,
            "cases": self.cases,
            "percent": {k: round(v, 1) for k, v in self.percentages().items()},
            "rules_never_fired": [k for k, v in self.rules.items() if v[0] == 0],
            "rows_never_matched": [k for k, v in self.rows.items() if v[0] == 0],
            "branches_not_both_ways": [
                {"condition": k, "true": v[0], "false": v[1], "location": self.locations.get(k, "")}
                for k, v in self.branches.items()
                if not (v[0] and v[1])
            ],
            "clauses_not_exercised": [k for k, v in self.clauses.items() if v == 0],
            "clauses_out_of_scope": self.out_of_scope,
        }


@dataclass
class TestReport:
    results: list[CaseResult] = field(default_factory=list)
    coverage: dict[tuple[str, str], PolicyCoverage] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # policies that could not be loaded
    diagnostics: list[Diagnostic] = field(default_factory=list)  # problems of the test files

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if not r.ok]

    @property
    def file_errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]


def find_test_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob("*.test.yaml")))
        elif p.name.endswith(".test.yaml"):
            out.append(p)
    return out


def _policy_files(paths: list[Path]) -> list[Path]:
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out.extend(sorted(p.rglob(f"*{EXTENSION}")))
    return out


_POLICY_HEADER = re.compile(r'^\s*policy\s+"([^"]+)"', re.MULTILINE)


def _declared_id(path: Path) -> str | None:
    """The id a policy file declares in its header (None for a module)."""
    try:
        found = _POLICY_HEADER.search(read_text(path))
    except (OSError, UnicodeDecodeError):
        return None
    return found.group(1) if found else None


def policy_root(test_file: Path, policy_id: str) -> Path:
    """The folder policies are loaded from: the test file's folder minus the policy id."""
    parts = policy_id.split("/")
    d = test_file.resolve().parent
    if list(d.parts[-len(parts) :]) == parts:
        return d.parents[len(parts) - 1]
    return d


def subset_diff(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where `actual` differs from `expected`, comparing only what `expected` gives."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        out = []
        for k, v in expected.items():
            if k not in actual:
                out.append(f"{path}/{k}: missing")
            else:
                out.extend(subset_diff(v, actual[k], f"{path}/{k}"))
        return out
    if expected != actual:
        return [f"{path or '/'}: expected {json.dumps(expected)}, got {json.dumps(actual)}"]
    return []


def _diff_text(expected: Any, actual: Any) -> str:
    a = json.dumps(expected, indent=2, sort_keys=True).splitlines()
    b = json.dumps(actual, indent=2, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(a, b, "expected", "actual", lineterm="", n=2))


def _normalise(value: Any) -> Any:
    # YAML reads unquoted numbers and dates as Python values; compare as the JSON they stand for
    return json.loads(json.dumps(value, default=str))


class TestRunner:
    """Runs policy test files, loading each policy root once."""

    def __init__(self, coverage: bool = False):
        self.coverage = coverage
        self.engines: dict[Path, Engine] = {}

    def engine_for(self, root: Path) -> Engine:
        if root not in self.engines:
            # leniently: a policy that does not check fails its own tests, not everyone's
            self.engines[root] = Engine(PolicyStore.load(root, strict=False))
        return self.engines[root]

    def run(self, paths: list[Path]) -> TestReport:
        report = TestReport()
        for f in find_test_files(paths):
            self.run_file(f, report)
        if self.coverage:
            self._untested_versions(paths, report)
        report.diagnostics.sort(key=Diagnostic.sort_key)
        return report

    def run_file(self, f: Path, report: TestReport) -> None:
        tf = read_test_file(f)
        lp = engine = None
        doc = tf.data
        if isinstance(doc, dict) and isinstance(doc.get("policy"), str):
            found = self._policy_of(tf, report)
            if found is not None:
                engine, lp = found
                check_references(tf, lp)
        report.diagnostics.extend(tf.diagnostics)
        if not tf.ok or engine is None or lp is None:
            return  # a test file with errors runs none of its cases
        cov = self._coverage_for(report, lp)
        for i, case in enumerate(doc["cases"], 1):
            if cov is not None:
                cov.cases += 1
            report.results.append(self.run_case(f, engine, lp.id, lp.version, case, i, cov))

    def _policy_of(self, tf: TestFile, report: TestReport) -> tuple[Engine, Any] | None:
        """The engine and policy version a test file names, or None after reporting why not."""
        pid = tf.data["policy"]
        version = tf.data.get("version")
        parts = pid.split("/")
        folder = tf.path.resolve().parent
        if list(folder.parts[-len(parts) :]) != parts:
            # the test file sits beside its policy: the folder names the policy
            options = ["/".join(folder.parts[-n:]) for n in range(1, min(len(folder.parts), 6))]
            hint = did_you_mean(pid, options)
            tf.error(
                "test-unknown-policy",
                f"the test file is not in the folder of policy `{pid}`",
                ("policy",),
                hint or f"a test file sits beside its policy, in <policy root>/{pid}/",
            )
            return None
        root = policy_root(tf.path, pid)
        try:
            engine = self.engine_for(root)
        except Exception as e:
            report.errors.append(f"{tf.path}: cannot load {pid}: {e}")
            return None
        own = engine.store.errors_of(pid)
        if own:
            # this policy does not check: its tests cannot run, the others' still do
            first = own[0]
            report.errors.append(
                f"{tf.path}: {pid} does not check ({len(own)} error(s)); first: "
                f"{first.span.path}:{first.span.line}:{first.span.col}: "
                f"error[{first.code}]: {first.message}"
            )
            return None
        versions = engine.store.policies.get(pid)
        if not versions:
            hint = did_you_mean(pid, engine.store.ids())
            tf.error(
                "test-unknown-policy",
                f"no policy `{pid}` under {root}",
                ("policy",),
                hint or f"there is no {EXTENSION} file in {root / pid}",
            )
            return None
        if isinstance(version, str) and version not in versions:
            ordered = sorted(versions, key=version_key)
            hint = did_you_mean(version, ordered)
            tf.error(
                "test-unknown-version",
                f"{pid} has no version {version}",
                ("version",),
                (hint + " " if hint else "") + f"its versions are: {', '.join(ordered)}",
            )
            return None
        return engine, engine.policy(pid, version=version if isinstance(version, str) else None)

    def _untested_versions(self, paths: list[Path], report: TestReport) -> None:
        """Every policy version under `paths` that no test file tests is in the coverage at 0%."""
        for cw in _policy_files(paths):
            pid = _declared_id(cw)
            if pid is None:
                continue
            root = policy_root(cw, pid)
            try:
                store = self.engine_for(root).store
            except Exception:
                continue  # a policy that does not load: `clausewise check` says why
            for lp in store.policies.get(pid, {}).values():
                if lp.path.resolve() == cw.resolve():
                    self._coverage_for(report, lp)

    def _coverage_for(self, report: TestReport, lp: Any) -> PolicyCoverage | None:
        if not self.coverage:
            return None
        key = (lp.id, lp.version)
        if key not in report.coverage:
            prog = lp.program
            cov = PolicyCoverage(lp.id, lp.version)
            # with terms, every clause counts, cited or not; those declared out of scope are
            # shown apart, since no test can exercise them
            scoped = [o.clause for o in prog.header.out_of_scope]
            if lp.terms is not None:
                cov.out_of_scope = [c for c in lp.terms.ids if c in scoped]
                for cid in lp.terms.ids:
                    if cid not in scoped:
                        cov.clauses.setdefault(cid, 0)
            for r in prog.rules:
                label = f"{r.owner}.{r.name}" if r.owner and r.kind == "rule" else r.name
                (cov.rows if r.kind == "row" else cov.rules).setdefault(label, [0, 0])
                if lp.terms is None:
                    for c in r.cites:
                        cov.clauses.setdefault(c, 0)
            if lp.terms is None:
                for item in prog.file.items:
                    if isinstance(item, A.Require):
                        for c in item.cites:
                            cov.clauses.setdefault(c, 0)
            for s in prog.sites:
                if s.kind == "cmp" and not _outside_branch_coverage(prog, s):
                    label = f"{s.text} ({s.span.line}:{s.span.col})"
                    cov.branches.setdefault(label, [0, 0])
                    cov.locations[label] = s.span.location()
            report.coverage[key] = cov
        return report.coverage[key]

    def run_case(
        self,
        f: Path,
        engine: Engine,
        pid: str,
        version: str,
        case: Any,
        i: int,
        cov: PolicyCoverage | None,
    ) -> CaseResult:
        name = str(case.get("name", f"case {i}")) if isinstance(case, dict) else f"case {i}"
        if not isinstance(case, dict):
            return CaseResult(f, pid, name, False, "a case must be a mapping")
        try:
            if "input_file" in case:
                # named by the test file: read only inside the policies root, like a schema
                ref = str(case["input_file"])
                where = resolve_in_tree(policy_root(f, pid), f.parent, ref)
                data = json.loads(read_text(where))
            else:
                data = _normalise(case.get("input"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            return CaseResult(f, pid, name, False, f"cannot read the input: {e}")
        level = "full"
        try:
            decision = engine.evaluate(pid, data, trace=level, version=version)
        except InputError as e:
            want = case.get("error")
            if want is None:
                return CaseResult(
                    f, pid, name, False, f"unexpected input error {e.code} at {e.path}: {e.message}"
                )
            wrong = [
                f"{k}: expected {want[k]!r}, got {getattr(e, k)!r}"
                for k in ("code", "path")
                if k in want and str(want[k]) != getattr(e, k)
            ]
            clauses = rejecting_clauses(engine.policy(pid, version=version).program, e.code)
            if cov is not None and not wrong:
                for cl in clauses:
                    if cl in cov.clauses:
                        cov.clauses[cl] += 1
            return CaseResult(f, pid, name, not wrong, "; ".join(wrong), clauses=clauses)
        except Exception as e:
            return CaseResult(f, pid, name, False, f"evaluation failed: {type(e).__name__}: {e}")
        if cov is not None:
            self._record(cov, engine, pid, version, decision)
        problems: list[str] = []
        if "error" in case:
            problems.append(f"expected input error {case['error']}, but a decision was made")
        if "expect" in case:
            want = _normalise(case["expect"])
            if want != decision.output:
                problems.append("the output differs:\n" + _diff_text(want, decision.output))
        if "expect_subset" in case:
            diffs = subset_diff(_normalise(case["expect_subset"]), decision.output)
            if diffs:
                problems.append("the output differs:\n  " + "\n  ".join(diffs))
        fired = fired_rules(decision)
        for r in case.get("fired", []) or []:
            if r not in fired:
                problems.append(f"rule `{r}` was expected to fire but did not")
        for r in case.get("not_fired", []) or []:
            if r in fired:
                problems.append(f"rule `{r}` was expected not to fire but did")
        ok = not problems
        explanation = "" if ok else decision.explain()
        return CaseResult(
            f, pid, name, ok, "\n".join(problems), explanation, exercised_clauses(decision)
        )

    def _record(
        self, cov: PolicyCoverage, engine: Engine, pid: str, version: str, decision: Decision
    ) -> None:
        lp = engine.policy(pid, version=version)
        prog = lp.program
        explainer = decision._explainer
        if explainer is None:
            return
        trace: Trace = explainer.trace
        for rid, (fired, not_fired) in trace.counts.items():
            r = prog.rules[rid]
            label = f"{r.owner}.{r.name}" if r.owner and r.kind == "rule" else r.name
            bucket = cov.rows if r.kind == "row" else cov.rules
            c = bucket.setdefault(label, [0, 0])
            c[0] += fired
            c[1] += not_fired
            if fired:
                for cl in r.cites:
                    if cl in cov.clauses:
                        cov.clauses[cl] += fired
        for sid, (t, f_) in trace.outcomes.items():
            s = prog.sites[sid]
            if s.kind != "cmp" or _outside_branch_coverage(prog, s):
                continue  # table cells are covered by row coverage
            label = f"{s.text} ({s.span.line}:{s.span.col})"
            c = cov.branches.setdefault(label, [0, 0])
            c[0] += t
            c[1] += f_


def _outside_branch_coverage(prog: Any, site: Any) -> bool:
    """Sites left out of branch coverage: table cells (row coverage covers them), and the
    conditions of requirements and invariants (tested by bad inputs and `verify`)."""
    if site.context:
        return True
    return site.rid is not None and prog.rules[site.rid].kind == "row"


def exercised_clauses(decision: Decision) -> tuple[str, ...]:
    """The clauses cited by the rules that fired in a traced decision, in first-fired order."""
    out: dict[str, None] = {}
    ex = decision._explainer
    if ex is None:
        return ()
    for rid, (fired, _) in ex.trace.counts.items():
        if fired:
            out.update(dict.fromkeys(ex.p.rules[rid].cites))
    return tuple(out)


def rejecting_clauses(program: Any, code: str) -> tuple[str, ...]:
    """The clauses cited by the input rules (`require`) that reject an input with `code`."""
    out: dict[str, None] = {}
    for item in program.file.items:
        if isinstance(item, A.Require) and item.code == code:
            out.update(dict.fromkeys(item.cites))
    return tuple(out)


def fired_rules(decision: Decision) -> set[str]:
    """Names (`rule` and `decision.rule`) of the rules that fired in a traced decision."""
    out: set[str] = set()
    ex = decision._explainer
    if ex is None:
        return out
    for rid, (fired, _) in ex.trace.counts.items():
        if fired:
            r = ex.p.rules[rid]
            out.add(r.name)
            if r.owner:
                out.add(f"{r.owner}.{r.name}")
    return out
