"""The checker's passes, in order, and the one result they give.

`PASSES` is the whole pipeline: each pass is a named step over the checker's shared state
(`state.CheckerBase`), run in order by `check_policy`, which can report each pass's time to a
`metrics` hook. Typing never raises for a problem of the policy: every pass adds diagnostics, and
the result holds the program only when none of them is an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import ast as A
from .. import types as T
from ..ast import span_of
from ..cost import cost_class
from ..currency import currency_mismatches
from ..diagnostics import ERROR, WARNING, Diagnostic
from ..fold import UNKNOWN, ConstantFailure, fold
from ..runtime import EVALUATION_ERRORS, OffCalendar
from ..typed import Node, Program, RecordLit, TInvariant, children
from .items import ItemChecks
from .lints import LINTS
from .state import Env, ModuleLoader


class Checker(ItemChecks):
    """Checks one policy file (and the modules it imports): the passes of `PASSES`."""

    def check_header_and_schemas(self) -> None:
        """The header (version, effective period, zone, cost) and the types of the schemas."""
        hdr = self.file.header
        if hdr.kind != "policy":
            self.error(
                "not-a-policy",
                "a module cannot be evaluated on its own",
                hdr.span,
                'import it from a policy with `import "file.cw" as name`',
            )
        self._check_header(hdr)
        self.input_type = self._schema_type(self.input_schema, "input", hdr.span)
        self.output_type = self._schema_type(self.output_schema, "output", hdr.span)

    def resolve_scopes(self) -> None:
        """The top-level names of the policy and of the modules it imports; duplicates."""
        self.scope = self._scope_for(self.file, self.path)
        self._check_duplicates(self.file)

    def check_requirements_and_output(self) -> None:
        """The requirements on the input and the output, in the order they are written."""
        assert self.scope is not None
        hdr = self.file.header
        outputs = [i for i in self.file.items if isinstance(i, A.Output)]
        if hdr.kind == "policy" and not outputs:
            self.error(
                "missing-output",
                "the policy has no `output`",
                hdr.span,
                "add `output { field: expression, ... }` matching the output schema",
            )
        for extra in outputs[1:]:
            self.error("duplicate-output", "a policy has one `output`", extra.span)
        for item in self.file.items:
            if isinstance(item, A.Require):
                self._context = "require"
                self.requirements.append(self._check_require(item, self.scope))
                self._context = ""
            elif isinstance(item, A.Output) and item is outputs[0]:
                self._deps_stack.append(set())
                self.output = self.expr(item.body, Env(self.scope))
                self._check_output_shape(item.body, self.output, self.output_type, "output")
                self.output_deps = self._deps_stack.pop()
                self.field_deps = self._field_deps(item.body, self.scope)

    def check_definitions(self) -> None:
        """Every definition, used or not, so that its errors show: one with parameters that no
        call instantiated is checked with its declared parameter types."""
        scope = self.scope
        assert scope is not None
        for name, item in scope.defs.items():
            if isinstance(item, A.Let | A.Rule | A.Decision | A.Table):
                params = item.params
                if not params:
                    self._global(scope, name, item)
                elif (scope.uid, name) not in self.used_names:
                    declared = [self._declared(p) for p in params]
                    self._instantiate(scope, name, item, declared, item.span)

    def check_invariants(self) -> None:
        """The invariants: conditions on the input and the output every decision must meet."""
        assert self.scope is not None
        for item in self.file.items:
            if isinstance(item, A.Invariant):
                self._context = "invariant"
                self._deps_stack.append(set())
                body = self.expr(item.body, Env(self.scope, allow_output=True))
                body = self._expect(body, T.BOOL, span_of(item.body), "an invariant")
                deps = self._deps_stack.pop()
                self.invariants.append(
                    TInvariant(item.name, item.description, item.cites, body, item.span, deps)
                )
                self._context = ""

    def check_constant_failures(self) -> None:
        """A part of an expression that reads nothing and always fails (`1 / 0`,
        `1 USD + 1 EUR`) fails every decision that evaluates it: an error at that part."""
        todo: list[Node] = [d.body for d in self.definitions.values()]
        todo += [f.body for f in self.functions.values()]
        for r in self.requirements:
            todo += [r.cond, *(x for _var, src, where, _path in r.fors for x in (src, where) if x)]
        todo += [inv.body for inv in self.invariants]
        todo += [ph for rule in self.rules for ph in rule.placeholders]
        if self.output is not None:
            todo.append(self.output)
        reported = {d.span for d in self.diags}  # (a mix of two money literals is reported)
        while todo:
            node = todo.pop()
            value = fold(node)
            if value is UNKNOWN:
                todo.extend(children(node))
            elif (
                isinstance(value, ConstantFailure)
                and value.code != "internal_error"
                and (value.code in EVALUATION_ERRORS or value.code == "currency_mismatch")
                and value.span not in reported
            ):
                reported.add(value.span)
                self.error(
                    "constant-fails",
                    f"`{value.span.text()}` always fails: {value.message}",
                    value.span,
                    f"every decision that computes it fails with `{value.code}`",
                )
        self._check_written_constants(reported)

    def _check_written_constants(self, reported: set[Any]) -> None:
        """A date or instant past the calendar (`9999-12-31 + 1 day`) is a value a comparison
        can use (it lies after every date), but it cannot be written: an output field whose
        value is always one fails every decision."""
        output = self.output
        if not isinstance(output, RecordLit):
            return
        for _name, node in output.fields:
            value = fold(node, self.definitions)
            if _holds_off_calendar(value) and node.span not in reported:
                reported.add(node.span)
                self.error(
                    "constant-fails",
                    f"`{node.span.text()}` always fails: it is a date {value!r}, which cannot "
                    "be written",
                    node.span,
                    "every decision fails with `date_out_of_range`: keep the date on the "
                    "calendar (0001-01-01 to 9999-12-31)",
                )

    def build_program(self) -> None:
        """The typed program, and its cost class (a policy without errors)."""
        self.program = Program(
            file=self.file,
            path=self.path,
            input_type=self.input_type,
            output_type=self.output_type,
            input_schema=self.input_schema,
            output_schema=self.output_schema,
            definitions=self.definitions,
            functions=self.functions,
            requirements=self.requirements,
            output=self.output,
            output_deps=self.output_deps,
            invariants=self.invariants,
            rules=self.rules,
            sites=self.sites,
            field_deps=self.field_deps,
        )
        if self.file.header.kind == "policy" and not self.has_errors():
            self.program.cost = cost_class(self.program)

    def check_currencies(self) -> None:
        """Amounts whose currencies are known to differ (pinned by the input schema or an input
        rule, or written) combined or compared: `currency.currency_mismatches`."""
        if self.program is not None:
            # a constant mix is reported once, by `constant-failures` or the typing of literals
            reported = {d.span for d in self.diags if d.severity == ERROR}
            mixed = currency_mismatches(self.program)
            self.diags.extend(d for d in mixed if d.span not in reported)

    def run_lints(self) -> None:
        """The warnings found by looking at the checked program (`lints.LINTS`)."""
        for _, lint in LINTS:
            lint(self)

    def has_errors(self) -> bool:
        return any(d.severity == ERROR for d in self.diags)


# the pipeline: (name, pass), run in this order
PASSES: list[tuple[str, Callable[[Checker], None]]] = [
    ("header-and-schemas", Checker.check_header_and_schemas),
    ("scopes", Checker.resolve_scopes),
    ("requirements-and-output", Checker.check_requirements_and_output),
    ("definitions", Checker.check_definitions),
    ("invariants", Checker.check_invariants),
    ("constant-failures", Checker.check_constant_failures),
    ("program", Checker.build_program),
    ("currencies", Checker.check_currencies),
    ("lints", Checker.run_lints),
]

# called after each pass with its name and the seconds it took
PassMetrics = Callable[[str, float], None]


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What checking a policy gives: the typed program (None when there are errors) and every
    diagnostic, sorted by location."""

    program: Program | None
    diagnostics: list[Diagnostic]

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity == WARNING]


def check_policy(
    file: A.PolicyFile,
    path: str,
    input_schema: dict[str, Any] | None,
    output_schema: dict[str, Any] | None,
    load_module: ModuleLoader | None = None,
    metrics: PassMetrics | None = None,
) -> CheckResult:
    """Check a parsed policy file against its schemas: run `PASSES` in order."""
    checker = Checker(file, path, input_schema, output_schema, load_module)
    try:
        for name, run in PASSES:
            start = time.perf_counter()
            run(checker)
            if metrics is not None:
                metrics(name, time.perf_counter() - start)
    except RecursionError:
        deep = Diagnostic(
            "nesting-too-deep",
            ERROR,
            "the policy nests expressions too deeply to check",
            file.header.span,
            "split the expression into named definitions with `let`",
        )
        return CheckResult(None, [deep])
    diagnostics = sorted(checker.diags, key=Diagnostic.sort_key)
    program = None if checker.has_errors() else checker.program
    return CheckResult(program, diagnostics)


def _holds_off_calendar(value: Any) -> bool:
    """Whether a folded value is, or holds, a date past the calendar."""
    if isinstance(value, OffCalendar):
        return True
    if isinstance(value, list | tuple):
        return any(_holds_off_calendar(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_off_calendar(v) for v in value.values())
    return False
