"""Check diagnostics as SARIF 2.1.0 (GitHub code scanning) and as GitHub Actions annotations.

`to_sarif` gives one run of the `clausewise` tool: a rule per diagnostic code (with the short
description the catalogue `dsl.codes` gives it), a result per diagnostic (level `error` or
`warning`, the message and its help, and the file and region it is about, the file as a path
relative to the working folder with forward slashes). Diagnostics that are about no file (a path given on the command line that does
not exist) are tool notifications of the run's invocation rather than results, since code scanning
needs every result to point into the repository. Notes (`no-terms`: how a file is checked,
nothing to fix) are left out, as they are from GitHub annotations.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import Any

from ..dsl.codes import describe
from ..dsl.diagnostics import ERROR, WARNING, Diagnostic
from ..dsl.treefiles import read_text

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
TOOL_NAME = "clausewise"


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
