"""Policy test files (`*.test.yaml`) read with their positions and checked like policies.

A test file has a schema (`TEST_FILE_SCHEMA`): every key is known and typed. Beyond its shape,
what it names must exist: the policy, its version, the rules in `fired`/`not_fired`, the output
fields in `expect`/`expect_subset`, and the files in `input_file`. Every problem is a
`Diagnostic` at the test file's line and column, with a did-you-mean where a name is close.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..dsl.diagnostics import ERROR, NO_SPAN, Diagnostic, Source, Span, did_you_mean
from ..dsl.treefiles import NOT_REGULAR, policies_root_of, read_text, resolve_in_tree

_NAMES = {"type": "array", "items": {"type": "string", "minLength": 1}}

CASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "what the case shows"},
        "input": {"description": "the decision input, inline"},
        "input_file": {
            "type": "string",
            "minLength": 1,
            "description": "a JSON file with the input, relative to the test file",
        },
        "expect": {"description": "the whole output"},
        "expect_subset": {
            "type": "object",
            "description": "only the output fields (recursively) given",
        },
        "fired": {**_NAMES, "description": "rules that must fire"},
        "not_fired": {**_NAMES, "description": "rules that must not fire"},
        "error": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "path": {"type": "string"}},
            "additionalProperties": False,
            "minProperties": 1,
            "description": "the input error expected instead of a decision",
        },
    },
    "additionalProperties": False,
}

TEST_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "clausewise policy test file",
    "type": "object",
    "properties": {
        "policy": {"type": "string", "minLength": 1, "description": "the policy id"},
        "version": {"type": "string", "minLength": 1, "description": "the version tested"},
        "defaults": {"description": "not read: a place for YAML anchors the cases merge"},
        "cases": {"type": "array", "minItems": 1, "items": CASE_SCHEMA},
    },
    "required": ["policy", "cases"],
    "additionalProperties": False,
}

_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}

_TYPE_HELP = {
    "fired": "write a list of rule names, e.g. `fired: [{example}]`",
    "not_fired": "write a list of rule names, e.g. `not_fired: [{example}]`",
    "version": 'write the version in quotes, e.g. `version: "1.0.0"`',
}


# ---- YAML with positions ----


class _Map(dict[Any, Any]):
    """A mapping read from YAML, with the nodes of its keys and values."""

    node: yaml.MappingNode
    entries: dict[Any, tuple[yaml.Node, yaml.Node]]


class _List(list[Any]):
    """A sequence read from YAML, with its node."""

    node: yaml.SequenceNode


class _Loader(yaml.SafeLoader):
    """The safe loader, keeping the node of every mapping and sequence it builds."""

    duplicates: list[yaml.Node]


def _construct_map(loader: _Loader, node: yaml.MappingNode) -> Iterator[_Map]:
    data = _Map()
    data.node = node
    data.entries = {}
    yield data
    own = [k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode) and k.value != "<<"]
    seen: set[str] = set()
    for k, _ in node.value:
        if isinstance(k, yaml.ScalarNode) and k.value != "<<":
            if k.value in seen and own.count(k.value) > 1:
                loader.duplicates.append(k)
            seen.add(k.value)
    data.update(loader.construct_mapping(node))  # merges `<<:` keys into node.value first
    for k, v in node.value:
        key = loader.construct_object(k)
        # an unhashable key: the mapping constructor has refused it already
        with contextlib.suppress(TypeError):
            data.entries[key] = (k, v)


def _construct_list(loader: _Loader, node: yaml.SequenceNode) -> Iterator[_List]:
    data = _List()
    data.node = node
    yield data
    data.extend(loader.construct_sequence(node))


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_list)


def _span(source: Source, node: yaml.Node | None) -> Span:
    if node is None:
        return Span(source, 1, 1, 1, 1, 0, 0)
    start, end = node.start_mark, node.end_mark
    if end.line > start.line and isinstance(node, yaml.CollectionNode):
        # a block collection ends at the start of the next line: show its first line
        line = source.line(start.line + 1)
        return Span(
            source,
            start.line + 1,
            start.column + 1,
            start.line + 1,
            len(line) + 1,
            start.index,
            start.index + len(line) - start.column,
        )
    return Span(
        source,
        start.line + 1,
        start.column + 1,
        end.line + 1,
        end.column + 1,
        start.index,
        end.index,
    )


def _mark_span(source: Source, mark: Any) -> Span:
    line = source.line(mark.line + 1)
    end = min(mark.column + 1, len(line)) if line else mark.column
    return Span(
        source, mark.line + 1, mark.column + 1, mark.line + 1, end + 1, mark.index, mark.index + 1
    )


# ---- the checked file ----


@dataclass
class TestFile:
    """A test file as read: its data (None when it cannot be used) and what is wrong with it."""

    path: Path
    source: Source
    data: Any = None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not any(d.severity == ERROR for d in self.diagnostics)

    def span_of(self, where: tuple[Any, ...], key: bool = False) -> Span:
        """The span of the value at `where` (keys and list indexes), or of its key."""
        node: yaml.Node | None = None
        value: Any = self.data
        for i, part in enumerate(where):
            if isinstance(value, _Map) and part in value.entries:
                k, v = value.entries[part]
                node = k if key and i == len(where) - 1 else v
                value = value[part]
            elif (
                isinstance(value, _List) and isinstance(part, int) and part < len(value.node.value)
            ):
                node = value.node.value[part]
                value = value[part]
            else:
                break
        if node is None and isinstance(self.data, _Map):
            node = self.data.node
        return _span(self.source, node)

    def error(
        self,
        code: str,
        message: str,
        where: tuple[Any, ...],
        help: str | None = None,
        key: bool = False,
    ) -> None:
        self.diagnostics.append(Diagnostic(code, ERROR, message, self.span_of(where, key), help))


def read_test_file(path: Path) -> TestFile:
    """Read a test file with positions and check its shape against `TEST_FILE_SCHEMA`."""
    try:
        text = read_text(path).removeprefix("\ufeff")
    except (OSError, UnicodeDecodeError) as e:
        source = Source(str(path), "")
        tf = TestFile(path, source)
        tf.diagnostics.append(
            Diagnostic("test-unreadable", ERROR, f"cannot read the test file: {e}", NO_SPAN)
        )
        return tf
    source = Source(str(path), text.replace("\r\n", "\n"))
    tf = TestFile(path, source)
    loader = _Loader(source.text)
    loader.duplicates = []
    try:
        tf.data = loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        span = _mark_span(source, mark) if mark is not None else NO_SPAN
        notes: tuple[str, ...] = ()
        if e.context and e.context_mark is not None and e.context_mark is not mark:
            at = f"{e.context_mark.line + 1}:{e.context_mark.column + 1}"
            notes = (f"{e.context} started at {path}:{at}",)
        tf.diagnostics.append(
            Diagnostic(
                "test-yaml-syntax",
                ERROR,
                f"the test file is not valid YAML: {e.problem or e.context}",
                span,
                None,
                notes,
            )
        )
        return tf
    except yaml.YAMLError as e:
        tf.diagnostics.append(
            Diagnostic("test-yaml-syntax", ERROR, f"the test file is not valid YAML: {e}", NO_SPAN)
        )
        return tf
    finally:
        loader.dispose()
    for k in loader.duplicates:
        tf.diagnostics.append(
            Diagnostic(
                "test-duplicate-key",
                ERROR,
                f"`{k.value}` is given twice in one mapping",
                _span(source, k),
                "YAML keeps only the last one: remove or rename the other",
            )
        )
    _check_shape(tf)
    return tf


def _check_shape(tf: TestFile) -> None:
    from jsonschema import Draft202012Validator

    if not isinstance(tf.data, dict):
        tf.error(
            "test-wrong-type",
            "a test file is a mapping with `policy:` and `cases:`",
            (),
            "see docs/testing.md for an example",
        )
        return
    validator = Draft202012Validator(TEST_FILE_SCHEMA)
    for err in sorted(validator.iter_errors(tf.data), key=lambda e: list(map(str, e.path))):
        where = tuple(err.absolute_path)
        schema = err.schema if isinstance(err.schema, dict) else {}
        if err.validator == "additionalProperties":
            known = list(schema.get("properties", {}))
            for extra in [k for k in err.instance if k not in known]:
                hint = did_you_mean(str(extra), known)
                tf.error(
                    "test-unknown-key",
                    f"unknown key `{extra}` in {_what(where)}",
                    (*where, extra),
                    hint or f"the keys of {_what(where)} are: {', '.join(known)}",
                    key=True,
                )
        elif err.validator == "type":
            expected = err.validator_value
            words = " or ".join(_TYPE_WORDS.get(t, t) for t in _as_list(expected))
            got = _TYPE_WORDS.get(_json_type(err.instance), type(err.instance).__name__)
            name = where[-1] if where and isinstance(where[-1], str) else ""
            example = err.instance if isinstance(err.instance, str) else "rule_name"
            help = _TYPE_HELP.get(name, "").format(example=example) or None
            tf.error(
                "test-wrong-type",
                f"{_label(where)} must be {words}, not {got}",
                where,
                help,
            )
        elif err.validator == "required":
            missing = [k for k in err.validator_value if k not in err.instance]
            for k in missing:
                tf.error("test-missing-key", f"{_what(where)} needs `{k}:`", where, None, key=True)
        elif err.validator == "minItems" and where == ("cases",):
            tf.error("test-no-cases", "the test file has no cases", where)
        else:
            tf.error("test-invalid-value", f"{_label(where)}: {err.message}", where)
    cases = tf.data.get("cases")
    if isinstance(cases, list):
        for i, case in enumerate(cases):
            if isinstance(case, dict):
                _check_case_keys(tf, i, case)


def _check_case_keys(tf: TestFile, i: int, case: dict[str, Any]) -> None:
    where = ("cases", i)
    has_input = "input" in case
    if has_input and "input_file" in case:
        tf.error(
            "test-conflicting-keys",
            "a case gives both `input` and `input_file`",
            (*where, "input_file"),
            "keep one of them",
            key=True,
        )
    elif not has_input and "input_file" not in case:
        tf.error(
            "test-missing-key",
            f"{_what(where)} needs `input:` or `input_file:`",
            where,
            None,
        )
    checks = [k for k in ("expect", "expect_subset", "fired", "not_fired") if k in case]
    if "error" in case and checks:
        tf.error(
            "test-conflicting-keys",
            f"a case that expects an input error makes no decision, so `{checks[0]}` cannot be checked",
            (*where, checks[0]),
            "move the expectations into a case of their own",
            key=True,
        )
    elif "error" not in case and not checks:
        tf.error(
            "test-nothing-checked",
            f"{_what(where)} checks nothing",
            where,
            "give `expect:`, `expect_subset:`, `fired:`, `not_fired:` or `error:`",
        )


def _as_list(v: Any) -> list[Any]:
    return v if isinstance(v, list) else [v]


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return type(v).__name__  # a YAML date or timestamp, say


def _what(where: tuple[Any, ...]) -> str:
    if not where:
        return "the test file"
    if len(where) == 2 and where[0] == "cases":
        return f"case {where[1] + 1}"
    if where[0] == "cases" and len(where) >= 3:
        return f"`{where[-1]}` of case {where[1] + 1}"
    return f"`{'.'.join(map(str, where))}`"


def _label(where: tuple[Any, ...]) -> str:
    if not where:
        return "the test file"
    if where[0] == "cases" and len(where) >= 3:
        rest = ".".join(map(str, where[2:]))
        return f"`{rest}` of case {where[1] + 1}"
    if where[0] == "cases" and len(where) == 2:
        return f"case {where[1] + 1}"
    return f"`{'.'.join(map(str, where))}`"


# ---- names the file refers to ----


def rule_names(program: Any) -> list[str]:
    """The names `fired`/`not_fired` accept: each rule or row, and `owner.rule`."""
    names: list[str] = []
    for r in program.rules:
        names.append(r.name)
        if r.owner:
            names.append(f"{r.owner}.{r.name}")
    return list(dict.fromkeys(names))


def check_references(tf: TestFile, lp: Any) -> None:
    """Check what the cases name against the loaded policy version `lp`."""
    prog = lp.program
    names = rule_names(prog)
    known = set(names)
    for i, case in enumerate(tf.data.get("cases") or []):
        if not isinstance(case, dict):
            continue
        for key in ("fired", "not_fired"):
            wanted = case.get(key)
            if not isinstance(wanted, list):
                continue
            for j, name in enumerate(wanted):
                if isinstance(name, str) and name not in known:
                    hint = did_you_mean(name, names)
                    tf.error(
                        "test-unknown-rule",
                        f"{lp.id} {lp.version} has no rule `{name}`",
                        ("cases", i, key, j),
                        hint or "name a rule, a table row (`table row N`) or `decision.rule`",
                    )
        for key in ("expect", "expect_subset"):
            if key in case:
                for where, unknown, fields in _unknown_fields(
                    case[key], prog.output_schema, prog.output_schema
                ):
                    hint = did_you_mean(unknown, fields) if fields else None
                    tf.error(
                        "test-unknown-output-field",
                        f"the output of {lp.id} {lp.version} has no field `{unknown}`"
                        + (f" in `{'.'.join(map(str, where))}`" if where else ""),
                        ("cases", i, key, *where, unknown),
                        hint or (f"its fields are: {', '.join(fields)}" if fields else None),
                        key=True,
                    )
        file = case.get("input_file")
        if isinstance(file, str):
            problem = _input_file_problem(tf.path, lp.id, file)
            if problem is not None:
                code, message, help = problem
                tf.error(code, message, ("cases", i, "input_file"), help)


def _input_file_problem(test_file: Path, policy_id: str, ref: str) -> tuple[str, str, str] | None:
    """Why the input file a case names cannot be read (code, message, help), or None. It is
    read as a policy's own files are: inside the policies folder, a regular file."""
    root = policies_root_of(test_file, policy_id)
    try:
        path = resolve_in_tree(root, test_file.parent, ref)
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return (
            "test-input-file-not-found",
            f"no input file `{ref}` beside the test file",
            f"the path is relative to {test_file.parent}",
        )
    except OSError as e:
        return (
            "test-input-file-unreadable",
            f"cannot read the input file `{ref}`: {e.strerror or e}",
            _TREE_HELP,
        )
    if not stat.S_ISREG(mode):
        return (
            "test-input-file-unreadable",
            f"cannot read the input file `{ref}`: {NOT_REGULAR}",
            _TREE_HELP,
        )
    return None


_TREE_HELP = (
    "an input file is a regular file inside the policies folder, named relative to the test file"
)


def _resolve(schema: Any, root: dict[str, Any]) -> Any:
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        target: Any = root
        for part in ref[1:].split("/")[1:]:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            else:
                return {}
        schema = target
        seen += 1
    return schema


def _object_fields(schema: Any, root: dict[str, Any]) -> tuple[list[str], bool] | None:
    """The fields an output object may have, and whether others may appear; None when the
    schema does not describe an object with named fields."""
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return None
    branches = [schema]
    for key in ("anyOf", "oneOf", "allOf"):
        if isinstance(schema.get(key), list):
            branches += [_resolve(b, root) for b in schema[key]]
    fields: list[str] = []
    named = False
    open_ = False
    for b in branches:
        if not isinstance(b, dict):
            continue
        props = b.get("properties")
        if isinstance(props, dict):
            named = True
            fields += [k for k in props if k not in fields]
        extra = b.get("additionalProperties")
        if (isinstance(extra, dict) and extra) or (extra is True and not props):
            open_ = True
        if b.get("patternProperties"):
            open_ = True
    if not named:
        return None
    return fields, open_


def _field_schema(schema: Any, key: str, root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return {}
    for b in [
        schema,
        *(_resolve(x, root) for k in ("anyOf", "oneOf", "allOf") for x in schema.get(k, []) or []),
    ]:
        if isinstance(b, dict):
            props = b.get("properties")
            if isinstance(props, dict) and key in props:
                return props[key]
            extra = b.get("additionalProperties")
            if isinstance(extra, dict) and not isinstance(props, dict):
                return extra
    return {}


def _item_schema(schema: Any, root: dict[str, Any]) -> Any:
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return {}
    for b in [
        schema,
        *(_resolve(x, root) for k in ("anyOf", "oneOf") for x in schema.get(k, []) or []),
    ]:
        if isinstance(b, dict) and "items" in b:
            return b["items"]
    return {}


def _unknown_fields(
    value: Any, schema: Any, root: dict[str, Any], where: tuple[Any, ...] = ()
) -> Iterable[tuple[tuple[Any, ...], str, list[str]]]:
    """(where, field, the fields there) for every key of `value` the output schema lacks."""
    if isinstance(value, dict):
        shape = _object_fields(schema, root)
        for k, v in value.items():
            if shape is not None and k not in shape[0] and not shape[1]:
                yield where, str(k), shape[0]
                continue
            yield from _unknown_fields(v, _field_schema(schema, str(k), root), root, (*where, k))
    elif isinstance(value, list):
        items = _item_schema(schema, root)
        for i, v in enumerate(value):
            yield from _unknown_fields(v, items, root, (*where, i))
