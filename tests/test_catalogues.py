"""The catalogues are complete: every diagnostic code raised anywhere is declared once in
`clausewise.dsl.codes` and every declared code is raised somewhere; every built-in the checker,
the runtime and the reference interpreter know is declared once in `clausewise.dsl.functions`;
the docs generated from both are in step with them."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import clausewise
from clausewise.dsl import types as T
from clausewise.dsl.codes import CODES, ERROR, NOTE, WARNING, markdown
from clausewise.dsl.diagnostics import NO_SPAN, Diagnostic, UndeclaredCodeError
from clausewise.dsl.functions import FUNCTIONS, forms, implementations, ops, with_docs
from tests.policy_support import write_policy

PACKAGE = Path(clausewise.__file__).parent
DOCS = Path(__file__).resolve().parent.parent / "docs"
_SEVERITY_NAMES = {"ERROR": ERROR, "WARNING": WARNING, "NOTE": NOTE}
_RAISERS = {"Diagnostic": 0, "error": 0, "warn": 0, "SchemaProblem": 1}
_CODE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else None


def _raised_codes(tree: ast.Module) -> Iterator[tuple[str, str | None, int]]:
    """(code, severity if the call says, line) for each code a module's source raises: the code
    argument of `Diagnostic(...)`, of a checker's `error`/`warn` helper and of `SchemaProblem`,
    the first item of a `(code, SEVERITY, ...)` finding or of a returned `(code, message, help)`, a `code = "..."` class attribute (the
    file errors), and module constants passed as the code."""
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant)
        for t in n.targets
        if isinstance(t, ast.Name) and isinstance(n.value.value, str)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and _name(node.func) in _RAISERS:
            name = _name(node.func)
            at = _RAISERS[name or ""]
            if len(node.args) <= at:
                continue
            arg = node.args[at]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                code = arg.value
            elif isinstance(arg, ast.Name) and arg.id in constants:
                code = constants[arg.id]
            else:
                continue  # a code handed on from another raiser (`e.code`)
            severity = None
            if name == "SchemaProblem":
                severity = None  # the catalogue's: `_schema_diagnostic` reads it
            elif name == "warn":
                severity = WARNING
            elif name == "error":
                severity = ERROR
            elif name == "Diagnostic" and len(node.args) > 1:
                severity = _SEVERITY_NAMES.get(_name(node.args[1]) or "")
            if _CODE.match(code):
                yield code, severity, node.lineno
        elif isinstance(node, ast.Tuple) and len(node.elts) > 2:
            first, second = node.elts[0], node.elts[1]
            if (
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and _CODE.match(first.value)
                and _name(second) in _SEVERITY_NAMES
            ):
                yield first.value, _SEVERITY_NAMES[_name(second) or ""], node.lineno
        elif isinstance(node, ast.Return) and isinstance(node.value, ast.Tuple):
            first = node.value.elts[0] if node.value.elts else None
            if (  # a `(code, message, help)` a caller raises
                isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and "-" in first.value
                and _CODE.match(first.value)
            ):
                yield first.value, None, node.lineno
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if (
                    isinstance(item, ast.Assign)
                    and [_name(t) for t in item.targets] == ["code"]
                    and isinstance(item.value, ast.Constant)
                    and isinstance(item.value.value, str)
                    and _CODE.match(item.value.value)
                ):
                    yield item.value.value, ERROR, item.lineno


def _all_raised() -> dict[str, list[tuple[str, str | None]]]:
    found: dict[str, list[tuple[str, str | None]]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for code, severity, line in _raised_codes(tree):
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            found.setdefault(code, []).append((where, severity))
    return found


def test_every_raised_code_is_declared_with_its_severity() -> None:
    raised = _all_raised()
    assert len(raised) > 100  # the scan sees the raisers at all
    undeclared = {c: [w for w, _ in at] for c, at in raised.items() if c not in CODES}
    assert not undeclared, f"declare these codes in clausewise/dsl/codes.py: {undeclared}"
    wrong = {
        c: [w for w, s in at if s is not None and s != CODES[c].severity]
        for c, at in raised.items()
    }
    wrong = {c: w for c, w in wrong.items() if w}
    assert not wrong, f"raised with another severity than the catalogue's: {wrong}"


def test_every_declared_code_is_raised_somewhere() -> None:
    stale = sorted(set(CODES) - set(_all_raised()))
    assert not stale, f"declared but raised nowhere (remove them from the catalogue): {stale}"


def test_catalogue_entries_are_complete() -> None:
    for c in CODES.values():
        assert _CODE.match(c.code), c
        assert c.severity in (ERROR, WARNING, NOTE), c
        assert c.description.endswith("."), c
        assert c.area, c


@pytest.mark.parametrize(("code", "severity"), [("no-such-code", ERROR), ("unknown-name", WARNING)])
def test_an_undeclared_code_or_severity_is_refused_under_the_tests(
    code: str, severity: str
) -> None:
    with pytest.raises(UndeclaredCodeError, match=code):
        Diagnostic(code, severity, "a message", NO_SPAN)


def test_docs_list_every_diagnostic_code() -> None:
    text = (DOCS / "diagnostics.md").read_text(encoding="utf-8")
    assert text == markdown(), "docs/diagnostics.md is out of step: run `make docs`"
    for code in CODES:
        assert f"| `{code}` |" in text


# ---- built-in functions ----------------------------------------------------------------------


def test_docs_list_every_builtin() -> None:
    text = (DOCS / "language.md").read_text(encoding="utf-8")
    assert text == with_docs(text), "docs/language.md's built-ins are out of step: run `make docs`"
    for name in FUNCTIONS:
        assert f"| `{name}(" in text


def test_the_checker_types_every_declared_builtin() -> None:
    from clausewise.dsl.check.builtins import EXTRA_CHECKS, TYPING_HOOKS

    assert set(TYPING_HOOKS) <= set(FUNCTIONS) and set(EXTRA_CHECKS) <= set(FUNCTIONS)
    for fn in FUNCTIONS.values():
        # a form the declared types do not type needs the built-in's own typing
        if any(not f.typed for f in fn.forms) and fn.name not in TYPING_HOOKS:
            shown_params = all(isinstance(f.result, T.Type) for f in fn.forms)
            assert shown_params and fn.name in EXTRA_CHECKS, fn


def test_the_runtime_and_the_reference_implement_every_declared_form() -> None:
    from clausewise.dsl.runtime import STDLIB
    from tests.oracles.interpreter import BUILTINS as REFERENCE

    assert set(STDLIB) == ops() == set(REFERENCE)
    for form in forms():
        assert STDLIB[form.op].__name__ == form.impl


def test_the_runtime_refuses_a_form_without_implementation() -> None:
    with pytest.raises(ImportError, match="square_root"):
        implementations({"sqrt": lambda x: x})


@pytest.mark.parametrize(
    ("policy_expr", "result"),
    [
        ("days(window(2024-03-31, 3 days))", ["2024-03-29", "2024-03-30", "2024-03-31"]),
        ("round(2.5)", 2),
        ("round(2.345, 2)", "2.34"),
        ("greatest(3, 9, 4)", 9),
        ('first_weekday(2024-02-10, "thursday")', "2024-02-01"),
    ],
)
def test_each_form_of_a_builtin_is_evaluated_by_its_declared_implementation(
    tmp_path: Path, policy_expr: str, result: object
) -> None:
    write_policy(tmp_path, f"output {{ v: {policy_expr} }}", {"type": "object"})
    engine = clausewise.Engine.from_directory(tmp_path)
    assert engine.evaluate("t/p", {}).output["v"] == result
