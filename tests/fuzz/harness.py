"""The fuzzer: grammar-aware and mutation fuzzing of parse, check, fmt, compile and evaluate, and
the differential property (the compiled engine agrees with the reference interpreter).

Targets, and what each one holds to:

- `parse`: any text (mutated policies) parses or raises `PolicySyntaxError` located inside it;
- `fmt`: a text that parses formats to text with the same AST, and formatting is idempotent;
- `check`: a mutated policy beside mutated schemas checks or is reported with diagnostics
  (`check_file`, as `clausewise check` runs it);
- `evaluate`: a policy that checks compiles, and every input (drawn from its input schema, some
  of it mutated) gives an output or a `DecisionError` (`InputError`, `EvaluationError`, ...),
  the same at every trace level;
- `differential`: a generated policy and many generated inputs: the compiled engine and the
  reference interpreter give the same output or the same error.

Anything else (another exception, a mismatch, a step that runs longer than `STEP_SECONDS`) is a
failure. Each failure is written to the regression folder as one YAML file, named by its
signature (target, exception class, where it was raised), once; `tests/test_fuzz.py` replays
every file there.

Run it with `make fuzz` (FUZZ_SECONDS, default 600) or
`python -m tests.fuzz --seconds 60 [--target differential] [--seed 1]`.
"""

from __future__ import annotations

import atexit
import copy
import functools
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from clausewise import DecisionError, PolicyError, PolicySyntaxError
from clausewise.dsl.formatter import format_source
from clausewise.dsl.parser import parse
from clausewise.dsl.typed import Program
from clausewise.engine.compiler import LEVELS, compile_program
from clausewise.engine.store import check_file
from tests.conformance_cases import conformance_checks
from tests.generators import policies as G
from tests.oracles.interpreter import Interpreter, outcome

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).resolve().parent / "regressions"
TARGETS = ("parse", "fmt", "check", "evaluate", "differential")
# share of the run's time each target gets (the differential property most)
WEIGHTS = {"parse": 1, "fmt": 1, "check": 2, "evaluate": 2, "differential": 6}
STEP_SECONDS = 20.0  # one policy with its inputs; longer is a failure (a hang)
INPUTS_PER_POLICY = 100  # generated inputs evaluated against each generated policy
PROJECT_DIRS = ("clausewise", "tests")
INTERNAL = "internal_error"  # the code of an unforeseen exception in generated code: a failure


class StepTimeout(BaseException):
    """A step ran past `STEP_SECONDS` (a BaseException: no `except Exception` swallows it)."""


class Found(Exception):
    """A failure of a target on one payload: what went wrong and where."""

    def __init__(self, kind: str, where: str, message: str):
        super().__init__(f"{kind} at {where}: {message}")
        self.failing_input: list[Any] | None = None  # the one input that fails, when known
        self.kind = kind
        self.where = where
        self.message = message


@dataclass
class Payload:
    """What a target runs on: a policy text, its schemas and its inputs (as JSON)."""

    target: str
    policy: str
    input_schema: Any = field(default_factory=dict)
    output_schema: Any = field(default_factory=dict)
    inputs: list[Any] = field(default_factory=list)
    program: Program | None = None  # checked already (generated policies); not saved

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "policy": self.policy,
            "input_schema": self.input_schema,
            "output_schema": self.output_schema,
            "inputs": self.inputs,
        }

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Payload:
        return Payload(
            d["target"],
            d["policy"],
            d.get("input_schema", {}),
            d.get("output_schema", {}),
            list(d.get("inputs", [])),
        )


# ---- where an exception comes from ---------------------------------------------------------


def _where(exc: BaseException) -> str:
    """The innermost frame of the project's own code an exception passed through."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if fr.filename.startswith("<clausewise"):
            # generated code: one policy's line numbers say little; the kind of error says more
            what = re.sub(r"'[^']*'|\d+", "_", str(exc).split("\n")[0])[:60]
            return f"generated code:{what}"
        rel = _relative(fr.filename)
        if rel is not None and not rel.startswith("tests/fuzz/"):
            return f"{rel}:{fr.name}"
    return "?"


def _relative(filename: str) -> str | None:
    try:
        rel = Path(filename).resolve().relative_to(ROOT).as_posix()
    except ValueError:
        return None
    return rel if rel.split("/")[0] in PROJECT_DIRS else None


def _unexpected(exc: BaseException) -> Found:
    if isinstance(exc, StepTimeout):
        return Found("timeout", "?", f"a step ran longer than {STEP_SECONDS} s")
    text = f"{type(exc).__name__}: {exc}"
    return Found(type(exc).__name__, _where(exc), text[:500])


# ---- the targets ---------------------------------------------------------------------------


def run_parse(p: Payload) -> int:
    text = p.policy
    try:
        parse(text)
    except PolicySyntaxError as e:
        lines = text.split("\n")
        if not e.diagnostics:
            raise Found("unlocated", "clausewise/dsl/parser.py", "no diagnostic") from None
        for d in e.diagnostics:
            if not (1 <= d.span.line <= len(lines)) or not (
                1 <= d.span.col <= len(lines[d.span.line - 1]) + 1
            ):
                where = f"{d.code} at {d.span.line}:{d.span.col}"
                raise Found("unlocated", "clausewise/dsl/parser.py", where) from None
    return 1


def run_fmt(p: Payload) -> int:
    try:
        tree = parse(p.policy)
    except PolicySyntaxError:
        return 1
    formatted = format_source(p.policy)
    if parse(formatted) != tree:
        raise Found("meaning-changed", "clausewise/dsl/formatter.py", formatted[:300])
    again = format_source(formatted)
    if again != formatted:
        raise Found("not-idempotent", "clausewise/dsl/formatter.py", again[:300])
    return 1


_WORK = Path(tempfile.mkdtemp(prefix="clausewise-fuzz-"))
atexit.register(shutil.rmtree, _WORK, ignore_errors=True)


def checked(p: Payload) -> Program | None:
    """The payload's policy checked as `clausewise check` does, from files beside each other."""
    folder = _WORK / "t" / "p"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "1.0.0.cw"
    path.write_text(p.policy, encoding="utf-8")
    for name, schema in (("input", p.input_schema), ("output", p.output_schema)):
        text = schema if isinstance(schema, str) else json.dumps(schema)
        (folder / f"{name}.schema.json").write_text(text, encoding="utf-8")
    prog, _diags = check_file(path)
    return prog


def run_check(p: Payload) -> int:
    checked(p)
    return 1


def run_evaluate(p: Payload) -> int:
    prog = checked(p)
    if prog is None:
        return 0
    compiled = compile_program(prog)
    for data in p.inputs:
        with _failing_input(data):
            _evaluate_one(compiled, data)
    return len(p.inputs)


def _evaluate_one(compiled: Any, data: Any) -> None:
    results = {}
    for level in LEVELS:
        try:
            results[level] = ("ok", compiled.run(data, level)[0])
        except DecisionError as e:
            if e.code == INTERNAL:
                raise _unexpected(e) from e
            # the error the same at every level: its code, its input path, its place
            results[level] = ("error", type(e).__name__, e.code, e.path, getattr(e, "location", ""))
    # (as JSON text without sorting keys: a map's keys from an untyped field may be of mixed
    # types, which do not sort)
    if len({json.dumps(r, default=str) for r in results.values()}) > 1:
        # the outcome at each level in the signature: a disagreement between input errors and
        # one between outputs are different faults
        shape = "/".join("ok" if r[0] == "ok" else str(r[2]) for r in results.values())
        raise Found(
            "trace-level-changes-output", f"clausewise/engine/compiler.py [{shape}]", str(results)
        )


def differential_program(p: Payload) -> Program | None:
    prog, _diags = G.load_text(p.policy, p.input_schema, p.output_schema)
    return prog


def run_differential(p: Payload) -> int:
    prog = p.program if p.program is not None else differential_program(p)
    if prog is None:
        return 0
    compiled = compile_program(prog)
    interp = Interpreter(prog)
    for data in p.inputs:
        with _failing_input(data):
            _compare_one(compiled, interp, data)
    return len(p.inputs)


def _compare_one(compiled: Any, interp: Interpreter, data: Any) -> None:
    expected = outcome(functools.partial(interp.run, data))
    actual = outcome(lambda: compiled.run(data, "off")[0])
    for who, o in (("engine", actual), ("interpreter", expected)):
        if o[0] == "error" and o[1][1] in (None, INTERNAL):
            # an internal error: run it again to see where it is raised
            try:
                (compiled.run(data, "off") if who == "engine" else interp.run(data))
            except Exception as e:
                raise _unexpected(e) from e
    if G.error_key(actual) != G.error_key(expected):
        message = f"input {json.dumps(data)}\nengine:      {actual!r}\ninterpreter: {expected!r}"
        raise Found("mismatch", _mismatch_where(actual, expected), message)


class _failing_input:
    """Turns any failure while one input is evaluated into a `Found` that names the input."""

    def __init__(self, data: Any):
        self.data = data

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None or isinstance(exc, StepTimeout):
            return False
        found = exc if isinstance(exc, Found) else _unexpected(exc)
        found.failing_input = [self.data]
        if found is exc:
            return False
        raise found from exc


def _mismatch_where(actual: Any, expected: Any) -> str:
    """A coarse signature of a mismatch, so that one kind of disagreement is saved once."""

    def shape(o: Any) -> str:
        return o[0] if o[0] == "ok" else f"{o[1][0]}/{o[1][1]}"

    return f"engine {shape(actual)} vs interpreter {shape(expected)}"


RUNNERS: dict[str, Callable[[Payload], int]] = {
    "parse": run_parse,
    "fmt": run_fmt,
    "check": run_check,
    "evaluate": run_evaluate,
    "differential": run_differential,
}


def run_payload(p: Payload, seconds: float = STEP_SECONDS) -> int:
    """Run one payload against its target: the number of inputs tried; `Found` on a failure."""
    with _time_limit(seconds):
        try:
            return RUNNERS[p.target](p)
        except Found:
            raise
        except StepTimeout as e:
            raise _unexpected(e) from None
        except (PolicyError, DecisionError) as e:
            if p.target in ("fmt", "evaluate", "differential") and isinstance(e, PolicyError):
                # the formatter on text that parses, or a policy that checked, failing to load
                raise _unexpected(e) from e
            if p.target in ("evaluate", "differential"):
                raise _unexpected(e) from e  # decision errors are caught per input
            return 1
        except RecursionError as e:
            raise _unexpected(e) from e
        except Exception as e:
            raise _unexpected(e) from e


class _time_limit:
    def __init__(self, seconds: float):
        self.seconds = seconds

    def __enter__(self) -> None:
        if hasattr(signal, "setitimer"):
            signal.signal(signal.SIGALRM, _on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: Any) -> None:
        if hasattr(signal, "setitimer"):
            signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum: int, frame: Any) -> None:
    raise StepTimeout()


# ---- the corpus mutated ----------------------------------------------------------------------


@dataclass
class Seed:
    """A policy from the repository, with its schemas (the mutation fuzzer's starting points)."""

    name: str
    policy: str
    input_schema: Any
    output_schema: Any


@functools.cache
def corpus() -> list[Seed]:
    """The shipped and benchmark policies, the conformance cases, and a sample of the grammar."""
    seeds: list[Seed] = []
    for folder in (ROOT / "policies", ROOT / "bench" / "policies"):
        for path in sorted(folder.rglob("*.cw")):
            schemas = []
            for name in ("input", "output"):
                f = path.parent / f"{name}.schema.json"
                schemas.append(json.loads(f.read_text()) if f.is_file() else {})
            seeds.append(Seed(str(path.relative_to(ROOT)), path.read_text(), *schemas))
    for check in conformance_checks():  # the policy texts with their headers
        case = check.case
        ins, outs = case.get("input_schema") or {}, case.get("output_schema") or {}
        if isinstance(ins, dict) and isinstance(outs, dict):
            seeds.append(Seed(f"tests/cases/{check.id}", case["policy"], ins, outs))
    seeds.append(Seed("sample", G.SAMPLE_POLICY, {}, {}))
    return seeds


_TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|\d[\d.:T+-]*\w*|\w+|\.\.<|\.\.|\?\?|[=!<>]=|=>|\S')
EDGE_LITERALS = [
    "0",
    "-1",
    "1" + "0" * 30,
    "9" * 400,
    "0.000000000000000000000001",
    "1e5",
    "999999999",
    "-999999999",
    "1000000000000 days",
    "99999999 months",
    "-99999999 months",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00Z",
    "9999-12-31T23:59:59Z",
    "2024-02-29",
    "0 USD",
    "1" + "0" * 40 + " USD",
    "100%",
    "[]",
    "null",
    '""',
    '"' + "a" * 300 + '"',
]


@functools.cache
def checking_seeds() -> list[Seed]:
    """The seeds whose policy checks as it is (the evaluate target's starting points)."""
    out = []
    for s in corpus():
        try:
            if checked(Payload("check", s.policy, s.input_schema, s.output_schema)) is not None:
                out.append(s)
        except Exception:  # a seed the checker crashes on: the check target reports it
            continue
    return out


_LITERAL = re.compile(
    r"\b\d[\d.:T+-]*(?:\s*(?:days?|weeks?|months?|hours?|minutes?|seconds?|%))?|\b[A-Z]{3}\b"
)


def mutate_literals(r: random.Random, text: str) -> str:
    """The text with one or two literals (numbers, dates, amounts) changed to edge values."""
    for _ in range(r.randint(1, 2)):
        found = list(_LITERAL.finditer(text))
        if not found:
            break
        m = r.choice(found)
        text = text[: m.start()] + r.choice(EDGE_LITERALS) + text[m.end() :]
    return text


def mutate_text(r: random.Random, text: str) -> str:
    """A few byte, token and literal mutations of a policy's text."""
    for _ in range(r.randint(1, 4)):
        how = r.choice(
            ["delete", "insert", "token", "token", "swap", "literal", "literal", "duplicate", "cut"]
        )
        n = len(text)
        i = r.randint(0, n)
        if how == "delete":
            text = text[:i] + text[min(n, i + r.randint(1, 12)) :]
        elif how == "insert":
            token = r.choice(G.TOKENS) if r.random() < 0.8 else chr(r.randint(0, 0x2FF))
            text = text[:i] + token + text[i:]
        elif how == "cut":
            text = text[:i]
        elif how == "duplicate":
            j = min(n, i + r.randint(1, 40))
            text = text[:j] + text[i:j] + text[j:]
        else:
            tokens = list(_TOKEN.finditer(text))
            if not tokens:
                continue
            m = r.choice(tokens)
            if how == "token":
                new = r.choice(tokens).group(0) if r.random() < 0.5 else r.choice(G.TOKENS)
            elif how == "literal":
                new = r.choice(EDGE_LITERALS)
            else:  # swap with another token
                other = r.choice(tokens)
                if other.start() < m.start():
                    m, other = other, m
                a, b = m.group(0), other.group(0)
                text = (
                    text[: m.start()] + b + text[m.end() : other.start()] + a + text[other.end() :]
                )
                continue
            text = text[: m.start()] + new + text[m.end() :]
    return text


SCHEMA_EDITS: list[tuple[str, Any]] = [
    ("minimum", 10**30),
    ("maximum", -1),
    ("maximum", 1.5),
    ("exclusiveMinimum", 0),
    ("maxLength", 0),
    ("minLength", 3),
    ("pattern", "^(a+)+$"),
    ("pattern", "["),
    ("pattern", "^[A-Z]{2}$"),
    ("enum", []),
    ("enum", ["a", 1, None]),
    ("const", "x"),
    ("format", "date"),
    ("format", "money"),
    ("format", "rate"),
    ("format", "nonsense"),
    ("type", "null"),
    ("type", ["integer", "string"]),
    ("type", "number"),
    ("type", 7),
    ("items", False),
    ("items", {"type": "integer"}),
    ("required", ["nope"]),
    ("additionalProperties", False),
    ("additionalProperties", {"type": "integer"}),
    ("$ref", "#/$defs/missing"),
    ("$ref", "#/properties"),
    ("anyOf", [{"type": "null"}]),
    ("minItems", 2),
    ("maxItems", 0),
]


def _nodes(schema: Any, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(schema, dict):
        out.append(schema)
        for v in schema.values():
            _nodes(v, out)
    elif isinstance(schema, list):
        for v in schema:
            _nodes(v, out)
    return out


def mutate_schema(r: random.Random, schema: Any) -> Any:
    """The schema with a few keywords changed, added or removed (or its JSON text garbled)."""
    if r.random() < 0.05:
        return mutate_text(r, json.dumps(schema, indent=1))
    schema = copy.deepcopy(schema)
    for _ in range(r.randint(1, 3)):
        nodes = _nodes(schema, [])
        if not nodes:
            return schema
        node = r.choice(nodes)
        if node and r.random() < 0.3:
            del node[r.choice(list(node))]
        else:
            key, value = r.choice(SCHEMA_EDITS)
            node[key] = copy.deepcopy(value)
    return schema


INPUT_EDGES: list[Any] = [
    None,
    True,
    0,
    -1,
    2**63,
    10**40,
    1.5,
    "",
    "x",
    "0001-01-01",
    "9999-12-31",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "2024-02-30",
    "1" * 60,
    "0." + "0" * 60 + "1",
    "1e5",
    "-1",
    [],
    {},
    {"amount": "1" * 40, "currency": "USD"},
    {"amount": "1", "currency": "XXX"},
]


def mutate_input(r: random.Random, value: Any, depth: int = 0) -> Any:
    """A valid input with one place changed to an edge value, or a key dropped or added."""
    if isinstance(value, dict) and value and r.random() < 0.7 and depth < 6:
        value = dict(value)
        key = r.choice(list(value))
        roll = r.random()
        if roll < 0.1:
            del value[key]
        elif roll < 0.15:
            value["extra"] = r.choice(INPUT_EDGES)
        else:
            value[key] = mutate_input(r, value[key], depth + 1)
        return value
    if isinstance(value, list) and value and r.random() < 0.7 and depth < 6:
        value = list(value)
        i = r.randrange(len(value))
        value[i] = mutate_input(r, value[i], depth + 1)
        return value
    return copy.deepcopy(r.choice(INPUT_EDGES))


def inputs_for(r: random.Random, schema: Any, n: int) -> list[Any]:
    """`n` inputs for a schema: most valid, some with one place mutated."""
    out = []
    for _ in range(n):
        try:
            value = G.random_json(r, schema, schema if isinstance(schema, dict) else {})
        except Exception:  # a mutated schema the generator cannot follow
            value = {}
        out.append(mutate_input(r, value) if r.random() < 0.3 else value)
    return out


# ---- payloads per target ---------------------------------------------------------------------


def make_payload(target: str, r: random.Random) -> Payload:
    """A payload for a target, drawn from `r`."""
    seeds = corpus()
    if target in ("parse", "fmt"):
        source = r.choice(seeds).policy if r.random() < 0.8 else _generated_text(r)
        return Payload(target, mutate_text(r, source) if r.random() < 0.9 else source)
    if target == "check":
        s = r.choice(seeds)
        text = mutate_text(r, s.policy) if r.random() < 0.7 else s.policy
        ins = mutate_schema(r, s.input_schema) if r.random() < 0.5 else s.input_schema
        outs = mutate_schema(r, s.output_schema) if r.random() < 0.3 else s.output_schema
        return Payload(target, text, ins, outs)
    if target == "evaluate":
        s = r.choice(checking_seeds())
        text = mutate_literals(r, s.policy) if r.random() < 0.3 else s.policy
        ins = mutate_schema(r, s.input_schema) if r.random() < 0.2 else s.input_schema
        p = Payload(target, text, ins, s.output_schema)
        try:
            p.inputs = inputs_for(r, ins, 8)
        except Exception as e:  # reading the schema failed: the check will say why (or crash)
            p.inputs = [{}]
            del e
        return p
    return _generated_payload(r)


def _generated_payload(r: random.Random) -> Payload:
    """A generated policy, checked (the output schema follows its types when the case says so),
    with `INPUTS_PER_POLICY` inputs; a generated policy that does not check is drawn again."""
    for _ in range(20):
        case = G.random_case(r, INPUTS_PER_POLICY)
        ins = G.input_schema(case.fields)
        outs: dict[str, Any] = {}
        try:
            prog, _ = G.load_text(case.text, ins, outs)
            if prog is not None and case.typed_output:
                outs = G.typed_output_schema(prog, case.rate) or {}
                typed, _ = G.load_text(case.text, ins, outs)
                prog, outs = (typed, outs) if typed is not None else (prog, {})
        except Exception:  # the checker crashed: the payload reports it when it runs
            return Payload("differential", case.text, ins, outs, case.inputs)
        if prog is not None:
            return Payload("differential", case.text, ins, outs, case.inputs, prog)
    return Payload("differential", G.SAMPLE_POLICY)


def _generated_text(r: random.Random) -> str:
    return G.random_case(r, 0).text


# ---- running ---------------------------------------------------------------------------------


@dataclass
class Stats:
    tried: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0))
    steps: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0))
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0.0))
    failures: list[tuple[Found, Payload, Path | None]] = field(default_factory=list)


def signature(p: Payload, f: Found) -> str:
    return f"{p.target}|{f.kind}|{f.where}"


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (a schema shared by two fields is written twice)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def save(p: Payload, f: Found, folder: Path) -> Path:
    """Write the failure as a regression case (once per signature; a shorter one replaces it)."""
    sig = signature(p, f)
    digest = hashlib.sha1(sig.encode()).hexdigest()[:10]
    kind = re.sub(r"[^A-Za-z0-9]+", "-", f.kind).strip("-").lower()
    n = 1
    path = folder / f"{p.target}-{kind}-{digest}.yaml"
    while path.exists():
        old = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not _replays(old):
            # a case saved for a failure fixed since: this one is another, saved beside it
            n += 1
            path = folder / f"{p.target}-{kind}-{digest}-{n}.yaml"
            continue
        if len(json.dumps(old.get("inputs"), default=str)) + len(str(old.get("policy", ""))) <= len(
            json.dumps(f.failing_input or p.inputs, default=str)
        ) + len(p.policy):
            return path
        break
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"signature": sig, "message": f.message, **p.as_dict()}
    if f.failing_input is not None:  # the input that fails is enough to replay it
        doc["inputs"] = f.failing_input
    text = yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True)
    path.write_text(text, encoding="utf-8")
    return path


def _replays(doc: dict[str, Any]) -> bool:
    """Whether a saved case still fails as it did."""
    try:
        run_payload(Payload.from_dict(doc))
    except Found as again:
        return signature(Payload(str(doc.get("target")), ""), again) == doc.get("signature")
    except Exception:
        return True
    return False


def fuzz(
    seconds: float | None = None,
    steps: dict[str, int] | None = None,
    seed: int = 0,
    targets: tuple[str, ...] = TARGETS,
    save_to: Path | None = REGRESSIONS,
    known: set[str] = frozenset(),  # type: ignore[assignment]
    progress: Callable[[Stats], None] | None = None,
) -> Stats:
    """Fuzz for `seconds` (shared by the targets by `WEIGHTS`) or for a number of `steps` per
    target. Every failure is saved (`save`: a shorter case replaces a saved one that still
    fails; beside a saved case that passes now); `known` only marks kinds saved before."""
    stats = Stats()
    rngs = {t: random.Random(f"{seed}/{t}") for t in targets}
    corpus()
    if "evaluate" in targets:
        checking_seeds()
    start = time.monotonic()
    last_report = start
    total_w = sum(WEIGHTS[t] for t in targets)
    seen: set[str] = set()
    while True:
        now = time.monotonic()
        if seconds is not None:
            if now - start >= seconds:
                break
            # the target furthest behind its share of the time goes next
            target = min(targets, key=lambda t: stats.seconds[t] * total_w / WEIGHTS[t])
        else:
            left = [t for t in targets if stats.steps[t] < (steps or {}).get(t, 0)]
            if not left:
                break
            target = left[0]
        t0 = time.monotonic()
        p = Payload(target, "")
        try:
            with _time_limit(STEP_SECONDS):
                p = make_payload(target, rngs[target])
            stats.tried[target] += run_payload(p)
        except (Found, StepTimeout, Exception) as e:
            f = e if isinstance(e, Found) else _unexpected(e)
            stats.tried[target] += max(1, len(p.inputs))
            sig = signature(p, f)
            path = None
            if save_to is not None and p.policy:
                # a kind saved before is saved again when its saved case passes now (a new
                # instance of a fixed kind is a new failure: saved beside the old case)
                path = save(p, f, save_to)
            if sig not in seen:
                seen.add(sig)
                stats.failures.append((f, p, path))
        stats.steps[target] += 1
        stats.seconds[target] += time.monotonic() - t0
        if progress is not None and time.monotonic() - last_report > 30:
            last_report = time.monotonic()
            progress(stats)
    return stats


def report(stats: Stats, known: set[str], out: Any = sys.stdout) -> None:
    print(f"{'target':<14}{'inputs tried':>14}{'steps':>9}{'seconds':>9}{'per hour':>12}", file=out)
    for t in TARGETS:
        if stats.steps[t]:
            rate = stats.tried[t] / stats.seconds[t] * 3600 if stats.seconds[t] else 0
            print(
                f"{t:<14}{stats.tried[t]:>14}{stats.steps[t]:>9}"
                f"{stats.seconds[t]:>9.0f}{rate:>12.0f}",
                file=out,
            )
    # every saved case passes (the tests replay them), so each failure here is one to fix: a
    # failure of a kind saved before is a new instance of it, saved beside the old case
    print(f"failures: {len(stats.failures)}", file=out)
    for f, p, path in stats.failures:
        seen_before = " (a kind saved before)" if signature(p, f) in known else ""
        print(
            f"- [{p.target}]{seen_before} {f.kind} at {f.where}: {f.message.splitlines()[0][:200]}",
            file=out,
        )
        if path is not None:
            print(
                f"  saved as {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}",
                file=out,
            )


def known_signatures(folder: Path = REGRESSIONS, names: set[str] | None = None) -> set[str]:
    """The signatures of the saved regression cases (those in `names` only, when given)."""
    out = set()
    for f in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
        if names is None or f.name in names:
            doc = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
            out.add(str(doc.get("signature")))
    return out


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=float(os.environ.get("FUZZ_SECONDS", 600)))
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--target", action="append", choices=TARGETS)
    ap.add_argument("--save-to", type=Path, default=REGRESSIONS)
    args = ap.parse_args(argv)
    os.environ["CLAUSEWISE_CACHE_DIR"] = "off"  # nothing the fuzzer checks goes to a cache
    targets = tuple(args.target or TARGETS)
    known = known_signatures(args.save_to)
    print(f"fuzzing {', '.join(targets)} for {args.seconds:.0f} s (seed {args.seed})", flush=True)

    def progress(s: Stats) -> None:
        done = ", ".join(f"{t} {s.tried[t]}" for t in targets)
        print(f"  ... {done}; failures {len(s.failures)}", flush=True)

    stats = fuzz(
        args.seconds,
        seed=args.seed,
        targets=targets,
        save_to=args.save_to,
        known=known,
        progress=progress,
    )
    report(stats, known)
    return 1 if stats.failures else 0
