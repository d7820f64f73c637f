"""`clausewise log`: query, export, show and prune the decision log; report shadow flips.

The log is named by `--log URL` (or the `CLAUSEWISE_LOG` environment variable), the same URL
`clausewise serve --log` writes to: `sqlite:///PATH` or `postgresql://...`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from ..log import DecisionLog, DecisionRecord, RecordExplainer

# the log's modules are imported by the commands that use them, so that every other command of
# the CLI starts without them

DEFAULT_LOG = "sqlite:///clausewise-decisions.db"
EXIT_NOT_FOUND = 1  # `show`: no decision with that id
EXIT_ERROR = 2  # the log cannot be opened or read, or the command is used wrongly

_PAGE = 1000


def _fail(message: str, code: int = EXIT_ERROR) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _time_option(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    from ..log import parse_time

    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _open(url: str, *, create: bool = False) -> DecisionLog:
    from ..log import open_log

    if url == "off":
        _fail("the log is off: name one with --log URL or CLAUSEWISE_LOG")
    try:
        # a command that only reads has no use for the writer's health probes
        return open_log(url, create=create, probe_every=3600.0)
    except ValueError as e:
        _fail(str(e))


def _records(
    log: DecisionLog,
    limit: int | None,
    after: str | None = None,
    explain: bool = True,
    **filters: Any,
) -> Iterator[tuple[DecisionRecord, str | None]]:
    """Records in time order, each with the cursor after it; at most `limit` when given.
    With `explain`, each record's explanation and trace are rendered (see `RecordExplainer`)."""
    from ..log import RecordExplainer

    explainer = RecordExplainer(log) if explain else None
    try:
        yield from _pages(log, limit, after, explainer, **filters)
    finally:
        if explainer is not None:
            explainer.close()


def _pages(
    log: DecisionLog,
    limit: int | None,
    after: str | None,
    explainer: RecordExplainer | None,
    **filters: Any,
) -> Iterator[tuple[DecisionRecord, str | None]]:
    left = limit
    while left is None or left > 0:
        size = _PAGE if left is None else min(_PAGE, left)
        page, next_after = log.query(limit=size, after=after, **filters)
        for i, record in enumerate(page):
            last = i == len(page) - 1
            if explainer is not None:
                record = explainer.explain(record)
            yield record, next_after if last else None
        if left is not None:
            left -= len(page)
        if next_after is None:
            return
        after = next_after


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


time_option_help = "RFC 3339 time, a date (UTC), or a duration ago such as 24h or 7d."


def _filters(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--policy", help="Only this policy id."),
            click.option(
                "--since", callback=_time_option, help=f"From (inclusive). {time_option_help}"
            ),
            click.option(
                "--until", callback=_time_option, help=f"Up to (exclusive). {time_option_help}"
            ),
            click.option("--outcome", help="Only this outcome, e.g. eligible=true."),
            click.option(
                "--kind",
                type=click.Choice(["live", "shadow", "all"]),
                default="live",
                show_default=True,
                help="Live decisions, shadow ones, or both.",
            ),
            click.option(
                "--explain/--no-explain",
                default=True,
                show_default=True,
                help="Render each decision's explanation and trace (the input is decided again "
                "by the logged version of the logged policy set).",
            ),
        ]
    ):
        func = option(func)
    return func


def _filter_args(
    policy: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    outcome: str | None,
    kind: str,
) -> dict[str, Any]:
    return {
        "policy": policy,
        "since": since,
        "until": until,
        "outcome": outcome,
        "kind": None if kind == "all" else kind,
    }


@click.group("log")
@click.option(
    "--log",
    "log_url",
    envvar="CLAUSEWISE_LOG",
    default=DEFAULT_LOG,
    show_default=True,
    help="The decision log: sqlite:///PATH or postgresql://... (env CLAUSEWISE_LOG).",
)
@click.pass_context
def log_cmd(ctx: click.Context, log_url: str) -> None:
    """Query and maintain the decision log written by `clausewise serve`."""
    ctx.obj = log_url


@log_cmd.command("query")
@_filters
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="At most this many records.",
)
@click.option("--after", help="Continue after this cursor (printed when more records match).")
@click.pass_obj
def query_cmd(
    url: str,
    policy: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    outcome: str | None,
    kind: str,
    explain: bool,
    limit: int,
    after: str | None,
) -> None:
    """Print the matching decisions as JSON Lines, oldest first.

    When more records match than --limit, the cursor to continue with is printed on stderr.
    """
    from ..log import LogUnavailableError

    with _open(url) as log:
        cursor = None
        try:
            for record, next_cursor in _records(
                log, limit, after, explain, **_filter_args(policy, since, until, outcome, kind)
            ):
                click.echo(_dumps(record.to_json()))
                cursor = next_cursor
        except (ValueError, LogUnavailableError) as e:  # a bad cursor or filter; a store down
            _fail(str(e))
        if cursor is not None:
            click.echo(f"more records match: continue with --after {cursor}", err=True)


@log_cmd.command("export")
@_filters
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, writable=True),
    help="The JSON Lines file to write ('-' for stdout).",
)
@click.pass_obj
def export_cmd(
    url: str,
    policy: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    outcome: str | None,
    kind: str,
    explain: bool,
    out: str,
) -> None:
    """Write every matching decision to a JSON Lines file, oldest first.

    The file appears whole or not at all: it is written beside its place and renamed.
    """
    import tempfile

    from ..log import LogUnavailableError

    filters = _filter_args(policy, since, until, outcome, kind)
    with _open(url) as log:
        if out == "-":
            count = 0
            for record, _ in _records(log, None, None, explain, **filters):
                click.echo(_dumps(record.to_json()))
                count += 1
            click.echo(f"exported {count} decision(s)", err=True)
            return
        target = Path(out)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path("."))
        try:
            count = 0
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                for record, _ in _records(log, None, None, explain, **filters):
                    fh.write(_dumps(record.to_json()) + "\n")
                    count += 1
            os.replace(tmp, target)
        except LogUnavailableError as e:
            os.unlink(tmp)
            _fail(str(e))
        except BaseException:
            os.unlink(tmp)
            raise
    click.echo(f"exported {count} decision(s) to {target}")


@log_cmd.command("show")
@click.argument("decision_id")
@click.pass_obj
def show_cmd(url: str, decision_id: str) -> None:
    """Print one decision as JSON: input, output, version, revision, explanation and trace."""
    from ..log import LogUnavailableError, RecordExplainer

    with _open(url) as log:
        try:
            record = log.get(decision_id)
        except LogUnavailableError as e:
            _fail(str(e))
        if record is None:
            _fail(f"no decision {decision_id} in the log", EXIT_NOT_FOUND)
        explainer = RecordExplainer(log)
        record = explainer.explain(record)
        explainer.close()
    click.echo(json.dumps(record.to_json(), indent=2, ensure_ascii=False))


@log_cmd.command("prune")
@click.option(
    "--older-than",
    "older_than",
    required=True,
    help="Delete the decisions older than this duration (e.g. 30d, 12h, 2w).",
)
@click.pass_obj
def prune_cmd(url: str, older_than: str) -> None:
    """Delete old decisions (a server with --retention does this by itself)."""
    from ..log import LogUnavailableError, format_time, parse_duration

    try:
        cutoff = dt.datetime.now(dt.UTC) - parse_duration(older_than)
    except ValueError as e:
        raise click.BadParameter(str(e), param_hint="--older-than") from None
    with _open(url) as log:
        try:
            deleted = log.prune(cutoff)
        except LogUnavailableError as e:
            _fail(str(e))
    click.echo(f"deleted {deleted} decision(s) from before {format_time(cutoff)}")


@log_cmd.command("shadow")
@click.argument("policy_id")
@click.option("--since", callback=_time_option, help=f"From (inclusive). {time_option_help}")
@click.option("--until", callback=_time_option, help=f"Up to (exclusive). {time_option_help}")
@click.option(
    "--examples",
    type=click.IntRange(min=0),
    default=3,
    show_default=True,
    help="Examples (with both explanations) per group of changed fields.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def shadow_cmd(
    url: str,
    policy_id: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    examples: int,
    fmt: str,
) -> None:
    """Report the decisions of POLICY_ID's shadow version that would flip.

    Pairs each shadow decision with its live one and groups those whose outputs differ by the
    output fields that changed, with both outputs and both explanations.
    """
    from ..log import LogUnavailableError, RecordExplainer
    from ..server.shadow import render_shadow_report, shadow_report

    with _open(url) as log:
        explainer = RecordExplainer(log)
        try:
            report = shadow_report(
                log, policy_id, since, until, examples=examples, explainer=explainer
            )
        except LogUnavailableError as e:
            _fail(str(e))
        finally:
            explainer.close()
    if fmt == "json":
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo(render_shadow_report(report))
