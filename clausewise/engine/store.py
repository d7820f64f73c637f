"""Loading policies from disk, and finding the version that applies.

Layout: `<root>/<policy id>/<version>.cw`, with the JSON Schemas the header names beside it.
A module (shared definitions) is any `.cw` file whose header is `module "..."`.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..dsl import ast as A
from ..dsl import types as T
from ..dsl.check import ModuleLoader, check_policy
from ..dsl.codes import severity
from ..dsl.diagnostics import ERROR, WARNING, Diagnostic, PolicyError, Source, Span
from ..dsl.policyfile import parse_file  # with unchanged files read from the cache
from ..dsl.runtime import parse_datetime
from ..dsl.treefiles import (
    MAX_FILE_BYTES,
    TreeFileError,
    check_in_tree,
    policies_root_of,
    read_text,
    resolve_in_tree,
)
from ..dsl.typed import Program
from ..dsl.zones import zone
from .checkpool import HeaderOnlyProgram, check_files
from .compiler import CompiledPolicy, compile_program
from .lockfile import lock_diagnostics, version_key
from .schemasafety import SchemaProblem, locate, schema_problems

if TYPE_CHECKING:
    from ..dsl.terms import Clause, Terms

EXTENSION = ".cw"

_COMPILING = threading.Lock()


@dataclass
class LoadedPolicy:
    """One version of one policy, checked; compiled at load, or when first needed."""

    id: str
    version: str
    path: Path
    source: CompiledPolicy | Program  # a Program is compiled on first use of `compiled`
    warnings: list[Diagnostic] = field(default_factory=list)

    @property
    def compiled(self) -> CompiledPolicy:
        src = self.source
        if isinstance(src, CompiledPolicy):
            return src
        if isinstance(src, HeaderOnlyProgram):
            raise RuntimeError(
                f"{self.id} {self.version} was loaded to be checked only (compile=False with "
                "worker processes): load the store with compile=True to evaluate it"
            )
        with _COMPILING:
            if not isinstance(self.source, CompiledPolicy):
                self.source = compile_program(self.source)
            return self.source

    @property
    def program(self) -> Program:
        src = self.source
        return src.program if isinstance(src, CompiledPolicy) else src

    @functools.cached_property
    def terms(self) -> Terms | None:
        """The terms file beside this version (None when it has none or it cannot be read:
        `check` reports that)."""
        from ..dsl.terms import load_terms

        return load_terms(self.path)[0]

    @functools.cached_property
    def clauses(self) -> dict[str, Clause]:
        """The clauses of the terms by id (empty without terms)."""
        return {c.id: c for c in self.terms.clauses} if self.terms is not None else {}

    def effective_range(self) -> tuple[dt.datetime | None, dt.datetime | None]:
        """The effective period as UTC instants (until excluded); None where open."""
        eff = self.program.header.effective
        if eff is None:
            return None, None
        return _instant(eff.start, eff.zone), _instant(eff.until, eff.zone)


def _instant(v: dt.date | dt.datetime | None, zone_name: str | None) -> dt.datetime | None:
    if v is None:
        return None
    z = zone(zone_name) if zone_name else dt.UTC
    if isinstance(v, dt.datetime):
        return (v if v.tzinfo else v.replace(tzinfo=z)).astimezone(dt.UTC)
    return dt.datetime(v.year, v.month, v.day, tzinfo=z).astimezone(dt.UTC)


def load_schema(
    policy_path: Path, ref: str | None, span: Span, what: str, root: Path | None = None
) -> tuple[dict[str, Any] | None, list[Diagnostic]]:
    """Read the JSON Schema a policy header points to (relative to the policy file, inside the
    policies `root`: by default the one inferred from the policy's id, see `treefiles`)."""
    if not ref:
        return None, []
    if root is None:
        root = policies_root_of(policy_path, None)
    try:
        path = resolve_in_tree(root, policy_path.parent, ref)
        text = read_text(path)
        schema = json.loads(text)
    except TreeFileError as e:
        return None, [
            Diagnostic(
                e.code,
                ERROR,
                f"the {what} schema `{ref}` cannot be read: {e.strerror}",
                span,
                _TREE_FILE_HELP,
            )
        ]
    except FileNotFoundError:
        return None, [
            Diagnostic(
                "schema-not-found",
                ERROR,
                f"the {what} schema `{ref}` does not exist",
                span,
                f"looked for {path}",
            )
        ]
    except (OSError, UnicodeDecodeError) as e:
        why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or e
        return None, [
            Diagnostic(
                "invalid-schema", ERROR, f"the {what} schema `{ref}` cannot be read: {why}", span
            )
        ]
    except json.JSONDecodeError as e:
        return None, [
            Diagnostic(
                "invalid-schema",
                ERROR,
                f"the {what} schema `{ref}` is not valid JSON: {e.msg} at line {e.lineno}",
                span,
            )
        ]
    if not isinstance(schema, dict):
        return None, [
            Diagnostic(
                "invalid-schema", ERROR, f"the {what} schema `{ref}` is not a JSON object", span
            )
        ]
    # a schema that passed the meta-schema once is remembered by its content (jsonschema is then
    # not even imported)
    from ..dsl.cache import remember_valid_schema, schema_known_valid

    canonical = json.dumps(schema, sort_keys=True, ensure_ascii=False)
    if schema_known_valid(canonical, _SCHEMA_CHECKS):
        return schema, _pattern_warnings(path, text, ref, what, schema)
    try:
        from jsonschema.exceptions import SchemaError

        from .metaschema import check_schema

        check_schema(schema)  # the same answer as Draft202012Validator.check_schema, faster
    except SchemaError as e:
        where = "".join("/" + str(k).replace("~", "~0").replace("/", "~1") for k in e.path)
        problem = SchemaProblem(where, "invalid-schema", f"not a valid JSON Schema: {e.message}")
        return None, [_schema_diagnostic(path, text, ref, what, problem)]
    problems = schema_problems(schema)
    if not problems:
        try:
            # what clausewise can type and validate, reported here at its place in the file
            T.schema_type(schema, absent_is_null=what == "input")
        except T.SchemaError as e:
            problems = [SchemaProblem(e.pointer, "invalid-schema", f"cannot be used: {e.message}")]
    if problems:
        return None, [_schema_diagnostic(path, text, ref, what, p) for p in problems]
    remember_valid_schema(canonical, _SCHEMA_CHECKS)
    return schema, _pattern_warnings(path, text, ref, what, schema)


# strings a decimal `pattern` may let through that the decimal format refuses (a decimal input
# is digits with an optional fraction, negative only where the pattern allows `-`): a pattern
# that matches one of them promises inputs that are answered `invalid_format`
_NOT_DECIMALS = ("+1", "1e3", "1,5", ".5", "1.", "1 000", "1_000", "0x1F")


def _pattern_warnings(
    path: Path, text: str, ref: str, what: str, schema: dict[str, Any]
) -> list[Diagnostic]:
    """Warnings where a decimal's `pattern` and the decimal format disagree."""
    from .patterns import compile_pattern

    out = []
    for pointer, s in T.subschemas(schema):
        if not isinstance(s, dict) or s.get("format") not in ("decimal", "rate"):
            continue
        pattern = s.get("pattern")
        if not isinstance(pattern, str):
            continue
        try:
            matches = compile_pattern(pattern)
        except Exception:
            continue  # an unusable pattern is reported as such
        let_through = [x for x in _NOT_DECIMALS if matches(x)]
        if let_through:
            problem = SchemaProblem(
                f"{pointer}/pattern",
                "decimal-pattern-mismatch",
                f"the pattern accepts {', '.join(repr(x) for x in let_through)}, which the "
                f"`{s['format']}` format refuses (a decimal is digits with an optional fraction "
                "and a `-` where the pattern allows one)",
            )
            out.append(_schema_diagnostic(path, text, ref, what, problem))
    return out


# the checks a schema remembered as valid has passed: the JSON Schema meta-schema, what
# `schema_problems` finds, and typing (a new check gets a new name, so earlier answers are not
# reused)
_SCHEMA_CHECKS = "draft2020-12+safety3"


def _schema_diagnostic(path: Path, text: str, ref: str, what: str, p: SchemaProblem) -> Diagnostic:
    """A problem of a schema, reported at its place in the schema file."""
    where = locate(text, p.pointer)
    line, col = where if where is not None else (1, 1)
    start = sum(len(ln) + 1 for ln in text.split("\n")[: line - 1]) + col - 1
    try:  # the whole value is underlined
        end = json.JSONDecoder().raw_decode(text, start)[1]
    except ValueError:
        end = start + 1
    end_line = line + text.count("\n", start, end)
    end_col = end - (text.rfind("\n", 0, end) + 1) + 1
    span = Span(Source(str(path), text), line, col, end_line, end_col, start, end)
    return Diagnostic(
        p.code,
        severity(p.code),
        f"the {what} schema `{ref}` at {p.pointer or '/'}: {p.message}",
        span,
    )


_TREE_FILE_HELP = (
    f"a policy reads only regular files of at most {MAX_FILE_BYTES} bytes inside its policies "
    "folder, named by paths relative to the file"
)


def _module_loader(root: Path) -> ModuleLoader:
    """Reads the modules imported by the policies under `root`: only files inside it."""

    def load(importer: str, rel: str) -> tuple[str, A.PolicyFile]:
        path = resolve_in_tree(root, Path(importer).parent, rel)
        # the cycle key: the file itself, however the imports spelled their way to it
        return os.path.realpath(path), parse_file(path)

    return load


def check_file(path: Path, root: Path | None = None) -> tuple[Program | None, list[Diagnostic]]:
    """Parse and check one policy file: the typed program (None on errors) and all diagnostics.

    `root` is the policies root the file was found under; imports and schemas must lie inside
    it. Without one (a file checked on its own) it is inferred from the policy's id
    (`treefiles.policies_root_of`)."""
    try:
        if root is not None:
            check_in_tree(root, path)  # a policy file found under the root may be a symlink
        tree = parse_file(path)
    except PolicyError as e:
        return None, e.diagnostics
    except TreeFileError as e:
        span = Span(Source(str(path), ""), 1, 1, 1, 1)
        message = f"cannot read {path}: {e.strerror}"
        return None, [Diagnostic(e.code, ERROR, message, span, _TREE_FILE_HELP)]
    except (OSError, UnicodeDecodeError) as e:
        span = Span(Source(str(path), ""), 1, 1, 1, 1)
        why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or e
        return None, [Diagnostic("unreadable", ERROR, f"cannot read {path}: {why}", span)]
    if tree.header.kind == "module":
        # a module is checked through the policies that import it
        return None, []
    diags: list[Diagnostic] = []
    hdr = tree.header
    tree_root = root if root is not None else policies_root_of(path, hdr.id)
    ins, d1 = load_schema(path, hdr.input_schema, hdr.span, "input", tree_root)
    outs, d2 = load_schema(path, hdr.output_schema, hdr.span, "output", tree_root)
    diags += d1 + d2
    if root is not None:
        diags += _layout_diagnostics(path, root, hdr)
    from ..dsl.terms import check_citations

    diags += check_citations(tree, path, parse_file)
    result = check_policy(tree, str(path), ins, outs, _module_loader(tree_root))
    diags += result.diagnostics
    if result.program is None or any(d.severity == ERROR for d in diags):
        return None, sorted(diags, key=Diagnostic.sort_key)
    return result.program, sorted(diags, key=Diagnostic.sort_key)


def _layout_diagnostics(path: Path, root: Path, hdr: A.Header) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    try:
        rel = path.resolve().parent.relative_to(root.resolve()).as_posix()
    except ValueError:
        return out
    if rel != hdr.id:
        out.append(
            Diagnostic(
                "policy-id-mismatch",
                ERROR,
                f"the policy id `{hdr.id}` does not match its folder `{rel}`",
                hdr.span,
                f"a policy lives in `<root>/<policy id>/<version>{EXTENSION}`",
            )
        )
    if hdr.version and path.stem != hdr.version:
        out.append(
            Diagnostic(
                "version-mismatch",
                ERROR,
                f"the header says version {hdr.version} but the file is `{path.name}`",
                hdr.span,
                f"name the file `{hdr.version}{EXTENSION}`",
            )
        )
    return out


class PolicyStore:
    """Every version of every policy under a root folder, checked and compiled."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        self.policies: dict[str, dict[str, LoadedPolicy]] = {}
        self.diagnostics: list[Diagnostic] = []
        # the policy files that did not check, with their diagnostics (a lenient load keeps
        # the others usable)
        self.failed: dict[Path, list[Diagnostic]] = {}
        # the version in force now, and the instant until which it stays so
        self._latest: dict[str, tuple[LoadedPolicy, dt.datetime]] = {}

    @classmethod
    def load(
        cls, root: str | Path, strict: bool = True, compile: bool = True, jobs: int | None = 1
    ) -> PolicyStore:
        """Load every policy under `root`; raise `PolicyError` with all diagnostics on errors.

        With `compile=False` (to check the policies, not to evaluate them) each policy is only
        compiled if and when it is first evaluated. `jobs` > 1 (None: one per CPU) checks
        the files in that many worker processes when there are enough of them; with
        `compile=False` as well, the store is then for its diagnostics only (the workers send
        back each policy's header, not its program, and `compiled` raises).
        """
        store = cls(root)
        if not store.root.is_dir():
            raise FileNotFoundError(f"policy folder not found: {store.root}")
        paths = sorted(store.root.rglob(f"*{EXTENSION}"))
        for path, program, diags in check_files(
            check_file, paths, store.root, jobs, slim=not compile
        ):
            store.diagnostics += diags
            if program is None:
                if any(d.severity == ERROR for d in diags):
                    store.failed[path] = diags
                continue
            hdr = program.header
            lp = LoadedPolicy(
                hdr.id,
                hdr.version or "0.0.0",
                path,
                compile_program(program) if compile else program,
                [d for d in diags if d.severity == WARNING],
            )
            versions = store.policies.setdefault(hdr.id, {})
            if lp.version in versions:
                store.diagnostics.append(
                    Diagnostic(
                        "duplicate-version",
                        ERROR,
                        f"{hdr.id} {lp.version} is defined twice",
                        hdr.span,
                        f"also in {versions[lp.version].path}",
                    )
                )
            versions[lp.version] = lp
        store.diagnostics += store.period_diagnostics()
        # released versions are immutable: compare them with their locked digests
        store.diagnostics += lock_diagnostics(
            store.root,
            {
                pid: {v: lp.program.header.span for v, lp in vs.items()}
                for pid, vs in store.policies.items()
            },
        )
        # a module is read on its own and by every policy importing it: report each finding once
        store.diagnostics = list(dict.fromkeys(store.diagnostics))
        errors = [d for d in store.diagnostics if d.severity == ERROR]
        if errors and strict:
            raise PolicyError(errors)
        return store

    def period_diagnostics(self) -> list[Diagnostic]:
        """Effective periods of one policy's versions: overlaps are errors, gaps warnings.

        A period open at its end lasts until the next version's period starts: a new version
        is staged by giving it `effective from` a later instant, leaving the released one as
        it is."""
        out: list[Diagnostic] = []
        for pid, versions in self.policies.items():
            dated = [
                (lp.effective_range(), lp)
                for lp in versions.values()
                if lp.program.header.effective
            ]
            dated.sort(key=lambda x: x[0][0] or dt.datetime.min.replace(tzinfo=dt.UTC))
            for (r1, a), (r2, b) in itertools.pairwise(dated):
                end1, start2 = r1[1], r2[0]
                eff = b.program.header.effective
                span = eff.span if eff else b.program.header.span
                if start2 is None:
                    out.append(
                        Diagnostic(
                            "effective-overlap",
                            ERROR,
                            f"{pid} {a.version} and {b.version} are both in force from the open "
                            "start (neither period has a `from`)",
                            span,
                            f"give {b.version} `effective from` the instant it takes over",
                        )
                    )
                elif end1 is not None and start2 < end1:
                    out.append(
                        Diagnostic(
                            "effective-overlap",
                            ERROR,
                            f"{pid} {b.version} is in force from {_fmt(start2)}, before "
                            f"{a.version} ends ({_fmt(end1)})",
                            span,
                            f"start {b.version} where {a.version} ends (`effective from` "
                            f"{_fmt(end1)}); a released version is not edited, so move the "
                            "new version's `from`, or drop the earlier version's `until` so "
                            "that it lasts until the next one starts",
                        )
                    )
                elif end1 is not None and start2 > end1:
                    out.append(
                        Diagnostic(
                            "effective-gap",
                            WARNING,
                            f"no version of {pid} is in force from {_fmt(end1)} to {_fmt(start2)}",
                            span,
                            None,
                        )
                    )
        return out

    def errors_of(self, policy_id: str) -> list[Diagnostic]:
        """The errors that keep some version of `policy_id` from being used: those of its files
        that did not check (wherever they point, e.g. into an imported module) and those
        located in its folder (overlapping periods, duplicate versions, ...)."""
        folder = (self.root / policy_id).resolve()
        found = [
            d
            for path, diags in self.failed.items()
            if path.resolve().parent == folder
            for d in diags
        ]
        found += [
            d
            for d in self.diagnostics
            if d.severity == ERROR and Path(d.span.path).resolve().parent == folder
        ]
        return [d for d in dict.fromkeys(found) if d.severity == ERROR]

    def ids(self) -> list[str]:
        return sorted(self.policies)

    def get(
        self,
        policy_id: str,
        version: str | None = None,
        at: dt.datetime | str | None = None,
    ) -> LoadedPolicy:
        """A policy by exact `version`, or the version in force at the instant `at` (an aware
        datetime or an RFC 3339 string); with neither, the version in force now.

        Raises `UnknownPolicyError` (a `KeyError`) when there is no such policy or version, or
        none is in force then; `TypeError`/`ValueError` when `at` is not an instant."""
        if version is None and at is None:
            return self.in_force_now(policy_id)[0]
        versions = self._versions(policy_id)
        if version is not None:
            if version not in versions:
                raise UnknownPolicyError(
                    f"{policy_id} has no version {version} (it has "
                    f"{', '.join(sorted(versions, key=version_key))})"
                )
            return versions[version]
        return self._in_force(policy_id, instant(at), None)[0]

    def in_force_now(self, policy_id: str) -> tuple[LoadedPolicy, dt.datetime]:
        """The version in force now, and the instant until which it stays the one in force."""
        now = dt.datetime.now(dt.UTC)
        cached = self._latest.get(policy_id)
        if cached is not None and cached[1] > now:
            return cached
        found = self._latest[policy_id] = self._in_force(policy_id, now, "now")
        return found

    def _versions(self, policy_id: str) -> dict[str, LoadedPolicy]:
        versions = self.policies.get(policy_id)
        if not versions:
            from ..dsl.diagnostics import did_you_mean

            hint = did_you_mean(policy_id, self.policies)
            raise UnknownPolicyError(
                f"unknown policy `{policy_id}`" + (f": {hint}" if hint else "")
            )
        return versions

    def _in_force(
        self, policy_id: str, at: dt.datetime, label: str | None
    ) -> tuple[LoadedPolicy, dt.datetime]:
        """The newest version in force at `at`, and the next instant at which that may change."""
        versions = self._versions(policy_id)
        in_force = []
        next_change = dt.datetime.max.replace(tzinfo=dt.UTC)
        for lp in versions.values():
            start, until = lp.effective_range()
            if (start is None or start <= at) and (until is None or at < until):
                in_force.append(lp)
            for edge in (start, until):
                if edge is not None and at < edge < next_change:
                    next_change = edge
        if not in_force:
            when = label or at.isoformat().replace("+00:00", "Z")
            periods = "; ".join(
                f"{lp.version} from {_fmt(s)} until {_fmt(u, 'open')}"
                for lp in sorted(versions.values(), key=lambda v: version_key(v.version))
                for s, u in [lp.effective_range()]
            )
            raise UnknownPolicyError(
                f"no version of {policy_id} is in force {'at ' if label is None else ''}{when} "
                f"({periods}); name a `version` or an instant `at`"
            )
        # a period open at its end lasts until a later one starts: the latest start decides
        return max(in_force, key=_takes_over), next_change


def _takes_over(lp: LoadedPolicy) -> tuple[Any, ...]:
    start = lp.effective_range()[0] or dt.datetime.min.replace(tzinfo=dt.UTC)
    return (start, version_key(lp.version))


class UnknownPolicyError(KeyError):
    """No policy, or no version of it, answers the lookup. The message is plain text."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def instant(at: dt.datetime | str | None) -> dt.datetime:
    """An aware datetime from an aware datetime or an RFC 3339 string (e.g. `2026-01-01T00:00:00Z`)."""
    if isinstance(at, str):
        try:
            parsed = parse_datetime(at, "optional")
        except ValueError:
            raise ValueError(
                f"`at` must be an RFC 3339 instant such as 2026-01-01T00:00:00Z, not {at!r}"
            ) from None
        at = parsed
    if not isinstance(at, dt.datetime):
        raise TypeError(
            f"`at` must be an aware datetime or an RFC 3339 string, not {type(at).__name__}"
        )
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("`at` needs a time zone (an aware datetime, or Z/+HH:MM in the string)")
    return at.astimezone(dt.UTC)


def _fmt(t: dt.datetime | None, open_as: str = "the open start") -> str:
    return open_as if t is None else t.isoformat().replace("+00:00", "Z")
