"""The terms behind a policy: the clauses of the source document, read from a Markdown file beside
each policy version (`<root>/<policy id>/<version>.terms.md`, described in docs/terms.md), and the
citations that tie the policy's rules, tables, invariants and requirements to them.

The file is read strictly, every problem reported at its line and column: one `# title`, a header
table (title, publisher, date, reference, language), then one `## A6` heading per clause with its
English text, and the original wording in a blockquote where the source is not English.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from . import ast as A
from .diagnostics import ERROR, NOTE, WARNING, Diagnostic, Source, Span
from .treefiles import read_text

TERMS_SUFFIX = ".terms.md"
CLAUSE_ID = re.compile(r"[A-Z]{1,3}[0-9]+(\.[0-9]+)*")
REQUIRED_FIELDS = ("title", "publisher", "date", "reference", "language")
OPTIONAL_FIELDS = ("original title",)
SHORT_LIMIT = 80
TEXT_WIDTH = 100

_HEADING = re.compile(r"(#+)([ \t]*)(.*?)[ \t]*#*[ \t]*$")
_TABLE_SEPARATOR = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")


@dataclass(frozen=True, slots=True)
class Clause:
    """One numbered clause: its id, its English text and, for a source in another language,
    the original wording."""

    id: str
    text: str
    original: str | None
    span: Span = field(compare=False, repr=False)

    def short(self, limit: int = SHORT_LIMIT) -> str:
        """The clause in a few words for text explanations: its first sentence when that is
        short, else its first `limit` characters cut at a word, with an ellipsis."""
        flat = " ".join(self.text.split())
        first = _SENTENCE_END.split(flat, maxsplit=1)[0]
        if len(first) <= limit + limit // 4:
            return first
        cut = first[: limit + 1].rsplit(" ", 1)[0].rstrip(",;:")
        return cut + "…"


@dataclass(frozen=True, slots=True)
class Terms:
    """The terms file of one policy version."""

    path: str
    heading: str
    fields: dict[str, str]
    clauses: tuple[Clause, ...]
    span: Span = field(compare=False, repr=False)

    def get(self, clause_id: str) -> Clause | None:
        """The clause with this id, if the terms have it."""
        for c in self.clauses:
            if c.id == clause_id:
                return c
        return None

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.clauses]


def terms_path(policy_path: str | Path) -> Path:
    """Where the terms of a policy version live: `<version>.terms.md` beside `<version>.cw`."""
    p = Path(policy_path)
    return p.with_name(p.stem + TERMS_SUFFIX)


# ---- reading a terms file -------------------------------------------------------------------


def _span(src: Source, line: int, col: int, end_col: int, offsets: list[int]) -> Span:
    start = offsets[line - 1] + col - 1
    return Span(src, line, col, line, end_col, start, start + (end_col - col))


class _Reader:
    def __init__(self, text: str, path: str):
        self.src = Source(path, text)
        self.lines = text.split("\n")
        self.offsets: list[int] = []
        pos = 0
        for ln in self.lines:
            self.offsets.append(pos)
            pos += len(ln) + 1
        self.diags: list[Diagnostic] = []

    def line_span(self, n: int, col: int = 1, end_col: int | None = None) -> Span:
        text = self.lines[n - 1].removesuffix("\r")
        end = end_col if end_col is not None else max(len(text) + 1, col + 1)
        return _span(self.src, n, col, end, self.offsets)

    def error(self, code: str, msg: str, span: Span, help: str | None = None) -> None:
        self.diags.append(Diagnostic(code, ERROR, msg, span, help))


def parse_terms(text: str, path: str = "<terms>") -> tuple[Terms | None, list[Diagnostic]]:
    """Read a terms file: the terms (None when not even its title is there) and every problem."""
    r = _Reader(text, path)
    heading: str | None = None
    heading_span = r.line_span(1) if r.lines else Span(r.src, 1, 1, 1, 1)
    fields: dict[str, str] = {}
    field_lines: dict[str, int] = {}
    table_seen = False
    clauses: list[Clause] = []
    first_line: dict[str, int] = {}
    # the clause being read: id, heading span, English lines, original lines
    current: tuple[str, Span] | None = None
    english: list[str] = []
    original: list[str] = []
    skip_clause = False

    def close() -> None:
        nonlocal current
        if current is None:
            return
        cid, span = current
        body = _paragraphs(english)
        if not body:
            r.error(
                "terms-empty-clause",
                f"clause {cid} has no text",
                span,
                "write the clause's English text in the lines below its heading",
            )
        elif not skip_clause:
            quote = _paragraphs(original) or None
            clauses.append(Clause(cid, body, quote, span))
        current = None

    in_table = False
    for n, raw in enumerate(r.lines, 1):
        line = raw.removesuffix("\r")
        stripped = line.strip()
        if stripped.startswith("<!--") and stripped.endswith("-->"):
            continue  # a comment, not rendered
        m = _HEADING.match(line) if line.startswith("#") else None
        if m is not None:
            in_table = False
            level, gap, content = len(m.group(1)), m.group(2), m.group(3)
            if heading is None:
                if level != 1 or not gap or not content:
                    r.error(
                        "terms-missing-title",
                        "a terms file starts with its title: `# Title`",
                        r.line_span(n),
                    )
                    if level == 1 and content:
                        heading, heading_span = content, r.line_span(n)
                    continue
                heading, heading_span = content, r.line_span(n)
                continue
            if level != 2:
                r.error(
                    "terms-malformed-heading",
                    f"a heading of level {level} has no place in a terms file",
                    r.line_span(n, 1, level + 1),
                    "the file has one `# Title`, then one `## ID` heading per clause (e.g. `## A6`)",
                )
                continue
            close()
            skip_clause = False
            if not content:
                r.error(
                    "terms-missing-id",
                    "a clause heading without a clause id",
                    r.line_span(n),
                    "write the id after `## `, e.g. `## A6`",
                )
                current, english, original, skip_clause = (
                    ("?", r.line_span(n)),
                    [],
                    [],
                    True,
                )
                continue
            col = level + len(gap) + 1
            id_span = r.line_span(n, col, col + len(content))
            if not gap:
                r.error(
                    "terms-malformed-heading",
                    f"`{line.strip()}` needs a space after `##`",
                    r.line_span(n),
                    f"write `## {content}`",
                )
            word = content.split()[0]
            if CLAUSE_ID.fullmatch(content) is None:
                if CLAUSE_ID.fullmatch(word) is not None:
                    msg = f"the heading of clause {word} has text after the id"
                    help = f"write the heading as `## {word}` and the text in the lines below it"
                    code = "terms-malformed-heading"
                elif CLAUSE_ID.fullmatch(word.upper().rstrip(".:")) is not None:
                    msg = f"`{word}` is not written as a clause id"
                    help = f"clause ids are capital letters then a number: `## {word.upper().rstrip('.:')}`"
                    code = "terms-malformed-heading"
                else:
                    msg = f"the heading `{content}` has no clause id"
                    help = "a clause heading is its id alone, e.g. `## A6`"
                    code = "terms-missing-id"
                r.error(code, msg, id_span, help)
                current, english, original, skip_clause = (("?", id_span), [], [], True)
                continue
            if content in first_line:
                r.diags.append(
                    Diagnostic(
                        "terms-duplicate-clause",
                        ERROR,
                        f"clause {content} is given twice",
                        id_span,
                        "give each clause once, under its own id",
                        (f"first given at {path}:{first_line[content]}",),
                    )
                )
                skip_clause = True
            else:
                first_line[content] = n
            current, english, original = (content, id_span), [], []
            continue
        if heading is None:
            if stripped:
                r.error(
                    "terms-missing-title",
                    "a terms file starts with its title: `# Title`",
                    r.line_span(n),
                )
                heading, heading_span = "", r.line_span(n)
            continue
        if current is None:
            # between the title and the first clause: the header table, and any prose
            if stripped.startswith("|"):
                cells = [c.strip() for c in stripped.strip("|").split("|")]
                if not in_table:
                    if table_seen:
                        r.error(
                            "terms-header",
                            "a second table before the first clause",
                            r.line_span(n),
                            "a terms file has one header table",
                        )
                    in_table, table_seen = True, True
                    continue  # its header row (`| field | value |`)
                if _TABLE_SEPARATOR.match(stripped):
                    continue
                if len(cells) != 2:
                    r.error(
                        "terms-header",
                        f"a header row has {len(cells)} cells, not 2 (`| field | value |`)",
                        r.line_span(n),
                    )
                    continue
                key, value = cells[0].lower(), cells[1]
                known = (*REQUIRED_FIELDS, *OPTIONAL_FIELDS)
                if key not in known:
                    from .diagnostics import did_you_mean

                    hint = did_you_mean(key, known)
                    r.error(
                        "terms-header",
                        f"unknown header field `{cells[0]}`",
                        r.line_span(n),
                        hint or f"the fields are {', '.join(known)}",
                    )
                elif key in fields:
                    r.error(
                        "terms-header",
                        f"the header field `{key}` is given twice",
                        r.line_span(n),
                        f"first given at {path}:{field_lines[key]}",
                    )
                elif not value:
                    r.error("terms-header", f"the header field `{key}` is empty", r.line_span(n))
                else:
                    fields[key] = value
                    field_lines[key] = n
            else:
                in_table = False
            continue
        if stripped.startswith(">"):
            original.append(stripped[1:].strip())
        elif stripped:
            if original:
                r.error(
                    "terms-misplaced-text",
                    f"text of clause {current[0]} after its original wording",
                    r.line_span(n),
                    "write the English text first, then the original wording as a `>` blockquote",
                )
            english.append(stripped)
        else:
            (original if original else english).append("")
    close()
    if heading is None:
        r.error("terms-missing-title", "the terms file is empty", heading_span)
        return None, r.diags
    missing = [k for k in REQUIRED_FIELDS if k not in fields]
    if missing:
        r.error(
            "terms-header",
            f"the header table lacks {', '.join(f'`{k}`' for k in missing)}",
            heading_span,
            "give the source document's title, publisher, date, reference and language in a "
            "`| field | value |` table under the title",
        )
    if not clauses and not first_line:
        r.error(
            "terms-no-clauses",
            "the terms file has no clauses",
            heading_span,
            "give each clause under a `## ID` heading (e.g. `## A1`)",
        )
    language = fields.get("language", "").lower()
    if language and not language.startswith(("en", "english")):
        for c in clauses:
            if c.original is None:
                r.diags.append(
                    Diagnostic(
                        "terms-missing-original",
                        WARNING,
                        f"clause {c.id} has no original wording, and the source is in {fields['language']}",
                        c.span,
                        "quote the original under the English text with `> `",
                    )
                )
    return Terms(path, heading, fields, tuple(clauses), heading_span), r.diags


def _paragraphs(lines: list[str]) -> str:
    paras: list[str] = []
    cur: list[str] = []
    for ln in [*lines, ""]:
        if ln:
            cur.append(ln)
        elif cur:
            paras.append(" ".join(cur))
            cur = []
    return "\n\n".join(paras)


def load_terms(policy_path: str | Path) -> tuple[Terms | None, list[Diagnostic]]:
    """The terms beside a policy file, and the problems of the terms file; (None, []) when the
    policy has none."""
    tp = terms_path(policy_path)
    try:
        text = read_text(tp)
    except FileNotFoundError:
        return None, []
    except (OSError, UnicodeDecodeError) as e:
        why = "it is not UTF-8 text" if isinstance(e, UnicodeDecodeError) else e.strerror or e
        span = Span(Source(str(tp), ""), 1, 1, 1, 1)
        return None, [Diagnostic("terms-unreadable", ERROR, f"cannot read {tp}: {why}", span)]
    return parse_terms(text, str(tp))


# ---- citations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Citation:
    """One clause id written after `cites` (or `out of scope`) in a policy or module."""

    clause: str
    kind: str  # rule, decision, table, invariant, require
    name: str  # `decision.rule` for a rule inside a decision
    span: Span = field(compare=False)


def citations_of(items: Iterable[A.Item]) -> list[Citation]:
    """Every citation of the items, in source order."""
    out: list[Citation] = []

    def add(
        kind: str, name: str, ids: tuple[str, ...], spans: tuple[Span, ...], item: object
    ) -> None:
        fallback = A.span_of(item)
        for i, cid in enumerate(ids):
            out.append(Citation(cid, kind, name, spans[i] if i < len(spans) else fallback))

    for item in items:
        match item:
            case A.Rule():
                add("rule", item.name, item.cites, item.cite_spans, item)
            case A.Decision():
                add("decision", item.name, item.cites, item.cite_spans, item)
                for r in item.rules:
                    add("rule", f"{item.name}.{r.name}", r.cites, r.cite_spans, r)
            case A.Table():
                add("table", item.name, item.cites, item.cite_spans, item)
            case A.Invariant():
                add("invariant", item.name, item.cites, item.cite_spans, item)
            case A.Require():
                add("require", item.code, item.cites, item.cite_spans, item)
    return out


ModuleReader = Callable[[Path], A.PolicyFile]


def policy_citations(
    tree: A.PolicyFile, path: str | Path, read_module: ModuleReader | None = None
) -> list[Citation]:
    """The citations of a policy and of the modules it imports (each module once)."""
    out = citations_of(tree.items)
    if read_module is None:
        return out
    seen: set[Path] = set()
    todo = [(Path(path), imp) for imp in tree.imports]
    while todo:
        importer, imp = todo.pop(0)
        target = (importer.parent / imp.path).resolve()
        if target in seen:
            continue
        seen.add(target)
        try:
            mod = read_module(target)
        except Exception:  # the checker reports modules that cannot be read
            continue
        out += citations_of(mod.items)
        todo += [(target, i) for i in mod.imports]
    return out


def suggest_clause(clause_id: str, ids: Iterable[str]) -> str | None:
    """`did you mean A9?` for an id one or two edits away (same letters first, then the
    nearest number)."""
    known = list(ids)
    scored = [(_edits(clause_id, k), k) for k in known]
    close = [(d, k) for d, k in scored if d <= (1 if len(clause_id) <= 3 else 2)]
    if not close:
        return None
    prefix = re.match(r"[A-Z]*", clause_id)
    letters = prefix.group(0) if prefix else ""

    def rank(x: tuple[int, str]) -> tuple[int, int, int]:
        d, k = x
        same_letters = (
            0 if k.startswith(letters) and k[len(letters) : len(letters) + 1].isdigit() else 1
        )
        return (d, same_letters, abs(_number(k) - _number(clause_id)))

    best = min(close, key=rank)[1]
    return f"did you mean `{best}`?"


def _number(cid: str) -> int:
    m = re.search(r"\d+", cid)
    return int(m.group(0)) if m else 0


def _edits(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _ranges(ids: list[str]) -> str:
    """`A1-A18` for a run of ids with one prefix and consecutive numbers."""
    groups: list[list[str]] = []
    for cid in ids:
        m = re.fullmatch(r"([A-Z]+)(\d+)", cid)
        if groups and m:
            last = re.fullmatch(r"([A-Z]+)(\d+)", groups[-1][-1])
            if last and last.group(1) == m.group(1) and int(last.group(2)) + 1 == int(m.group(2)):
                groups[-1].append(cid)
                continue
        groups.append([cid])
    return ", ".join(g[0] if len(g) == 1 else f"{g[0]}-{g[-1]}" for g in groups)


def check_citations(
    tree: A.PolicyFile,
    path: str | Path,
    read_module: ModuleReader | None = None,
) -> list[Diagnostic]:
    """The policy's citations held against its terms file: unknown ids, uncited clauses, and
    the problems of the terms file itself. A policy without a terms file gets one note."""
    hdr = tree.header
    if hdr.kind != "policy":
        return []
    terms, diags = load_terms(path)
    tp = terms_path(path)
    if terms is None:
        if diags:
            return diags
        return [
            Diagnostic(
                "no-terms",
                NOTE,
                f"no terms file beside this policy ({tp.name}): its clause ids are not checked",
                hdr.span,
                "write the clauses in a terms file (see docs/terms.md)",
            )
        ]
    ids = terms.ids
    known = set(ids)
    listing = f"the terms in {tp.name} have {_ranges(ids)}" if ids else None

    def unknown(cid: str, message: str, span: Span) -> Diagnostic:
        hint = suggest_clause(cid, ids)
        notes = (listing,) if hint and listing else ()
        return Diagnostic("unknown-clause", ERROR, message, span, hint or listing, notes)

    cites = policy_citations(tree, path, read_module)
    for c in cites:
        if c.clause not in known:
            what = f"{c.kind} `{c.name}` cites {c.clause}, which is not a clause of the terms"
            diags.append(unknown(c.clause, what, c.span))
    scoped: dict[str, A.OutOfScope] = {}
    for oos in hdr.out_of_scope:
        span = oos.clause_span if oos.clause_span.source is not None else oos.span
        if oos.clause not in known:
            what = f"{oos.clause} is declared out of scope, but it is not a clause of the terms"
            diags.append(unknown(oos.clause, what, span))
        elif oos.clause in scoped:
            diags.append(
                Diagnostic(
                    "duplicate-out-of-scope",
                    ERROR,
                    f"{oos.clause} is declared out of scope twice",
                    span,
                    f"also at {scoped[oos.clause].span.location()}",
                )
            )
        else:
            scoped[oos.clause] = oos
    cited: dict[str, list[Citation]] = {}
    for c in cites:
        cited.setdefault(c.clause, []).append(c)
    for cid, oos in scoped.items():
        if cid in cited:
            users = ", ".join(f"{c.kind} `{c.name}`" for c in cited[cid][:3])
            diags.append(
                Diagnostic(
                    "cited-out-of-scope",
                    WARNING,
                    f"{cid} is declared out of scope, but {users} cites it",
                    oos.clause_span if oos.clause_span.source is not None else oos.span,
                    "remove the `out of scope` line, or the citation",
                )
            )
    for clause in terms.clauses:
        if clause.id not in cited and clause.id not in scoped:
            diags.append(
                Diagnostic(
                    "uncited-clause",
                    WARNING,
                    f"clause {clause.id} is cited by no rule and not declared out of scope",
                    clause.span,
                    f"cite it where it is implemented (`cites {clause.id}`), or add "
                    f'`out of scope {clause.id} "why"` to the header of {Path(path).name}',
                )
            )
    return diags


# ---- traceability ----------------------------------------------------------------------------


@dataclass
class ClauseTrace:
    """One clause and everything that stands behind it in the policy and its tests."""

    id: str
    text: str | None  # None: cited, but the policy has no terms
    original: str | None
    cited_by: list[Citation]
    out_of_scope: str | None
    cases: list[tuple[str, str]]  # (test file, case name)

    @property
    def status(self) -> str:
        if self.out_of_scope is not None:
            return "out of scope"
        if not self.cited_by:
            return "not cited"
        return "tested" if self.cases else "not tested"

    def to_json(self) -> dict[str, object]:
        return {
            "clause": self.id,
            "text": self.text,
            "original": self.original,
            "status": self.status,
            "cited_by": [
                {"kind": c.kind, "name": c.name, "location": c.span.location()}
                for c in self.cited_by
            ],
            "out_of_scope": self.out_of_scope,
            "tests": [{"file": f, "case": n} for f, n in self.cases],
        }


@dataclass
class Traceability:
    """The traceability matrix of one policy version: clause -> rules, tests, scope."""

    policy_id: str
    version: str
    terms: Terms | None
    terms_file: str
    rows: list[ClauseTrace]

    def counts(self) -> dict[str, int]:
        out = {"clauses": len(self.rows)}
        for r in self.rows:
            out[r.status] = out.get(r.status, 0) + 1
        return out

    def to_json(self) -> dict[str, object]:
        t = self.terms
        return {
            "policy": self.policy_id,
            "version": self.version,
            "terms": None
            if t is None
            else {"file": self.terms_file, "heading": t.heading, **t.fields},
            "counts": self.counts(),
            "clauses": [r.to_json() for r in self.rows],
        }

    def _summary(self) -> str:
        c = self.counts()
        parts = [f"{c['clauses']} clause(s)"]
        parts += [
            f"{c[k]} {k}" for k in ("tested", "not tested", "out of scope", "not cited") if c.get(k)
        ]
        return ", ".join(parts)

    def text(self) -> str:
        """The matrix for a terminal: one block per clause."""
        t = self.terms
        lines = [f"{self.policy_id} {self.version}"]
        if t is None:
            lines.append(
                f"no terms file ({self.terms_file}): the clauses cited, without their text"
            )
        else:
            lines.append(
                f"terms: {t.fields.get('title', t.heading)}; {t.fields.get('publisher', '?')}, "
                f"{t.fields.get('date', '?')} ({self.terms_file})"
            )
        lines.append(self._summary())
        width = max((len(r.id) for r in self.rows), default=2)
        pad = " " * (width + 2)

        def field(label: str, value: str) -> None:
            lines.extend(
                textwrap.wrap(
                    f"{label}: {value}",
                    TEXT_WIDTH,
                    initial_indent=pad,
                    subsequent_indent=pad + "  ",
                    break_on_hyphens=False,
                )
            )

        for r in self.rows:
            lines.append("")
            short = _short_text(r.text) if r.text is not None else "(no text)"
            lines.append(f"{r.id.ljust(width)}  {short}")
            if r.out_of_scope is not None:
                field("out of scope", r.out_of_scope)
            kinds: dict[str, list[str]] = {}
            for c in r.cited_by:
                kinds.setdefault(c.kind, []).append(c.name)
            for kind in ("rule", "decision", "table", "invariant", "require"):
                if kind in kinds:
                    field(f"{kind}s", ", ".join(dict.fromkeys(kinds[kind])))
            if not r.cited_by and r.out_of_scope is None:
                field("cited by", "nothing (neither implemented nor declared out of scope)")
            if r.out_of_scope is None:
                field("tests", _case_list(r.cases))
        return "\n".join(lines)

    def markdown(self) -> str:
        """The matrix as a Markdown table (for a pull request or a review document)."""
        t = self.terms
        title = t.fields.get("title", t.heading) if t is not None else "no terms file"
        out = [
            f"### {self.policy_id} {self.version}: clause traceability",
            "",
            f"Terms: {title} ({self.terms_file}). {self._summary()}.",
            "",
            "| clause | text | cited by | out of scope | tests |",
            "|---|---|---|---|---|",
        ]
        for r in self.rows:
            cells = [
                f"**{r.id}**",
                _short_text(r.text) if r.text is not None else "",
                _citation_list(r.cited_by, markdown=True) or "—",
                r.out_of_scope or "",
                _case_list(r.cases) if r.out_of_scope is None else "",
            ]
            out.append("| " + " | ".join(_cell(c) for c in cells) + " |")
        return "\n".join(out)


def _short_text(text: str) -> str:
    return Clause("", text, None, Span(None, 0, 0, 0, 0)).short()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _citation_list(cites: list[Citation], markdown: bool = False) -> str:
    parts = []
    for c in cites:
        where = f"{Path(c.span.path).name}:{c.span.line}"
        parts.append(
            f"{c.kind} `{c.name}` ({where})" if markdown else f"{c.kind} {c.name} ({where})"
        )
    return ", ".join(parts)


def _case_list(cases: list[tuple[str, str]]) -> str:
    if not cases:
        return "none"
    first = cases[0][1]
    if len(first) > 48:
        first = first[:48].rsplit(" ", 1)[0] + "…"
    files = ", ".join(dict.fromkeys(f for f, _ in cases))
    return f'{len(cases)} case(s) in {files}, e.g. "{first}"'


def traceability(
    policy_id: str,
    version: str,
    tree: A.PolicyFile,
    path: str | Path,
    terms: Terms | None,
    cases: Iterable[tuple[str, str, Iterable[str]]],
    read_module: ModuleReader | None = None,
) -> Traceability:
    """The matrix of a policy version: every clause of its terms (without terms, every clause it
    cites) with the items citing it, its out-of-scope reason, and the test cases (file, name,
    clauses exercised) that exercise it."""
    cites = policy_citations(tree, path, read_module)
    scoped = {o.clause: o.reason for o in tree.header.out_of_scope}
    by_clause: dict[str, list[Citation]] = {}
    for c in cites:
        by_clause.setdefault(c.clause, []).append(c)
    tested: dict[str, list[tuple[str, str]]] = {}
    for file, name, clauses in cases:
        for cid in dict.fromkeys(clauses):
            tested.setdefault(cid, []).append((file, name))
    if terms is not None:
        ids = terms.ids + [c for c in [*by_clause, *scoped] if terms.get(c) is None]
    else:
        ids = sorted({*by_clause, *scoped}, key=_natural)
    rows = []
    for cid in dict.fromkeys(ids):
        clause = terms.get(cid) if terms is not None else None
        rows.append(
            ClauseTrace(
                cid,
                clause.text if clause is not None else None,
                clause.original if clause is not None else None,
                by_clause.get(cid, []),
                scoped.get(cid),
                tested.get(cid, []),
            )
        )
    return Traceability(policy_id, version, terms, terms_path(path).name, rows)


def _natural(cid: str) -> tuple[object, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", cid))
