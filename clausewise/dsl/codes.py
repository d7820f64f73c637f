"""The catalogue of diagnostic codes: each code declared once, with its severity and what it finds.

A diagnostic's code is a stable name users search for, silence in CI and read in SARIF rules;
the checker, the store, the terms and test-file readers and the lock all raise codes from this
list, the SARIF writer and `docs/diagnostics.md` read their descriptions from it, and the test
suite fails when a code is raised that is not declared here (or with another severity).

To add a code: one `_code(...)` line under its area, then `make docs` to regenerate the table.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR = "error"
WARNING = "warning"
NOTE = "note"  # shown, never fails a check, not even a strict one


@dataclass(frozen=True, slots=True)
class DiagnosticCode:
    """One kind of finding: its code, its severity, a one-line description and the area of the
    language or tooling it is about (the section of the docs it is listed under)."""

    code: str
    severity: str
    description: str
    area: str


CODES: dict[str, DiagnosticCode] = {}
_current_area = ""


def _area(title: str) -> None:
    global _current_area
    _current_area = title


def _code(code: str, severity: str, description: str) -> None:
    if code in CODES:
        raise ValueError(f"diagnostic code `{code}` is declared twice")
    CODES[code] = DiagnosticCode(code, severity, description, _current_area)


def severity(code: str) -> str:
    """The severity a code is declared with (an undeclared code is an error)."""
    known = CODES.get(code)
    return known.severity if known else ERROR


def describe(code: str) -> str:
    """The short description of a diagnostic code (made from the code if it is not declared)."""
    known = CODES.get(code)
    return known.description if known else code.replace("-", " ").capitalize() + "."


# ---- Syntax and literals -----------------------------------------------------------------------
_area("Syntax and literals")
_code("syntax-error", ERROR, "The policy text does not follow the grammar.")
_code("invalid-literal", ERROR, "A literal (number, date, money) cannot be read.")
_code(
    "literal-out-of-range",
    ERROR,
    "A literal is past what the engine can hold (a duration or month count longer than the calendar, too many rounding places, an instant off the calendar).",
)
_code(
    "bad-placeholder",
    ERROR,
    "A `{...}` placeholder in a message is not a well-formed expression.",
)
_code("nesting-too-deep", ERROR, "The policy nests expressions too deeply to check.")

# ---- Files -------------------------------------------------------------------------------------
_area("Files")
_code("unreadable", ERROR, "A policy file cannot be read.")
_code("not-found", ERROR, "A path given to the check does not exist.")
_code("file-outside-tree", ERROR, "An import or schema path leads outside the policies folder.")
_code("file-not-regular", ERROR, "An import or schema path names a FIFO, a device or a socket.")
_code("file-too-large", ERROR, "A file a policy reads is larger than the limit.")

# ---- Policy header -----------------------------------------------------------------------------
_area("Policy header")
_code("not-a-policy", ERROR, "A module cannot be evaluated on its own.")
_code("missing-version", ERROR, "The policy header has no version.")
_code("invalid-version", ERROR, "The policy version is not a semantic version.")
_code("missing-schema", ERROR, "The policy header names no input or output schema.")
_code("missing-time-zone", ERROR, "An effective instant without an offset needs a zone.")
_code(
    "ambiguous-local-time",
    WARNING,
    "A local time in an effective period does not exist, or occurs twice, in its zone.",
)
_code("unknown-time-zone", ERROR, "A time zone name is not an IANA zone.")
_code(
    "invalid-cost",
    WARNING,
    "A `cost` header item is malformed or does not match the computed cost class.",
)
_code(
    "superlinear-cost",
    WARNING,
    "Evaluation time may grow faster than linearly with the size of the input's lists.",
)

# ---- Schemas -----------------------------------------------------------------------------------
_area("Schemas")
_code("schema-not-found", ERROR, "A schema named by the header does not exist.")
_code("invalid-schema", ERROR, "A schema is not a valid JSON Schema, or cannot be used.")
_code(
    "decimal-pattern-mismatch",
    WARNING,
    "A decimal field's pattern accepts strings the decimal format refuses.",
)
_code("non-finite-number", ERROR, "A schema holds NaN or Infinity, which are not JSON numbers.")
_code(
    "unsupported-pattern",
    ERROR,
    "A schema pattern cannot be matched in linear time (look-around, back-references).",
)
_code("unresolved-ref", ERROR, "A schema's `$ref` leads nowhere.")
_code("ref-cycle", ERROR, "A schema's `$ref`s form a cycle (recursive schemas are not supported).")

# ---- Policy set --------------------------------------------------------------------------------
_area("Policy set")
_code("policy-id-mismatch", ERROR, "The policy id does not match its folder.")
_code("version-mismatch", ERROR, "The header's version does not match the file name.")
_code("duplicate-version", ERROR, "Two files define the same version of a policy.")
_code("effective-overlap", ERROR, "Two versions of a policy are in force at the same time.")
_code("effective-gap", WARNING, "No version of a policy is in force for a while.")

# ---- Imports -----------------------------------------------------------------------------------
_area("Imports")
_code("import-not-found", ERROR, "An imported module cannot be read.")
_code("import-not-module", ERROR, "An import names a policy instead of a module.")
_code("import-unavailable", ERROR, "Imports need the policy to be loaded from a file.")
_code("import-cycle", ERROR, "Modules import each other in a cycle.")

# ---- Names and definitions ---------------------------------------------------------------------
_area("Names and definitions")
_code("duplicate-definition", ERROR, "A name is defined twice.")
_code("duplicate-field", ERROR, "A record gives a field twice.")
_code("shadows-builtin", ERROR, "A definition takes the name of a built-in function.")
_code("cyclic-definition", ERROR, "A definition depends on itself.")
_code("recursive-definition", ERROR, "A function calls itself.")
_code("unused-definition", WARNING, "A definition is never used.")
_code("unknown-name", ERROR, "A name is not defined.")
_code("unknown-field", ERROR, "A field is not in the schema or record.")
_code("no-such-field", ERROR, "A value has no such field.")
_code("unknown-function", ERROR, "A function is not defined.")
_code("unknown-aggregate", ERROR, "An aggregate function is not known.")
_code("unknown-type", ERROR, "A type name is not known.")
_code("unknown-enum-value", ERROR, "A string is not one of the schema's enum values.")

# ---- Types and calls ---------------------------------------------------------------------------
_area("Types and calls")
_code("type-mismatch", ERROR, "An operation is applied to values of the wrong type.")
_code(
    "unit-mismatch",
    ERROR,
    "Durations, months and dates are combined in a way that has no meaning.",
)
_code("currency-mismatch", ERROR, "Amounts in different currencies are combined.")
_code(
    "constant-fails",
    ERROR,
    "A part of an expression that reads nothing always fails (`1 / 0`, `1 USD + 1 EUR`), "
    "or an output field is always a date past the calendar (`9999-12-31 + 1 day`).",
)
_code("negative-money", ERROR, "Money is negated.")
_code("nullable-access", ERROR, "A field of a value that may be null is read without a check.")
_code("nullable-operand", ERROR, "A value that may be null is used without a check or a default.")
_code("null-check-never-null", WARNING, "A null check on a value that is never null.")
_code("not-a-list", ERROR, "A list is expected.")
_code("not-indexable", ERROR, "The value cannot be indexed.")
_code("not-callable", ERROR, "The value is not a function.")
_code("function-as-value", ERROR, "A function is used as a value.")
_code("module-as-value", ERROR, "A module is used as a value.")
_code("missing-arguments", ERROR, "A function is used without its arguments.")
_code("wrong-arguments", ERROR, "A function is called with the wrong number of arguments.")
_code("argument-type", ERROR, "An argument does not have the parameter's declared type.")
_code("invalid-argument", ERROR, "An argument must be a literal of a given form.")
_code("by-not-here", ERROR, "`by` is used with an aggregate other than `distinct` or `group`.")
_code("missing-by", ERROR, "`group` needs `by key`.")
_code(
    "reasons-needs-decision",
    ERROR,
    "`reasons` is given something other than a decision or a rule without parameters.",
)

# ---- Rules, decisions, tables and requirements -------------------------------------------------
_area("Rules, decisions, tables and requirements")
_code("then-not-here", WARNING, "`then` is given on a rule outside a decision.")
_code("priority-needs-strategy", ERROR, "`priority` is used outside a `priority` decision.")
_code("require-path", ERROR, "A requirement's `for` or `at` does not name the input.")
_code("rule-never-fires", WARNING, "A rule's condition is always false.")
_code(
    "rule-shadowed",
    WARNING,
    "A rule can never fire: an earlier rule of its decision always fires first.",
)
_code("table-arity", ERROR, "A table row has the wrong number of cells.")
_code("table-else-not-last", ERROR, "The `else` row of a decision table is not the last row.")
_code("table-gap", ERROR, "A decision table has no row for some inputs.")
_code("table-overlap", ERROR, "Two rows of a `unique` decision table match the same input.")
_code(
    "table-row-unreachable",
    WARNING,
    "A row of a `first` decision table is covered by earlier rows.",
)
_code(
    "table-not-analysable",
    WARNING,
    "A decision table's cells are not literals, so gaps cannot be ruled out.",
)

# ---- Output ------------------------------------------------------------------------------------
_area("Output")
_code("missing-output", ERROR, "The policy has no output.")
_code("duplicate-output", ERROR, "The policy has more than one output.")
_code("unknown-output-field", ERROR, "An output field is not in the output schema.")
_code("missing-output-field", ERROR, "A field the output schema requires is missing.")
_code("output-type", ERROR, "An output field's type does not match the output schema.")
_code("output-not-here", ERROR, "`output` is read outside an invariant.")

# ---- Terms and citations -----------------------------------------------------------------------
_area("Terms and citations")
_code("missing-citation", WARNING, "A rule cites no clause of the terms.")
_code(
    "unknown-clause",
    ERROR,
    "A citation or `out of scope` names a clause the terms file does not have.",
)
_code(
    "uncited-clause",
    WARNING,
    "A clause of the terms is cited by no rule and not declared out of scope.",
)
_code("cited-out-of-scope", WARNING, "A clause declared out of scope is cited by a rule.")
_code("duplicate-out-of-scope", ERROR, "A clause is declared out of scope twice.")
_code("no-terms", NOTE, "A policy has no terms file, so its clause ids are not checked.")
_code("terms-missing-title", ERROR, "A terms file does not start with its `# Title`.")
_code(
    "terms-header",
    ERROR,
    "The header table of a terms file lacks a field, repeats one or has an unknown one.",
)
_code(
    "terms-malformed-heading",
    ERROR,
    "A heading of a terms file is not a clause heading `## A6`.",
)
_code("terms-missing-id", ERROR, "A clause heading of a terms file has no clause id.")
_code("terms-duplicate-clause", ERROR, "A terms file gives the same clause twice.")
_code("terms-empty-clause", ERROR, "A clause of a terms file has no text.")
_code("terms-misplaced-text", ERROR, "A clause's English text follows its original wording.")
_code("terms-no-clauses", ERROR, "A terms file has no clauses.")
_code(
    "terms-missing-original",
    WARNING,
    "A clause of a non-English source has no original wording.",
)
_code("terms-unreadable", ERROR, "A terms file cannot be read.")

# ---- Policy tests ------------------------------------------------------------------------------
_area("Policy tests")
_code("test-conflicting-keys", ERROR, "A test case gives both `input` and `input_file`.")
_code("test-duplicate-key", ERROR, "A key is given twice in one mapping of a test file.")
_code("test-input-file-not-found", ERROR, "A test case's `input_file` does not exist.")
_code("test-input-file-unreadable", ERROR, "A test case's `input_file` cannot be read as JSON.")
_code("test-invalid-value", ERROR, "A value in a test file has the wrong form.")
_code("test-missing-key", ERROR, "A test file or case lacks a required key.")
_code("test-no-cases", ERROR, "A test file has no cases.")
_code(
    "test-nothing-checked",
    ERROR,
    "A test case checks nothing (no `expect`, `fired`, `error`...).",
)
_code("test-unknown-key", ERROR, "A test file or case has a key that is not known.")
_code(
    "test-unknown-output-field",
    ERROR,
    "A test case expects an output field the policy's output does not have.",
)
_code(
    "test-unknown-policy",
    ERROR,
    "A test file names a policy that does not exist, or is not in its folder.",
)
_code("test-unknown-rule", ERROR, "A test case names a rule the policy does not have.")
_code(
    "test-unknown-version",
    ERROR,
    "A test file names a version of its policy that does not exist.",
)
_code("test-unreadable", ERROR, "A test file cannot be read.")
_code("test-wrong-type", ERROR, "A test file is not a mapping with `policy:` and `cases:`.")
_code("test-yaml-syntax", ERROR, "A test file is not valid YAML.")

# ---- Lock file ---------------------------------------------------------------------------------
_area("Lock file")
_code("invalid-lock", ERROR, "The lock file cannot be read or is malformed.")
_code("locked-version-changed", ERROR, "A locked (released) policy version's content changed.")
_code("locked-version-deleted", ERROR, "A locked (released) policy version's file was deleted.")


def markdown() -> str:
    """`docs/diagnostics.md`: every code with its severity and description, by area."""
    out = [
        "# Diagnostic codes",
        "",
        "Every finding of `clausewise check`, `clausewise test` and `clausewise verify` has a",
        "stable code. `error`s make the check fail; `warning`s make it fail with `--strict`;",
        "`note`s say how a file is checked and never fail. This page is generated from",
        "`clausewise/dsl/codes.py` by `make docs`.",
    ]
    areas: dict[str, list[DiagnosticCode]] = {}
    for c in CODES.values():
        areas.setdefault(c.area, []).append(c)
    for area, codes in areas.items():
        out += ["", f"## {area}", "", "| code | severity | finds |", "|---|---|---|"]
        out += [f"| `{c.code}` | {c.severity} | {c.description} |" for c in codes]
    return "\n".join(out) + "\n"
