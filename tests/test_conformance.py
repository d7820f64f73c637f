"""Conformance cases as data: every `tests/cases/<topic>/*.yaml` file is a list of cases
(the format: tests/cases/README.md).

A case is a policy plus what must come of it: the diagnostics the checker reports, and for each
input the decision's output, its error, its explanation or a why-not. A policy without a header
gets the standard one (`policy "cases/<topic>"`, version 1.0.0, `input.schema.json`,
`output.schema.json`). The runner writes the case to `<tmp>/<policy id>/<version>.cw` with the
schemas beside it, and loads it with `Engine.from_directory(tmp)`; each input is a test of its
own.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest

from clausewise import DecisionError, Engine, PolicyError
from clausewise.dsl.diagnostics import ERROR, WARNING, Diagnostic
from clausewise.engine.store import PolicyStore, check_file
from tests.conformance_cases import DEFAULT_VERSION, conformance_checks

TRACE_LEVELS = ("off", "rules", "full")
DEFAULT_ID = "cases/policy"
_NO_FILE = object()  # `input_schema: null`: the schema file the header names is not written

DIAGNOSTIC_KEYS = {
    "code",
    "severity",
    "line",
    "col",
    "underline",
    "message_contains",
    "help_contains",
    "file",
}
ERROR_KEYS = {"code", "path", "message_contains"}


def _load_cases() -> list[Any]:
    params = []
    for check in conformance_checks():
        marks = []
        if check.xfail is not None:
            marks.append(pytest.mark.xfail(reason=check.xfail, strict=True))
        params.append(pytest.param(check.case, id=check.id, marks=marks))
    return params


CASES = _load_cases()


def _header_value(text: str, pattern: str) -> str | None:
    m = re.search(pattern, text, re.MULTILINE)
    return m.group(1) if m else None


def _write_schema(folder: Path, name: str | None, schema: Any) -> None:
    if not name or schema is _NO_FILE:
        return
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(schema, str):
        path.write_text(schema, encoding="utf-8")
    else:
        path.write_text(json.dumps({} if schema is None else schema, indent=2), encoding="utf-8")


def _layout(case: dict[str, Any], root: Path) -> tuple[str, Path]:
    """Write the case's files under `root`; the policy id and the policy file's path."""
    text = case["policy"]
    pid = _header_value(text, r'^\s*policy\s+"([^"]*)"') or DEFAULT_ID
    version = _header_value(text, r'^\s*version\s+"([^"]*)"') or DEFAULT_VERSION
    folder = root / pid
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version}.cw"
    path.write_text(text, encoding="utf-8")
    for what in ("input", "output"):
        schema = case.get(f"{what}_schema", {})
        _write_schema(
            folder,
            _header_value(text, rf'^\s*{what}\s+schema\s+"([^"]*)"'),
            _NO_FILE if schema is None else schema,
        )
    for rel, body in (case.get("modules") or {}).items():
        mpath = folder / rel
        mpath.parent.mkdir(parents=True, exist_ok=True)
        mpath.write_text(body, encoding="utf-8")
    return pid, path


def _diagnostics(case: dict[str, Any], root: Path, path: Path) -> list[Diagnostic]:
    """Everything reported about the case: the policy file, or the whole folder when there
    are other files (modules, other versions) beside it."""
    if case.get("modules"):
        return PolicyStore.load(root, strict=False).diagnostics
    _, diags = check_file(path, root)
    return diags


def _fmt_diags(diags: list[Diagnostic]) -> str:
    return "\n\n".join(d.render() for d in diags) or "(none)"


def _check_diagnostic(
    want: dict[str, Any], diags: list[Diagnostic], path: Path, taken: list[Diagnostic]
) -> Diagnostic:
    unknown = set(want) - DIAGNOSTIC_KEYS
    assert not unknown, f"unknown diagnostic keys {sorted(unknown)}"
    for key in ("code", "line", "col", "underline", "message_contains"):
        assert key in want, f"a diagnostic case must give `{key}`"
    cands = [
        d
        for d in diags
        if d.code == want["code"]
        and (d.span.line, d.span.col) == (want["line"], want["col"])
        and not any(d is t for t in taken)
    ]
    # several findings of one kind at one place: the one with the message
    cands.sort(key=lambda d: want["message_contains"] not in d.message)
    assert cands, (
        f"no {want['code']} at {want['line']}:{want['col']}; reported:\n{_fmt_diags(diags)}"
    )
    d = cands[0]
    rendered = d.render()
    assert d.severity == want.get("severity", ERROR), rendered
    expected_file = path.parent / want["file"] if "file" in want else path
    assert Path(d.span.path).resolve() == expected_file.resolve(), rendered
    assert d.span.text() == want["underline"], (
        f"underlined {d.span.text()!r}, expected {want['underline']!r}\n{rendered}"
    )
    assert want["message_contains"] in d.message, rendered
    if "help_contains" in want:
        assert d.help is not None and want["help_contains"] in d.help, rendered
    return d


def _evaluate(engine: Engine, pid: str, case: dict[str, Any], level: str) -> Any:
    at = case.get("at")
    return engine.evaluate(
        pid,
        case.get("input"),
        trace=level,
        version=case.get("version"),
        at=dt.datetime.fromisoformat(at.replace("Z", "+00:00")) if at else None,
    )


def _load_engine(root: Path) -> Engine:
    try:
        return Engine.from_directory(root)
    except PolicyError as e:
        pytest.fail(f"the policy does not load:\n{e}")


@pytest.mark.parametrize("case", CASES)
@pytest.mark.filterwarnings("error::SyntaxWarning")  # generated code must compile cleanly
def test_case(case: dict[str, Any], tmp_path: Path) -> None:
    modes = [k for k in ("expect", "error", "diagnostic", "trace_contains", "why_not") if k in case]
    assert modes, "a case needs expect, error, diagnostic, trace_contains or why_not"
    pid, path = _layout(case, tmp_path)

    if "diagnostic" in case:
        wants = case["diagnostic"]
        wants = wants if isinstance(wants, list) else [wants]
        diags = _diagnostics(case, tmp_path, path)
        matched: list[Diagnostic] = []
        for w in wants:
            matched.append(_check_diagnostic(w, diags, path, matched))
        extra = [d for d in diags if d.severity == ERROR and not any(d is m for m in matched)]
        assert not extra, f"errors the case does not list:\n{_fmt_diags(extra)}"
        if any(w.get("severity", ERROR) == ERROR for w in wants):
            with pytest.raises(PolicyError):
                Engine.from_directory(tmp_path)
            return
        assert all(w.get("severity") == WARNING for w in wants)
        engine = _load_engine(tmp_path)
        warnings = engine.policy(pid, version=case.get("version")).warnings
        for w in wants:
            if "file" not in w:
                assert any(d.code == w["code"] for d in warnings), _fmt_diags(warnings)
        if not any(k in case for k in ("expect", "error", "trace_contains", "why_not")):
            return
    else:
        engine = _load_engine(tmp_path)

    if "error" in case:
        want = case["error"]
        unknown = set(want) - ERROR_KEYS
        assert not unknown, f"unknown error keys {sorted(unknown)}"
        for level in TRACE_LEVELS:
            with pytest.raises(DecisionError) as caught:
                _evaluate(engine, pid, case, level)
            err = caught.value
            got = {"code": err.code, "path": err.path}
            assert got == {"code": want["code"], "path": want.get("path", "")}, (
                f"trace={level}: {err}"
            )
            if "message_contains" in want:
                assert want["message_contains"] in str(err), str(err)
        return

    if "expect" in case:
        for level in TRACE_LEVELS:
            decision = _evaluate(engine, pid, case, level)
            assert decision.output == case["expect"], (
                f"trace={level}: got {json.dumps(decision.output, indent=2)}"
            )

    if "trace_contains" in case or "why_not" in case:
        decision = _evaluate(engine, pid, case, "full")
        if "trace_contains" in case:
            text = decision.explain()
            for s in case["trace_contains"]:
                assert s in text, f"{s!r} not in the explanation:\n{text}"
        if "why_not" in case:
            wn = case["why_not"]
            text = decision.explain(why_not=wn["target"])
            for s in wn["contains"]:
                assert s in text, f"{s!r} not in why-not {wn['target']!r}:\n{text}"
            for s in wn.get("not_contains", ()):
                assert s not in text, f"{s!r} in why-not {wn['target']!r}:\n{text}"
