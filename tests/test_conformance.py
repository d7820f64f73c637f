"""Conformance cases as data: every `tests/cases/<topic>/*.yaml` file is a list of cases.

A case is a policy (full text) plus what must come of it:

- `input` + `expect`: the decision's output, exactly (checked at every trace level);
- `input` + `error`: `{code, path}` of the `InputError` (or other `DecisionError`) it raises;
- `diagnostic`: one (or a list of) `{code, severity, line, col, underline, message_contains,
  help_contains, file}` the checker reports; every error reported must be listed;
- `input` + `trace_contains`: strings that `decision.explain()` shows with `trace="full"`;
- `input` + `why_not`: `{target, contains, not_contains}` for `decision.explain(why_not=target)`.

Optional keys: `input_schema` / `output_schema` (inline JSON Schema, or a string written to the
file as is, or null for no file; both default to `{}`, any value), `modules` (`{path relative
to the policy file: text}`: imported modules, other versions of the policy, a lock file),
`version` / `at` (which version to evaluate), `xfail: "reason"` (a known bug: the case must
fail until it is fixed).

The `underline` of a diagnostic is the exact source text its span covers; `file` (relative to
the policy file) is given when the diagnostic is about another file. Generated code must compile
without warnings.

The runner writes the case to `<tmp>/<policy id>/<version>.cw` with the schemas beside it, and
loads it with `Engine.from_directory(tmp)`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from clausewise import DecisionError, Engine, PolicyError
from clausewise.dsl.diagnostics import ERROR, WARNING, Diagnostic
from clausewise.engine.store import PolicyStore, check_file

CASES_DIR = Path(__file__).parent / "cases"
TRACE_LEVELS = ("off", "rules", "full")
DEFAULT_ID = "cases/policy"
DEFAULT_VERSION = "1.0.0"
_NO_FILE = object()  # `input_schema: null`: the schema file the header names is not written

CASE_KEYS = {
    "name",
    "policy",
    "input_schema",
    "output_schema",
    "modules",
    "input",
    "expect",
    "error",
    "diagnostic",
    "trace_contains",
    "why_not",
    "version",
    "at",
    "xfail",
}
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


_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_BOOL = "tag:yaml.org,2002:bool"


class _Loader(yaml.SafeLoader):
    """YAML without implicit dates: `2022-10-05` stays the string the policy's input sends."""


_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in (_TIMESTAMP, _BOOL)]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
# booleans are `true` and `false` only (`off`, `no`... stay strings, as in YAML 1.2)
_Loader.add_implicit_resolver(_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), None)


def _load_cases() -> list[Any]:
    params = []
    for f in sorted(CASES_DIR.rglob("*.yaml")):
        topic = f.parent.relative_to(CASES_DIR).as_posix()
        cases = yaml.load(f.read_text(encoding="utf-8"), Loader=_Loader)  # a SafeLoader
        assert isinstance(cases, list), f"{f}: a case file holds a list of cases"
        for case in cases:
            case_id = f"{topic}/{f.stem}/{case.get('name')}"
            marks = []
            if "xfail" in case:
                marks.append(pytest.mark.xfail(reason=str(case["xfail"]), strict=True))
            params.append(pytest.param(case, id=case_id, marks=marks))
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
    unknown = set(case) - CASE_KEYS
    assert not unknown, f"unknown case keys {sorted(unknown)}"
    assert "policy" in case, "a case needs `policy`"
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
