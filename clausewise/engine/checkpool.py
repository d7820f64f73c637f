"""Checking many policy files at once: each file is parsed and checked on its own, so a large
policy repository is spread over worker processes.

`check_files` yields `(path, program, diagnostics)` in the order of `paths`, with the same
diagnostics as checking them one after the other (`check_file` is a pure function of the file and
the schemas beside it). Workers send back, with `slim=True`, only what the checks across files
need: the diagnostics and a `HeaderOnlyProgram` (the header and imports), because sending whole
typed programs back costs the parent more than the checking it saves.

How many workers: `jobs=None` uses one per CPU this process may run on, with at least
`MIN_FILES_PER_WORKER` files each (the parent only waits, so on a busy machine too the workers get
a larger share of the CPUs than one process would). Few files, one CPU, `jobs=1`, or a platform
where worker processes cannot be started: the files are checked in this process, with whole
programs.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

from ..dsl import ast as A
from ..dsl import types as T
from ..dsl.diagnostics import Diagnostic
from ..dsl.typed import Program

# Below this many files per worker, starting workers costs more than it saves.
MIN_FILES_PER_WORKER = 12


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def workers_for(files: int, jobs: int | None) -> int:
    """How many worker processes to use for `files` files (`jobs`: None = one per CPU)."""
    if jobs is not None and jobs <= 1:
        return 1
    limit = available_cpus() if jobs is None else jobs
    return max(1, min(limit, files // MIN_FILES_PER_WORKER))


@dataclasses.dataclass(slots=True)
class HeaderOnlyProgram(Program):
    """What checking across files needs of a checked policy: its header and imports (the
    definitions, rules and output are left out). It cannot be compiled."""


def header_only(program: Program) -> HeaderOnlyProgram:
    values = {f.name: getattr(program, f.name) for f in dataclasses.fields(Program)}
    f = program.file
    values.update(
        file=A.PolicyFile(f.header, f.imports, (), f.span),
        input_type=T.ANY,
        output_type=T.ANY,
        input_schema={},
        output_schema={},
        definitions={},
        functions={},
        requirements=[],
        output=None,
        output_deps=set(),
        invariants=[],
        rules=[],
        sites=[],
        field_deps={},
    )
    return HeaderOnlyProgram(**values)


def _check_one(args: tuple[Path, Path | None, bool]) -> tuple[Program | None, list[Diagnostic]]:
    from .store import check_file

    path, root, slim = args
    program, diags = check_file(path, root)
    if slim and program is not None:
        return header_only(program), diags
    return program, diags


def check_files(
    paths: list[Path], root: Path | None = None, jobs: int | None = 1, slim: bool = False
) -> Iterator[tuple[Path, Program | None, list[Diagnostic]]]:
    """Check every file (in workers when that helps); results in the order of `paths`.

    `slim`: the programs are only wanted for checks across files, so workers may send back
    `HeaderOnlyProgram`s.
    """
    from .store import check_file

    n = workers_for(len(paths), jobs)
    if n > 1:
        # build the parser tables and the meta-schema validator once, here: forked workers
        # inherit them instead of each building its own
        from ..dsl.cache import prepare
        from ..dsl.parser import parse
        from .metaschema import check_schema

        prepare()
        parse('module "warm-up"')
        check_schema({})
        try:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else None)
            pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx)
        except (OSError, ValueError, ImportError, NotImplementedError):
            n = 1
        else:
            with pool:
                chunk = max(1, min(8, len(paths) // (n * 4)))
                results = pool.map(_check_one, [(p, root, slim) for p in paths], chunksize=chunk)
                for path, (program, diags) in zip(paths, results, strict=True):
                    yield path, program, diags
            return
    for path in paths:
        program, diags = check_file(path, root)
        yield path, program, diags
