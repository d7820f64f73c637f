"""`clausewise terms`: the traceability matrix of a policy, from each clause of its terms to the
rules, tables, invariants and input rules citing it, its out-of-scope reason, and its tests."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

EXIT_POLICY = 2


@click.command("terms")
@click.argument("policy_id")
@click.option("--policies", default="policies", show_default=True, help="Policy root folder.")
@click.option(
    "--version", "version", default=None, help="This exact version (default: the latest)."
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
)
def terms_cmd(policy_id: str, policies: str, version: str | None, fmt: str) -> None:
    """Print, for every clause of POLICY_ID's terms, what implements it and what tests it.

    Each clause gets the rules, decisions, tables, invariants and input rules (`require`) that
    cite it, the reason it is out of scope if it is, and the test cases (`*.test.yaml` beside
    the policy) whose decisions fired a rule citing it, or that an input rule citing it rejected.
    """
    from ..authoring.testing import TestReport, TestRunner, find_test_files
    from ..dsl.cache import parse_file
    from ..dsl.terms import traceability
    from .common import load_engine

    engine = load_engine(policies)
    try:
        lp = engine.policy(policy_id, version=version)
    except KeyError as e:
        click.echo(f"error: {e.args[0] if e.args else e}", err=True)
        sys.exit(EXIT_POLICY)
    runner = TestRunner()
    runner.engines[Path(policies).resolve()] = engine
    report = TestReport()
    for f in find_test_files([lp.path.parent]):
        if _tests_version(f, lp.id, lp.version, engine.policy(lp.id).version):
            runner.run_file(f, report)
    cases = [(r.file.name, r.name, r.clauses) for r in report.results if r.ok]
    matrix = traceability(lp.id, lp.version, lp.program.file, lp.path, lp.terms, cases, parse_file)
    if fmt == "json":
        click.echo(json.dumps(matrix.to_json(), indent=2, ensure_ascii=False))
    elif fmt == "markdown":
        click.echo(matrix.markdown())
    else:
        click.echo(matrix.text())


def _tests_version(test_file: Path, policy_id: str, version: str, latest: str) -> bool:
    """Whether a test file tests this version of the policy (its `version:`, else the latest)."""
    import yaml

    try:
        doc = yaml.safe_load(test_file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return False
    if not isinstance(doc, dict) or str(doc.get("policy")) != policy_id:
        return False
    want = doc.get("version")
    return (latest if want is None else str(want)) == version
