"""`clausewise fmt`: rewrite policy files in the canonical layout (`clausewise.dsl.formatter`)."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import click

from ..dsl.diagnostics import PolicySyntaxError
from ..dsl.formatter import FormatError, format_source

EXTENSION = ".cw"
EXIT_CHANGED = 1  # --check / --diff: some file is not formatted
EXIT_ERROR = 2  # a file does not parse, cannot be read, or cannot be formatted


def _files(paths: tuple[str, ...]) -> tuple[list[Path], list[str]]:
    """The files to format (every `*.cw` under a folder, in name order), and the missing paths."""
    files: list[Path] = []
    missing: list[str] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob(f"*{EXTENSION}") if f.is_file()))
        elif p.is_file():
            files.append(p)
        else:
            missing.append(raw)
    unique = list(dict.fromkeys(files))
    return unique, missing


def _diff(name: str, before: str, after: str) -> str:
    lines = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"{name} (original)",
        tofile=f"{name} (formatted)",
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _format(text: str, name: str) -> str | None:
    """The formatted text, or None after reporting why the file cannot be formatted."""
    try:
        return format_source(text, name)
    except PolicySyntaxError as e:
        click.echo(str(e), err=True)
    except FormatError as e:
        click.echo(f"error: cannot format {name}: {e}", err=True)
    return None


@click.command("fmt")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing: list the files that would be reformatted and exit 1 if there are any.",
)
@click.option(
    "--diff",
    "show_diff",
    is_flag=True,
    help="Write nothing: print a unified diff of the changes and exit 1 if there are any.",
)
def fmt_cmd(paths: tuple[str, ...], check: bool, show_diff: bool) -> None:
    """Rewrite policy files in the canonical layout (`-` formats standard input to standard output).

    A folder stands for every `*.cw` file under it. Prints `reformatted <file>` for each file
    changed. A file that does not parse is reported and left as it is (exit 2).
    """
    errors = 0
    changed = 0
    if "-" in paths:
        text = sys.stdin.read()
        new = _format(text, "<stdin>")
        if new is None:
            sys.exit(EXIT_ERROR)
        if show_diff:
            click.echo(_diff("<stdin>", text, new), nl=False)
        elif not check:
            click.echo(new, nl=False)
        changed += new != text
        paths = tuple(p for p in paths if p != "-")
    files, missing = _files(paths)
    for raw in missing:
        click.echo(f"error: no such file or folder: {raw}", err=True)
        errors += 1
    for path in files:
        try:
            with path.open(encoding="utf-8", newline="") as f:
                text = f.read()
        except (OSError, UnicodeDecodeError) as e:
            click.echo(f"error: cannot read {path}: {e}", err=True)
            errors += 1
            continue
        new = _format(text, str(path))
        if new is None:
            errors += 1
            continue
        if new == text:
            continue
        changed += 1
        if show_diff:
            click.echo(_diff(str(path), text, new), nl=False)
        if check or show_diff:
            if check:
                click.echo(f"would reformat {path}")
            continue
        try:
            with path.open("w", encoding="utf-8", newline="") as f:
                f.write(new)
        except OSError as e:
            click.echo(f"error: cannot write {path}: {e}", err=True)
            errors += 1
            continue
        click.echo(f"reformatted {path}")
    if errors:
        sys.exit(EXIT_ERROR)
    sys.exit(EXIT_CHANGED if changed and (check or show_diff) else 0)
