"""Check diagnostics as SARIF 2.1.0 (GitHub code scanning) and as GitHub Actions annotations.

`to_sarif` gives one run of the `clausewise` tool: a rule per diagnostic code (with a short
description), a result per diagnostic (level `error` or `warning`, the message and its help,
and the file and region it is about, the file as a path relative to the working folder with
forward slashes). Diagnostics that are about no file (a path given on the command line that does
not exist) are tool notifications of the run's invocation rather than results, since code scanning
needs every result to point into the repository. Notes (`no-terms`: how a file is checked,
nothing to fix) are left out, as they are from GitHub annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from ..dsl.diagnostics import ERROR, WARNING, Diagnostic
from ..dsl.treefiles import read_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "clausewise"

# One line per diagnostic code: what the check finds. Codes missing here get a description made
# from the code itself.
RULE_DESCRIPTIONS: dict[str, str] = {
    "syntax-error": "The policy text does not follow the grammar.",
    "invalid-literal": "A literal (number, date, money) cannot be read.",
    "unreadable": "A policy file cannot be read.",
    "not-found": "A path given to the check does not exist.",
    "not-a-policy": "A module cannot be evaluated on its own.",
    "missing-version": "The policy header has no version.",
    "invalid-version": "The policy version is not a semantic version.",
    "missing-schema": "The policy header names no input or output schema.",
    "schema-not-found": "A schema named by the header does not exist.",
    "invalid-schema": "A schema is not a valid JSON Schema, or cannot be used.",
    "missing-time-zone": "An effective instant without an offset needs a zone.",
    "ambiguous-local-time": "A local time in an effective period does not exist, or occurs twice, in its zone.",
    "decimal-pattern-mismatch": "A decimal field's pattern accepts strings the decimal format refuses.",
    "unknown-time-zone": "A time zone name is not an IANA zone.",
    "policy-id-mismatch": "The policy id does not match its folder.",
    "version-mismatch": "The header's version does not match the file name.",
    "duplicate-version": "Two files define the same version of a policy.",
    "effective-overlap": "Two versions of a policy are in force at the same time.",
    "effective-gap": "No version of a policy is in force for a while.",
    "missing-output": "The policy has no output.",
    "duplicate-output": "The policy has more than one output.",
    "unknown-output-field": "An output field is not in the output schema.",
    "missing-output-field": "A field the output schema requires is missing.",
    "output-type": "An output field's type does not match the output schema.",
    "output-not-here": "`output` is read outside an invariant.",
    "duplicate-definition": "A name is defined twice.",
    "duplicate-field": "A record gives a field twice.",
    "shadows-builtin": "A definition takes the name of a built-in function.",
    "cyclic-definition": "A definition depends on itself.",
    "recursive-definition": "A function calls itself.",
    "unused-definition": "A definition is never used.",
    "unknown-name": "A name is not defined.",
    "unknown-field": "A field is not in the schema or record.",
    "no-such-field": "A value has no such field.",
    "unknown-function": "A function is not defined.",
    "unknown-aggregate": "An aggregate function is not known.",
    "unknown-type": "A type name is not known.",
    "unknown-enum-value": "A string is not one of the schema's enum values.",
    "type-mismatch": "An operation is applied to values of the wrong type.",
    "unit-mismatch": "Durations, months and dates are combined in a way that has no meaning.",
    "currency-mismatch": "Amounts in different currencies are combined.",
    "negative-money": "Money is negated.",
    "nullable-access": "A field of a value that may be null is read without a check.",
    "nullable-operand": "A value that may be null is used without a check or a default.",
    "null-check-never-null": "A null check on a value that is never null.",
    "not-a-list": "A list is expected.",
    "not-indexable": "The value cannot be indexed.",
    "not-callable": "The value is not a function.",
    "function-as-value": "A function is used as a value.",
    "module-as-value": "A module is used as a value.",
    "missing-arguments": "A function is used without its arguments.",
    "wrong-arguments": "A function is called with the wrong number of arguments.",
    "argument-type": "An argument does not have the parameter's declared type.",
    "invalid-argument": "An argument must be a literal of a given form.",
    "by-not-here": "`by` is used with an aggregate other than `distinct` or `group`.",
    "missing-by": "`group` needs `by key`.",
    "import-not-found": "An imported module cannot be read.",
    "import-not-module": "An import names a policy instead of a module.",
    "import-unavailable": "Imports need the policy to be loaded from a file.",
    "import-cycle": "Modules import each other in a cycle.",
    "file-outside-tree": "An import or schema path leads outside the policies folder.",
    "file-not-regular": "An import or schema path names a FIFO, a device or a socket.",
    "file-too-large": "A file a policy reads is larger than the limit.",
    "require-path": "A requirement's `for` or `at` does not name the input.",
    "priority-needs-strategy": "`priority` is used outside a `priority` decision.",
    "missing-citation": "A rule cites no clause of the terms.",
    "unknown-clause": "A citation or `out of scope` names a clause the terms file does not have.",
    "uncited-clause": "A clause of the terms is cited by no rule and not declared out of scope.",
    "cited-out-of-scope": "A clause declared out of scope is cited by a rule.",
    "duplicate-out-of-scope": "A clause is declared out of scope twice.",
    "no-terms": "A policy has no terms file, so its clause ids are not checked.",
    "terms-missing-title": "A terms file does not start with its `# Title`.",
    "terms-header": "The header table of a terms file lacks a field, repeats one or has an unknown one.",
    "terms-malformed-heading": "A heading of a terms file is not a clause heading `## A6`.",
    "terms-missing-id": "A clause heading of a terms file has no clause id.",
    "terms-duplicate-clause": "A terms file gives the same clause twice.",
    "terms-empty-clause": "A clause of a terms file has no text.",
    "terms-misplaced-text": "A clause's English text follows its original wording.",
    "terms-no-clauses": "A terms file has no clauses.",
    "terms-missing-original": "A clause of a non-English source has no original wording.",
    "terms-unreadable": "A terms file cannot be read.",
    "rule-never-fires": "A rule's condition is always false.",
    "rule-shadowed": "A rule can never fire: an earlier rule of its decision always fires first.",
    "table-gap": "A decision table has no row for some inputs.",
    "table-overlap": "Two rows of a `unique` decision table match the same input.",
    "table-row-unreachable": "A row of a `first` decision table is covered by earlier rows.",
    "table-not-analysable": "A decision table's cells are not literals, so gaps cannot be ruled out.",
    "table-else-not-last": "The `else` row of a decision table is not the last row.",
    "table-arity": "A table row has the wrong number of cells.",
    "literal-out-of-range": "A literal is past what the engine can hold (a duration or month count longer than the calendar, too many rounding places, an instant off the calendar).",
    "superlinear-cost": "Evaluation time may grow faster than linearly with the size of the input's lists.",
    "invalid-cost": "A `cost` header item is malformed or does not match the computed cost class.",
}


def _information_uri() -> str:
    """The project's home page from the installed package's metadata, else its PyPI page."""
    try:
        from importlib.metadata import metadata

        meta = metadata("clausewise")
        for home in meta.get_all("Home-page") or []:
            if home.startswith(("http://", "https://")):
                return str(home)
        for entry in meta.get_all("Project-URL") or []:
            _, _, url = entry.partition(",")
            url = url.strip()
            if url.startswith(("http://", "https://")):
                return url
    except Exception:
        pass
    return "https://pypi.org/project/clausewise/"


def describe(code: str) -> str:
    """The short description of a diagnostic code."""
    if code in RULE_DESCRIPTIONS:
        return RULE_DESCRIPTIONS[code]
    return code.replace("-", " ").capitalize() + "."


def artifact_uri(path: str, base: Path | None = None) -> str:
    """`path` relative to `base` (default: the working folder), with forward slashes.

    A path outside `base` stays absolute, as a `file://` URI.
    """
    p = Path(path)
    root = (base or Path.cwd()).resolve()
    absolute = p if p.is_absolute() else (Path.cwd() / p)
    try:
        rel = Path(os.path.normpath(absolute)).relative_to(root)
    except ValueError:
        try:
            rel = absolute.resolve().relative_to(root)
        except ValueError:
            return Path(os.path.normpath(absolute)).as_uri()
    return PurePosixPath(*rel.parts).as_posix()


def message_text(d: Diagnostic) -> str:
    """The message, then its help (the fix), as one text."""
    text = d.message.rstrip()
    if d.help:
        sep = " " if text.endswith((".", "?", "!", ":")) else ". "
        text += sep + d.help[0].upper() + d.help[1:]
    return text


def _level(d: Diagnostic) -> str:
    return "error" if d.severity == ERROR else "warning"


def _region(d: Diagnostic) -> dict[str, int]:
    s = d.span
    if s.line < 1:
        return {"startLine": 1}  # a diagnostic about the whole file
    region = {"startLine": s.line, "startColumn": max(1, s.col)}
    end_line = max(s.end_line, s.line)
    end_col = s.end_col if s.end_line >= s.line else s.col
    if end_line == s.line and end_col <= region["startColumn"]:
        end_col = region["startColumn"] + 1
    region["endLine"] = end_line
    region["endColumn"] = max(1, end_col)
    return region


def to_sarif(diagnostics: Iterable[Diagnostic], base: Path | None = None) -> dict[str, Any]:
    """A SARIF 2.1.0 log of one `clausewise check` run over `diagnostics`."""
    from .. import __version__

    # notes say how a file is checked, nothing to fix: code scanning would show them as alerts
    diags = [d for d in diagnostics if d.severity in (ERROR, WARNING)]
    codes = sorted({d.code for d in diags})
    index = {c: i for i, c in enumerate(codes)}
    rules = []
    for c in codes:
        worst = "error" if any(d.code == c and d.severity == ERROR for d in diags) else "warning"
        rules.append(
            {
                "id": c,
                "name": "".join(w.capitalize() for w in c.split("-")),
                "shortDescription": {"text": describe(c)},
                "defaultConfiguration": {"level": worst},
            }
        )
    results: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    for d in diags:
        if d.span.source is None and d.span.line < 1:
            notifications.append(
                {
                    "level": _level(d),
                    "message": {"text": message_text(d)},
                    "descriptor": {"id": d.code},
                }
            )
            continue
        results.append(
            {
                "ruleId": d.code,
                "ruleIndex": index[d.code],
                "level": _level(d),
                "message": {"text": message_text(d)},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": artifact_uri(d.span.path, base)},
                            "region": _region(d),
                        }
                    }
                ],
            }
        )
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": TOOL_NAME,
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": _information_uri(),
                "rules": rules,
            }
        },
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    if notifications:
        run["invocations"] = [
            {
                "executionSuccessful": not any(n["level"] == "error" for n in notifications),
                "toolExecutionNotifications": notifications,
            }
        ]
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


# ---- GitHub Actions workflow commands ---------------------------------------------------------


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(
    kind: str,
    message: str,
    file: str | None = None,
    line: int | None = None,
    col: int | None = None,
    end_line: int | None = None,
    end_col: int | None = None,
    title: str | None = None,
) -> str:
    """One `::error ...::message` (or `::warning`, `::notice`) workflow command."""
    props = []
    for key, value in (
        ("file", file),
        ("line", line),
        ("col", col),
        ("endLine", end_line),
        ("endColumn", end_col),
        ("title", title),
    ):
        if value is not None and value != "":
            props.append(f"{key}={_escape_property(str(value))}")
    head = f"::{kind}" + (" " + ",".join(props) if props else "")
    return f"{head}::{_escape_data(message)}"


def case_lines(path: Path) -> list[int]:
    """The line of each entry of `cases:` in a policy test file (1-based), in order."""
    import yaml

    try:
        root = yaml.compose(read_text(path))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return []
    if not isinstance(root, yaml.MappingNode):
        return []
    for key, value in root.value:
        if getattr(key, "value", None) == "cases" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def failure_annotations(report: Any) -> list[str]:
    """`::error` commands for the failing cases of a test report, each at its case's line."""
    out: list[str] = []
    lines: dict[Path, list[int]] = {}
    seen: dict[Path, int] = {}
    for r in report.results:
        i = seen.get(r.file, 0)
        seen[r.file] = i + 1
        if r.ok:
            continue
        if r.file not in lines:
            lines[r.file] = case_lines(r.file)
        at = lines[r.file]
        line = at[i] if i < len(at) else 1
        out.append(
            github_annotation(
                "error",
                r.message or "the case failed",
                file=artifact_uri(str(r.file)),
                line=line,
                title=f"{r.policy_id}: {r.name}",
            )
        )
    for e in report.errors:
        file, _, msg = str(e).partition(": ")
        out.append(
            github_annotation("error", msg or str(e), file=artifact_uri(file) if msg else None)
        )
    return out
