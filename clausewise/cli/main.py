"""The `clausewise` command line: check, eval, explain, test, diff, impact."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import DEFAULT_BUDGET, Decision, Engine, EvaluationBudget, InputError, PolicyError
from ..authoring.verify import DEFAULT_MAX_EXAMPLES
from ..dsl.diagnostics import ERROR, WARNING, Diagnostic, shown_path
from ..dsl.runtime import EvaluationError, parse_datetime
from ..engine.jsoninput import DEFAULT_LIMITS, loads_input
from ..engine.store import EXTENSION, PolicyStore, check_file
from .common import EXIT_EVALUATION, EXIT_FAILED, EXIT_INPUT, EXIT_POLICY, load_engine
from .fmt import fmt_cmd
from .log import log_cmd
from .serve import serve_cmd
from .terms import terms_cmd


def _color() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _style(text: str, **kw: Any) -> str:
    return click.style(text, **kw) if _color() else text


def collect_diagnostics(
    paths: tuple[str, ...], jobs: int | None = None
) -> tuple[list[Diagnostic], int]:
    """Check every policy under `paths` (folders are policy roots); all diagnostics, and how many files."""
    diags, count, _ = collect_checks(paths, jobs)
    return diags, count


def collect_checks(
    paths: tuple[str, ...], jobs: int | None = None
) -> tuple[list[Diagnostic], int, list[dict[str, Any]]]:
    """`collect_diagnostics`, and for each policy that checks, its id, version, file and cost
    class (`{"class": "O(n*m)", "degree": 2, "sizes": {"n": "input.orders", ...}}`)."""
    diags: list[Diagnostic] = []
    policies: list[dict[str, Any]] = []
    count = 0
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            store = PolicyStore.load(p, strict=False, compile=False, jobs=jobs)
            diags.extend(store.diagnostics)
            count += sum(1 for _ in p.rglob(f"*{EXTENSION}"))
            for versions in store.policies.values():
                for lp in versions.values():
                    policies.append(_policy_summary(lp.program, lp.path))
        elif p.is_file():
            program, found = check_file(p)
            diags.extend(found)
            count += 1
            if program is not None and program.header.kind == "policy":
                policies.append(_policy_summary(program, p))
        else:
            from ..dsl.diagnostics import NO_SPAN

            diags.append(Diagnostic("not-found", ERROR, f"no such file or folder: {raw}", NO_SPAN))
    seen = set()
    unique: list[Diagnostic] = []
    for d in sorted(diags, key=Diagnostic.sort_key):
        key = (d.code, d.span.path, d.span.line, d.span.col, d.message)
        if key not in seen:
            seen.add(key)
            unique.append(d)
    return unique, count, sorted(policies, key=lambda x: (x["policy"], x["version"]))


def github_diagnostics(diags: list[Diagnostic]) -> list[str]:
    """One GitHub Actions `::error`/`::warning` command per diagnostic, at its file and place."""
    out = []
    for d in diags:
        kind = {ERROR: "error", WARNING: "warning"}.get(d.severity)
        if kind is None:
            continue  # a pull request needs no annotation for how a file is checked
        msg = d.message + (f" ({d.help})" if d.help else "")
        msg = msg.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        out.append(
            f"::{kind} file={shown_path(d.span.path)},line={d.span.line},col={d.span.col},"
            f"endLine={d.span.end_line},endColumn={d.span.end_col},title={d.code}::{msg}"
        )
    return out


def _styled_diagnostic(d: Diagnostic) -> str:
    text = d.render()
    head, _, rest = text.partition("\n")
    color = {ERROR: "red", WARNING: "yellow"}.get(d.severity, "cyan")
    return _style(head, fg=color, bold=True) + ("\n" + rest if rest else "")


def _policy_summary(program: Any, path: Path) -> dict[str, Any]:
    cost = program.cost
    return {
        "policy": program.header.id,
        "version": program.header.version,
        "path": str(path),
        "cost": cost.to_json() if cost is not None else None,
        "cost_acknowledged": program.header.cost.cost_class if program.header.cost else None,
    }


def render_diagnostics(
    diags: list[Diagnostic], fmt: str, count: int, policies: list[dict[str, Any]] | None = None
) -> str:
    errors = sum(1 for d in diags if d.severity == ERROR)
    warnings = sum(1 for d in diags if d.severity == WARNING)
    if fmt == "json":
        return json.dumps(
            {
                "files": count,
                "errors": errors,
                "warnings": warnings,
                "diagnostics": [d.to_json() for d in diags],
                "policies": policies or [],
            },
            indent=2,
        )
    if fmt == "github":
        return "\n".join(github_diagnostics(diags))
    if fmt == "sarif":
        from ..authoring.sarif import to_sarif

        return json.dumps(to_sarif(diags), indent=2)
    out = [_styled_diagnostic(d) for d in diags]
    summary = f"checked {count} file(s): {errors} error(s), {warnings} warning(s)"
    out.append(_style(summary, bold=True))
    return "\n\n".join(out)


@click.group()
@click.version_option(package_name="clausewise")
def main() -> None:
    """clausewise: business terms as policies that are checked, tested and explain every decision."""
    # text read from files may hold what the terminal's encoding cannot write (a lone surrogate
    # from a JSON `\ud800` escape): it is written escaped, never a crash
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github", "sarif"]),
    default="text",
    show_default=True,
    help="Output format.",
)
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large folders (default: one per CPU).",
)
def check(paths: tuple[str, ...], fmt: str, strict: bool, jobs: int | None) -> None:
    """Check policies: syntax, names, types against the schemas, tables, versions.

    A folder is read as a policy root (`<root>/<policy id>/<version>.cw`). Exit 1 on errors.
    """
    diags, count, policies = collect_checks(paths, jobs)
    click.echo(render_diagnostics(diags, fmt, count, policies))
    failing = [d for d in diags if d.severity == ERROR or (strict and d.severity == WARNING)]
    sys.exit(EXIT_FAILED if failing else 0)


def _read_input(source: str) -> Any:
    try:
        # one byte past the limit is enough to say the input is too large
        limit = DEFAULT_LIMITS.max_bytes + 1
        if source == "-":
            raw = sys.stdin.buffer.read(limit)
        else:
            with open(source, "rb") as fh:
                raw = fh.read(limit)
    except OSError as e:
        raise InputError(
            "unreadable_input", "", f"cannot read {source}: {e.strerror or e}"
        ) from None
    return loads_input(raw)


def _parse_at(at: str | None) -> dt.datetime | None:
    if at is None:
        return None
    try:
        t = parse_datetime(at, "optional")
    except ValueError:
        raise click.BadParameter(
            "expected an RFC 3339 datetime, e.g. 2022-10-05T12:00:00Z", param_hint="--at"
        ) from None
    if t.tzinfo is None:
        raise click.BadParameter("the datetime needs an offset (Z or +HH:MM)", param_hint="--at")
    return t


def _policy_lookup(
    engine: Engine, policy_id: str, version: str | None, at: dt.datetime | None
) -> None:
    try:
        engine.policy(policy_id, version=version, at=at)
    except (KeyError, ValueError) as e:
        click.echo(f"error: {e.args[0] if e.args else e}", err=True)
        sys.exit(EXIT_POLICY)


def _input_error(e: InputError, fmt: str) -> NoReturn:
    if fmt == "json":
        click.echo(json.dumps({"error": e.to_json()}, indent=2))
    else:
        click.echo(f"bad input: {e.code} at {e.path or '/'}: {e.message}", err=True)
    sys.exit(EXIT_INPUT)


def _evaluation_error(e: EvaluationError, fmt: str) -> NoReturn:
    if fmt == "json":
        click.echo(json.dumps({"error": e.to_json()}, indent=2))
    else:
        where = f" ({e.location})" if e.location else ""
        click.echo(f"the policy failed on this input: {e.code}: {e.message}{where}", err=True)
    sys.exit(EXIT_EVALUATION)


def _decide(
    policies: str,
    policy_id: str,
    input_path: str,
    trace: str,
    version: str | None,
    at: str | None,
    fmt: str,
    budget: EvaluationBudget | None = None,
) -> Decision:
    """Load the policies, read the input and decide; exit with the right code when any step fails."""
    engine = load_engine(policies, policy_id)
    when = _parse_at(at)
    _policy_lookup(engine, policy_id, version, when)
    try:
        data = _read_input(input_path)
        return engine.evaluate(
            policy_id, data, trace=trace, version=version, at=when, budget=budget
        )
    except InputError as e:
        _input_error(e, fmt)
    except EvaluationError as e:
        _evaluation_error(e, fmt)


def _budget_options(fn: Any) -> Any:
    """`--max-steps` and `--max-items`: the evaluation's cost budget."""
    fn = click.option(
        "--max-items",
        type=click.IntRange(min=0),
        default=DEFAULT_BUDGET.max_items,
        show_default=True,
        help="Cost budget: list items the evaluation may build.",
    )(fn)
    return click.option(
        "--max-steps",
        type=click.IntRange(min=0),
        default=DEFAULT_BUDGET.max_steps,
        show_default=True,
        help="Cost budget: list elements the evaluation's nested passes may visit.",
    )(fn)


def _version_options(command: Any) -> Any:
    """`--version` and `--at`: which version of the policy decides."""
    command = click.option(
        "--at",
        "at",
        default=None,
        help="Use the version in force at this instant (RFC 3339; default: now).",
    )(command)
    return click.option(
        "--version",
        "version",
        default=None,
        help="Use this exact version (default: the version in force now).",
    )(command)


@main.command("eval")
@click.argument("policy_id")
@click.option(
    "--input", "input_path", default=None, help="Input JSON file, or - for standard input."
)
@click.option(
    "--batch",
    "batch_path",
    default=None,
    help="Decide every row of this file (.parquet, .arrow/.feather, .csv, .jsonl); needs --out.",
)
@click.option("--out", "out_path", default=None, help="With --batch: the results file.")
@click.option(
    "--explain", is_flag=True, help="With --batch: add an explanation column (rules level)."
)
@click.option("--policies", default="policies", show_default=True, help="Policy root folder.")
@click.option(
    "--trace", type=click.Choice(["off", "rules", "full"]), default="off", show_default=True
)
@click.option(
    "--format", "fmt", type=click.Choice(["json", "text"]), default="json", show_default=True
)
@_version_options
@_budget_options
def eval_cmd(
    policy_id: str,
    input_path: str | None,
    batch_path: str | None,
    out_path: str | None,
    explain: bool,
    policies: str,
    trace: str,
    fmt: str,
    version: str | None,
    at: str | None,
    max_steps: int,
    max_items: int,
) -> None:
    """Evaluate POLICY_ID on an input and print the decision. Exit 3 on bad input, 4 when the
    policy fails on it (an evaluation error, printed as JSON with --format json).

    With --batch IN --out OUT, decide every row of IN into OUT (see docs/batch.md); exit 3 when
    a row was refused for its input, 4 when the policy failed on a row."""
    budget = EvaluationBudget(max_steps=max_steps, max_items=max_items)
    if batch_path is not None or out_path is not None or explain:
        if batch_path is None or out_path is None or input_path is not None:
            raise click.UsageError("--batch and --out go together, without --input")
        try:
            from .batch import run_batch
        except ImportError as e:
            raise click.ClickException(
                f"--batch needs the batch extra (pip install 'clausewise[batch]'): {e}"
            ) from e

        engine = load_engine(policies, policy_id)
        when = _parse_at(at)
        _policy_lookup(engine, policy_id, version, when)
        sys.exit(
            run_batch(
                engine,
                policy_id,
                batch_path,
                out_path,
                trace,
                explain,
                version,
                when,
                None if budget == DEFAULT_BUDGET else budget,
            )
        )
    if input_path is None:
        raise click.UsageError("give --input FILE (or --batch IN --out OUT)")
    decision = _decide(policies, policy_id, input_path, trace, version, at, fmt, budget)
    if fmt == "json":
        click.echo(json.dumps(decision.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(decision.explain())


@main.command()
@click.argument("policy_id")
@click.option(
    "--input", "input_path", required=True, help="Input JSON file, or - for standard input."
)
@click.option("--policies", default="policies", show_default=True, help="Policy root folder.")
@click.option(
    "--why-not",
    "why_not",
    default=None,
    help="An output field or rule: show what kept it from coming out.",
)
@click.option(
    "--for",
    "audience",
    type=click.Choice(["author", "reader"]),
    default="author",
    show_default=True,
    help="author: every rule tried and the values compared; reader: the reasons that decided "
    "the outcome, values filled in, and the clauses they rest on.",
)
@_version_options
@_budget_options
def explain(
    policy_id: str,
    input_path: str,
    policies: str,
    why_not: str | None,
    audience: str,
    version: str | None,
    at: str | None,
    max_steps: int,
    max_items: int,
) -> None:
    """Explain a decision: every rule tried, the values compared, and the clauses behind them
    (`--for reader`: the reasons that decided it, in plain sentences).

    Exit 2 when --why-not names neither an output field nor a rule of the policy."""
    budget = EvaluationBudget(max_steps=max_steps, max_items=max_items)
    trace = "rules" if audience == "reader" and why_not is None else "full"
    decision = _decide(policies, policy_id, input_path, trace, version, at, "text", budget)
    text = decision.explain(why_not=why_not, audience=audience)
    if why_not is not None and not decision.can_explain_why_not(why_not):
        # a name the policy does not have is a wrong use of the command, not an answer
        click.echo(f"error: {text}", err=True)
        sys.exit(EXIT_POLICY)
    click.echo(text)


@main.command()
@click.argument("paths", nargs=-1, type=click.Path())
@click.option(
    "--coverage",
    is_flag=True,
    help="Report rules, table rows, condition branches and clauses exercised.",
)
@click.option(
    "--min-coverage",
    type=float,
    default=None,
    help="Fail when any policy's coverage is below N percent.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "github"]),
    default="text",
    show_default=True,
    help="github: an `::error` annotation at each failing case of its test file.",
)
def test(paths: tuple[str, ...], coverage: bool, min_coverage: float | None, fmt: str) -> None:
    """Run the policy tests (`*.test.yaml`) under PATHS (default: ./policies). Exit 1 on any failure.

    Each test file is checked first, like a policy: an unknown key, a wrong type, or a policy,
    version, rule, output field or input file that does not exist is an error at its line, and
    the file's cases do not run. With --coverage every policy version under PATHS is listed,
    one without tests at 0%.
    """
    from ..authoring.testing import TestRunner

    roots = [Path(p) for p in (paths or ("policies",))]
    runner = TestRunner(coverage=coverage or min_coverage is not None)
    report = runner.run(roots)
    below = []
    if min_coverage is not None:
        below = [c for c in report.coverage.values() if c.total() < min_coverage]
    if fmt == "json":
        click.echo(
            json.dumps(
                {
                    "passed": len(report.results) - len(report.failed),
                    "failed": len(report.failed),
                    "errors": report.errors,
                    "diagnostics": [d.to_json() for d in report.diagnostics],
                    "failures": [
                        {
                            "file": str(r.file),
                            "policy": r.policy_id,
                            "case": r.name,
                            "message": r.message,
                        }
                        for r in report.failed
                    ],
                    "coverage": [c.to_json() for c in report.coverage.values()],
                },
                indent=2,
            )
        )
    elif fmt == "github":
        from ..authoring.sarif import failure_annotations, github_annotation

        for line in github_diagnostics(report.diagnostics):
            click.echo(line)
        for line in failure_annotations(report):
            click.echo(line)
        for c in report.coverage.values():
            click.echo(_coverage_text(c))
        click.echo(_test_summary(report))
        for c in below:
            click.echo(
                github_annotation(
                    "error",
                    f"coverage of {c.policy_id} {c.version} is {c.total():.1f}%, below {min_coverage}%",
                    title="clausewise test --min-coverage",
                )
            )
    else:
        for r in report.failed:
            click.echo(_style(f"FAIL {r.file} :: {r.name}", fg="red", bold=True))
            click.echo("  " + r.message.replace("\n", "\n  "))
            if r.explanation:
                click.echo("  explanation:\n    " + r.explanation.replace("\n", "\n    "))
        for d in report.diagnostics:
            click.echo(_styled_diagnostic(d) + "\n")
        for e in report.errors:
            click.echo(_style(f"ERROR {e}", fg="red", bold=True))
        for c in report.coverage.values():
            click.echo(_coverage_text(c))
        click.echo(_test_summary(report))
        for c in below:
            click.echo(
                _style(
                    f"coverage of {c.policy_id} {c.version} is {c.total():.1f}%, below {min_coverage}%",
                    fg="red",
                )
            )
    if not report.results and not report.errors and not report.diagnostics:
        click.echo("no policy tests found", err=True)
    failed = report.failed or report.errors or report.file_errors or below
    sys.exit(EXIT_FAILED if failed else 0)


def _test_summary(report: Any) -> str:
    n_pass = len(report.results) - len(report.failed)
    text = f"{n_pass} passed, {len(report.failed)} failed"
    if report.file_errors:
        text += f", {len(report.file_errors)} error(s) in test files"
    return text


def _coverage_text(c: Any) -> str:
    if not c.cases:
        return f"coverage {c.policy_id} {c.version}: 0%, no test cases (no test file tests this version)"
    pct = c.percentages()
    data = c.to_json()
    lines = [
        f"coverage {c.policy_id} {c.version}: rules {pct['rules']:.0f}%, table rows {pct['rows']:.0f}%, "
        f"branches {pct['branches']:.0f}%, clauses {pct['clauses']:.0f}%"
        + (f" ({len(c.out_of_scope)} out of scope)" if c.out_of_scope else "")
    ]
    for label, key in (
        ("rules never fired", "rules_never_fired"),
        ("rows never matched", "rows_never_matched"),
        ("clauses not exercised", "clauses_not_exercised"),
    ):
        if data[key]:
            lines.append(f"  {label}: {', '.join(data[key])}")
    for b in data["branches_not_both_ways"]:
        lines.append(
            f"  condition never {'false' if b['true'] else 'true'}: {b['condition']} at {b['location']}"
        )
    return "\n".join(lines)


@main.command()
@click.argument("args", nargs=-1, required=True)
@click.option(
    "--base",
    "base",
    default=None,
    help="Compare each FILE with its state at this git revision (e.g. origin/main).",
)
@click.option(
    "--policies",
    default="policies",
    show_default=True,
    help="Policy root folder, for `POLICY_ID V1 V2`.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything changed.")
def diff(args: tuple[str, ...], base: str | None, policies: str, fmt: str, exit_code: bool) -> None:
    """Semantic diff of two versions of a policy: rules, thresholds, tables, header.

    \b
    clausewise diff OLD.cw NEW.cw
    clausewise diff POLICY_ID 1.0.0 1.1.0 --policies DIR
    clausewise diff --base origin/main FILE...

    Reformatting and reordering definitions show no change. Exit 0 (1 with --exit-code when
    anything changed), 2 when a version cannot be read or parsed.
    """
    from ..authoring.diff import (
        DiffError,
        PolicyDiff,
        added_policy,
        diff_sides,
        file_side,
        git_side,
    )
    from ..authoring.diff import version_side as _version_side

    results: list[PolicyDiff] = []
    try:
        if base is not None:
            for f in args:
                new_side = file_side(Path(f))
                old_side = git_side(base, Path(f))
                results.append(
                    added_policy(new_side, base)
                    if old_side is None
                    else diff_sides(old_side, new_side)
                )
        elif len(args) == 2:
            results.append(diff_sides(file_side(Path(args[0])), file_side(Path(args[1]))))
        elif len(args) == 3:
            root = Path(policies)
            results.append(
                diff_sides(
                    _version_side(root, args[0], args[1]), _version_side(root, args[0], args[2])
                )
            )
        else:
            raise click.UsageError(
                "give OLD NEW (two files), POLICY_ID V1 V2, or --base REV FILE..."
            )
    except DiffError as e:
        click.echo(f"error: {e}", err=True)
        sys.exit(EXIT_POLICY)
    except PolicyError as e:
        click.echo(str(e), err=True)
        sys.exit(EXIT_POLICY)
    changed = any(r.changed for r in results)
    if fmt == "json":
        click.echo(
            json.dumps(
                {"changed": changed, "diffs": [r.to_json() for r in results]},
                indent=2,
                ensure_ascii=False,
                default=str,
            )
        )
    else:
        click.echo("\n\n".join(r.text() for r in results))
    sys.exit(EXIT_FAILED if exit_code and changed else 0)


@main.command()
@click.argument("policy_id")
@click.option("--from", "old_version", required=True, help="The current version.")
@click.option("--to", "new_version", default=None, help="The proposed version.")
@click.option(
    "--at-field",
    "at_field",
    default=None,
    help="Instead of --to: decide each input with the version in force at the date or "
    "datetime at this JSON pointer of the input (e.g. /flight/scheduled_departure).",
)
@click.option(
    "--inputs",
    "inputs",
    required=True,
    help="A folder of *.json inputs, a JSON Lines file, or log:URL for the inputs of the "
    "decisions in a decision log (log:sqlite:///PATH, log:postgresql://...).",
)
@click.option(
    "--since",
    help="With --inputs log:URL, only decisions from this time on: RFC 3339, a date (UTC), "
    "or a duration ago such as 7d.",
)
@click.option("--policies", default="policies", show_default=True, help="Policy root folder.")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when any decision changed.")
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Examples (with both explanations) shown per group of changed fields.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
def impact(
    policy_id: str,
    old_version: str,
    new_version: str | None,
    at_field: str | None,
    inputs: str,
    since: str | None,
    policies: str,
    fail_on_change: bool,
    examples: int,
    fmt: str,
) -> None:
    """Replay inputs through two versions of POLICY_ID and report the decisions that change.

    Changed decisions are grouped by the output fields that changed; inputs that either version
    rejects are counted apart. With --fail-on-change, exit 1 when a decision changed or an input
    is rejected by one version only. With --inputs log:URL the inputs are those of the live
    decisions of POLICY_ID in the decision log (from --since on), named by decision id. Money fields of the output are totalled per
    currency.
    """
    from ..authoring.impact import LOG_PREFIX, LogInputs
    from ..authoring.impact import impact as run_impact

    if (new_version is None) == (at_field is None):
        raise click.UsageError("give either --to VERSION or --at-field POINTER")
    source: Path | LogInputs
    if inputs.startswith(LOG_PREFIX):
        try:
            source = LogInputs.parse(inputs, since)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint="--inputs/--since") from None
    else:
        if since is not None:
            raise click.BadParameter("--since needs --inputs log:URL", param_hint="--since")
        source = Path(inputs)
        if not source.exists():
            raise click.BadParameter(f"{inputs} does not exist", param_hint="--inputs")
    engine = load_engine(policies, policy_id)
    try:
        report = run_impact(engine, policy_id, old_version, new_version, source, examples, at_field)
    except (KeyError, ValueError) as e:
        click.echo(f"error: {e.args[0] if e.args else e}", err=True)
        sys.exit(EXIT_POLICY)
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2, ensure_ascii=False))
    else:
        click.echo(report.text())
    sys.exit(EXIT_FAILED if fail_on_change and report.anything_changed else 0)


@main.command()
@click.argument("path", required=False, default="policies", type=click.Path())
@click.option(
    "--force", is_flag=True, help="Re-lock versions whose content changed; drop deleted ones."
)
def lock(path: str, force: bool) -> None:
    """Record the content digest of every policy version under PATH in PATH/clausewise.lock.

    New versions are added and locked ones are kept. A locked version whose content changed
    is refused (exit 1, naming it) unless --force: released versions are immutable.
    """
    from ..authoring.lock import run_lock

    sys.exit(run_lock(path, force, click.echo))


@main.command()
@click.argument("path", required=False, default="policies", type=click.Path())
@click.option(
    "--max-examples",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_EXAMPLES,
    show_default=True,
    help="Valid inputs to try per policy version.",
)
@click.option(
    "--seed", type=int, default=None, help="Seed of the search (random, and printed, if left out)."
)
def verify(path: str, max_examples: int, seed: int | None) -> None:
    """Search for inputs that break the invariants of the policies under PATH.

    The search starts from the inputs of each policy's test cases and inputs generated from its
    input schema, and mutates those that reach new rules and conditions, towards the policy's
    own constants; inputs the policy rejects are repaired. A violation is shrunk to a small
    counterexample and printed with the decision's explanation; each version's report says
    what the inputs covered. Exit 1 on any violation. Exit 2 when some policy does not check (the
    others are verified all the same).
    """
    from ..authoring.verify import random_seed, render_report, verify_store

    root, scope = _root_of_folder(Path(path))
    engine = load_engine(str(root))
    store = _scoped_store(engine.store, scope)
    # a policy that does not check is reported, and the others are verified all the same
    broken = [d for diags in store.failed.values() for d in diags if d.severity == ERROR]
    seed = random_seed() if seed is None else seed
    click.echo(f"verifying {path} (seed {seed}, {max_examples} inputs per policy version)")
    reports = verify_store(
        store, max_examples, seed, on_report=lambda r: click.echo(render_report(r))
    )
    failed = [r for r in reports if not r.ok]
    if not reports:
        click.echo(f"no invariants under {path}")
    else:
        click.echo(f"{len(reports)} policy version(s) verified, {len(failed)} failed")
        if failed:
            click.echo(f"rerun with `clausewise verify {path} --seed {seed}`")
    if broken:
        click.echo("\n\n".join(d.render() for d in dict.fromkeys(broken)), err=True)
        click.echo(
            f"error: {len(store.failed)} policy file(s) under {path} do not check and "
            "were not verified",
            err=True,
        )
        sys.exit(EXIT_POLICY)
    sys.exit(EXIT_FAILED if failed else 0)


def _root_of_folder(folder: Path) -> tuple[Path, Path | None]:
    """The policies root a folder belongs to, and the folder as the part of it to work on
    (None: all of it). A folder inside a root (`policies/budgets`, one policy's folder) is
    found from the id and place of a policy file in it, as `test` finds it from a test file."""
    from ..dsl.policyfile import parse_file
    from ..dsl.treefiles import policies_root_of

    if not folder.is_dir():
        return folder, None
    for candidate in sorted(folder.rglob(f"*{EXTENSION}")):
        try:
            header = parse_file(candidate).header
        except (PolicyError, OSError, UnicodeDecodeError):
            continue
        if header.kind == "module" or not header.id:
            continue
        root = policies_root_of(candidate, header.id)
        if root.resolve() != folder.resolve() and folder.resolve().is_relative_to(root.resolve()):
            return root, folder
        return folder, None
    return folder, None


def _scoped_store(store: PolicyStore, scope: Path | None) -> PolicyStore:
    """The store with only the policy versions (and failed files) under `scope`."""
    if scope is None:
        return store
    inside = scope.resolve()

    def under(path: Path) -> bool:
        return path.resolve().is_relative_to(inside)

    scoped = PolicyStore(store.root)
    scoped.diagnostics = store.diagnostics
    scoped.failed = {p: d for p, d in store.failed.items() if under(p)}
    for pid, versions in store.policies.items():
        kept = {v: lp for v, lp in versions.items() if under(lp.path)}
        if kept:
            scoped.policies[pid] = kept
    return scoped


main.add_command(fmt_cmd)
main.add_command(log_cmd)
main.add_command(serve_cmd)
main.add_command(terms_cmd)


if __name__ == "__main__":  # pragma: no cover
    main()
