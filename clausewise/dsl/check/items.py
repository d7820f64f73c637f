"""The items of a policy: the header, rules, decisions, tables, requirements and the output."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .. import ast as A
from .. import reasons
from .. import types as T
from ..ast import span_of
from ..diagnostics import ERROR, PolicySyntaxError, Span, did_you_mean
from ..parser import parse_expression_at
from ..tables import check_table
from ..typed import (
    BoolOp,
    Comp,
    Const,
    Decision,
    If,
    ListLit,
    Node,
    RecordLit,
    Requirement,
    Rule,
    RuleMeta,
)
from ..types import Type
from .common import text_of, widen
from .comprehensions import ComprehensionChecks
from .state import CheckedDecision, CheckedRule, Env, Scope


class ItemChecks(ComprehensionChecks):
    """Checking the items of a policy."""

    def _check_header(self, hdr: A.Header) -> None:
        if hdr.kind != "policy":
            return
        if not hdr.version:
            self.error(
                "missing-version",
                "the policy header has no `version`",
                hdr.span,
                'add `version "1.0.0"` (a semantic version)',
            )
        elif not _is_semver(hdr.version):
            self.error(
                "invalid-version",
                f"`{hdr.version}` is not a semantic version",
                hdr.span,
                'write it as MAJOR.MINOR.PATCH, e.g. "1.2.0"',
            )
        for what, value in (("input", hdr.input_schema), ("output", hdr.output_schema)):
            if not value:
                self.error(
                    "missing-schema",
                    f"the policy header names no {what} schema",
                    hdr.span,
                    f'add `{what} schema "{what}.schema.json"`',
                )
        eff = hdr.effective
        if eff is not None:
            if eff.zone is not None:
                try:
                    from zoneinfo import ZoneInfo

                    ZoneInfo(eff.zone)
                except Exception:
                    self.error(
                        "unknown-time-zone",
                        f"unknown time zone `{eff.zone}`",
                        eff.span,
                        'use an IANA name such as "America/Los_Angeles"',
                    )
            for v in (eff.start, eff.until):
                if v is not None and not _on_calendar_in_utc(v, eff.zone):
                    self.error(
                        "literal-out-of-range",
                        f"the effective instant {v.isoformat()} falls outside years 1-9999 in UTC",
                        eff.span,
                    )
                else:
                    self._check_wall_clock(v, eff.zone, eff.span)
                if isinstance(v, dt.datetime) and v.tzinfo is None and eff.zone is None:
                    self.error(
                        "missing-time-zone",
                        "an effective instant without an offset needs a zone",
                        eff.span,
                        'add `in "Area/City"` or write the offset (`Z`, `-07:00`)',
                    )

    def _check_wall_clock(self, v: object, zone_name: str | None, span: Span) -> None:
        """A local time (an effective start or end, a constant `in_zone`) that a change of
        clocks makes non-existent or twofold is read by a documented rule, and said so, not
        shifted silently."""
        from ..zones import wall_clock_problem

        if zone_name is None or not isinstance(v, dt.date):
            return
        local = v if isinstance(v, dt.datetime) else dt.datetime(v.year, v.month, v.day)
        if local.tzinfo is not None:
            return
        try:
            problem = wall_clock_problem(local, zone_name)
        except Exception:
            return  # an unknown zone is reported on its own
        if problem is None:
            return
        stamp = local.isoformat(timespec="minutes")
        if problem == "gap":
            message = f"{stamp} does not exist in {zone_name}: the clocks skip it"
            rule = (
                "it is read with the offset before the gap, i.e. as much later as the gap is long"
            )
        else:
            message = f"{stamp} occurs twice in {zone_name}: the clocks go back over it"
            rule = "it is read as the earlier of the two"
        self.warn(
            "ambiguous-local-time",
            message,
            span,
            f"{rule}; write the instant with its offset (`Z`, `-07:00`) to say which one",
        )

    def _schema_type(self, schema: dict[str, Any], what: str, span: Span) -> Type:
        if not schema:
            return T.ANY
        try:
            return T.schema_type(schema, absent_is_null=what == "input")
        except T.SchemaError as e:
            self.error("invalid-schema", f"the {what} schema cannot be used: {e}", span)
            return T.ANY

    def _definition_body(self, item: Any, env: Env, name: str) -> Node:
        if isinstance(item, A.Let):
            return self.expr(item.body, env)
        if isinstance(item, A.Rule):
            return self._rule_body(item, env, owner="")
        if isinstance(item, A.Decision):
            return self._decision_body(item, env)
        if isinstance(item, A.Table):
            return self._table_body(item, env)
        raise AssertionError(item)

    def _new_rule(
        self,
        name: str,
        reason: str,
        cites: tuple[str, ...],
        span: Span,
        owner: str,
        kind: str = "rule",
    ) -> int:
        rid = len(self.rules)
        self.rules.append(RuleMeta(rid, name, reason, cites, span, owner, kind, self._params))
        return rid

    def _rule_body(self, rule: A.Rule, env: Env, owner: str) -> Rule:
        rid = self._new_rule(rule.name, rule.reason, rule.cites, rule.span, owner)
        renv = env.in_rule(rid)
        when = self._test_site(self.expr(rule.when, renv), rule.when, renv, True)
        when = self._expect(when, T.BOOL, span_of(rule.when), "a rule's condition")
        self.checked_rules.append(CheckedRule(rule, when, owner))
        then = None
        if rule.then is not None:
            then = self.expr(rule.then, renv.with_facts(self.facts(rule.when, True, env)))
        if reasons.has_placeholders(rule.reason):
            # a reason is shown when its rule applies: its placeholders see what `when` proved
            penv = renv.with_facts(self.facts(rule.when, True, env))
            self.rules[rid].placeholders = self._placeholders(rule, penv)
        return Rule(rid, when, then, type=T.BOOL, span=rule.span)

    def _placeholders(self, rule: A.Rule, env: Env) -> tuple[Node, ...]:
        """The checked expressions of the `{...}` placeholders of a rule's reason."""
        place = reasons.raw_reason(rule.span)
        source = rule.span.source
        if place is None or source is None:
            return ()
        start, end = place
        try:
            _, places = reasons.split(source.text[start:end])
        except reasons.TemplateError as e:
            self.error(
                "bad-placeholder",
                str(e),
                _span_at(source, start + e.offset, start + e.offset + 1),
                "a placeholder is an expression between braces: `{count(orders)}`; "
                "`{{` and `}}` are literal braces",
            )
            return ()
        out: list[Node] = []
        for a, b in places:
            try:
                expr = parse_expression_at(source, start + a, start + b)
            except PolicySyntaxError as err:
                whole = _span_at(source, start + a - 1, start + b + 1)
                for d in err.diagnostics:
                    # an error past the placeholder's end (an unclosed `(`) is the placeholder's
                    inside = (d.span.line, d.span.col) <= (whole.end_line, whole.end_col)
                    self.error(
                        d.code,
                        f"in the placeholder `{whole.text()}`: "
                        + (d.message if inside else d.message.replace("of file", "of it")),
                        d.span if inside else whole,
                        d.help,
                    )
                continue
            out.append(self.expr(expr, env))
        return tuple(out)

    def _decision_body(self, d: A.Decision, env: Env) -> Node:
        cases: list[tuple[int, Node, Node]] = []
        result: Type | None = T.NEVER
        for r in d.rules:
            body = self._rule_body(r, env, owner=d.name)
            rid, when, then = body.rid, body.when, body.then
            if then is None:
                then = Const(r.name, type=T.enum((r.name,), closed=False), span=r.span)
            if r.priority is not None and d.strategy != "priority":
                self.error(
                    "priority-needs-strategy",
                    "`priority` only applies in a `priority` decision",
                    r.span,
                    f"declare the decision as `decision {d.name} priority`",
                )
            u = T.unify(result, then.type) if result is not None else None
            if u is None:
                self.error(
                    "type-mismatch",
                    f"rule `{r.name}` gives {then.type}, but earlier rules give {result}",
                    span_of(r.then) if r.then else span_of(r),
                )
                u = T.ANY
            result = u
            cases.append((rid, when, then))
        if d.strategy == "priority":
            order = sorted(range(len(d.rules)), key=lambda i: -(d.rules[i].priority or 0))
            cases = [cases[i] for i in order]
        default = None
        if d.default is not None:
            default = self.expr(d.default, env)
            u = T.unify(result or T.NEVER, default.type)
            if u is None:
                self.error(
                    "type-mismatch",
                    f"`else` gives {default.type}, but the rules give {result}",
                    span_of(d.default),
                )
                u = T.ANY
            result = u
        assert result is not None
        if d.strategy == "collect":
            rtype: Type = T.list_of(result)
        elif default is None:
            rtype = T.opt(result) if result != T.NEVER else T.NULL
        else:
            rtype = result
        strategy = "first" if d.strategy == "priority" else d.strategy
        cases = [(rid, w, widen(then, result)) for rid, w, then in cases]
        default = widen(default, result) if default is not None else None
        self.checked_decisions.append(CheckedDecision(d, tuple((rid, w) for rid, w, _ in cases)))
        return Decision(strategy, tuple(cases), default, d.name, type=rtype, span=d.span)

    def _table_body(self, t: A.Table, env: Env) -> Node:
        params = t.params
        ptypes = [env.locals[p.name][1] if p.name in env.locals else T.ANY for p in params]
        analysis = check_table(t, ptypes)
        for code, sev, msg, span, hlp in analysis.problems:
            (self.error if sev == ERROR else self.warn)(code, msg, span, hlp)
        if analysis.gap is not None:
            code, _, msg, span, hlp = analysis.gap
            call = self._call_sites[-1] if self._call_sites else None
            if call is not None and call.path != span.path and any(p.type is None for p in params):
                # the gap comes from the types this call gives the table's columns
                types = ", ".join(f"{p.name}: {pt}" for p, pt in zip(params, ptypes, strict=True))
                msg = f"{msg} when called with {types} (the table is at {span.location()})"
                span = call
            self.error(code, msg, span, hlp)
        cases: list[tuple[int, Node, Node]] = []
        result: Type = T.NEVER
        default = None
        for n, row in enumerate(t.rows, 1):
            if row.cells is None:
                default = self.expr(row.result, env)
                result = T.unify(result, default.type) or T.ANY
                continue
            rid = self._new_rule(
                f"{t.name} row {n}",
                f"row {n} of table `{t.name}`",
                t.cites,
                row.span,
                t.name,
                "row",
            )
            renv = env.in_rule(rid)
            if len(row.cells) != len(params):
                self.error(
                    "table-arity",
                    f"row {n} has {len(row.cells)} cells for {len(params)} columns",
                    row.span,
                )
                continue
            tests = []
            for p, cell in zip(params, row.cells, strict=True):
                test = self._cell_test(p, cell, renv)
                if test is not None:
                    tests.append(test)
            cond = (
                BoolOp("and", tuple(tests), type=T.BOOL, span=row.span)
                if len(tests) > 1
                else tests[0]
                if tests
                else Const(True, type=T.BOOL, span=row.span)
            )
            value = self.expr(row.result, renv)
            u = T.unify(result, value.type)
            if u is None:
                self.error(
                    "type-mismatch",
                    f"row {n} gives {value.type}, earlier rows give {result}",
                    span_of(row.result),
                )
                u = T.ANY
            result = u
            cases.append((rid, cond, value))
        # a table that may have gaps gives null when no row matches
        rtype = result if (default is not None or analysis.complete) else T.opt(result)
        cases = [(rid, cond, widen(value, result)) for rid, cond, value in cases]
        default = widen(default, result) if default is not None else None
        return Decision("first", tuple(cases), default, t.name, type=rtype, span=t.span)

    def _cell_test(self, p: A.Param, cell: A.Cell, env: Env) -> Node | None:
        col = A.Name(p.name, cell.span)
        if cell.kind == "any":
            return None
        expr: A.Expr
        if cell.kind == "cmp":
            expr = A.Binary(cell.op or "==", col, cell.values[0], cell.span)
        elif cell.kind == "range":
            expr = A.Binary(
                "in",
                col,
                A.RangeExpr(cell.values[0], cell.values[1], cell.half_open, cell.span),
                cell.span,
            )
        elif len(cell.values) == 1:
            expr = A.Binary("==", col, cell.values[0], cell.span)
        else:
            expr = A.Binary("in", col, A.ListLit(cell.values, cell.span), cell.span)
        return self.expr(expr, env)

    def _check_require(self, req: A.Require, scope: Scope) -> Requirement:
        self._deps_stack.append(set())
        env = Env(scope)
        fors = []
        paths: dict[str, tuple[Any, ...]] = {}
        for i, fc in enumerate(req.fors):
            src = self.expr(fc.source, env)
            base = self._input_path(fc.source, paths)
            # `for m in [c.from, c.to]`: fields of the input, each reported at its own path
            fields = (
                tuple(self._input_path(x, paths) for x in fc.source.items)
                if isinstance(fc.source, A.ListLit) and fc.source.items
                else ()
            )
            if None in fields:
                fields = ()
            if fields:
                base = ()
            if base is None:
                self.error(
                    "require-path",
                    "`for` in a `require` must walk a list of the input",
                    span_of(fc.source),
                    "write `for x in input.items`",
                )
                base = ()
            elem = T.strip(src.type)
            if not isinstance(elem, T.ListT):
                if src.type != T.ANY:
                    self.error(
                        "not-a-list",
                        f"`{text_of(fc.source)}` is {src.type}, not a list",
                        span_of(fc.source),
                    )
                elem_t: Type = T.ANY
            else:
                elem_t = elem.elem
            py = self.fresh(f"r_{fc.var}")
            env = env.with_local(fc.var, py, elem_t)
            paths[fc.var] = (("alt", i, fields),) if fields else (*base, ("idx", i))
            where = None
            if fc.where is not None:
                where = self.expr(fc.where, env)
                where = self._expect(where, T.BOOL, span_of(fc.where), "a `where` filter")
                env = env.with_facts(self.facts(fc.where, True, env))
            fors.append((py, src, where, paths[fc.var]))
        cond = self.expr(req.cond, env)
        cond = self._expect(cond, T.BOOL, span_of(req.cond), "a requirement")
        at = self._input_path(req.at, paths)
        if at is None:
            self.error(
                "require-path",
                "`at` must name a field of the input",
                span_of(req.at),
                "e.g. `at input.code_entered_at` or `at c.amount.currency`",
            )
            at = ()
        else:
            self.expr(req.at, env.with_facts(self.facts(req.cond, False, env)))
        deps = self._deps_stack.pop()
        return Requirement(req.code, tuple(fors), cond, at, req.message, req.span, deps)

    def _input_path(self, e: A.Expr, paths: dict[str, tuple[Any, ...]]) -> tuple[Any, ...] | None:
        if isinstance(e, A.InputRef):
            return ()
        if isinstance(e, A.Name) and e.id in paths:
            return paths[e.id]
        if isinstance(e, A.Field):
            base = self._input_path(e.obj, paths)
            return None if base is None else (*base, e.name)
        return None

    def _check_output_shape(self, e: A.Expr, node: Node, want: Type, where: str) -> None:
        """Compare the output expression with the output schema, pointing at the right field."""
        if want == T.ANY:
            return
        inner = T.strip(want)
        if isinstance(e, A.RecordLit) and isinstance(inner, T.RecordT):
            have = dict(e.fields)
            names = [k for k, _ in inner.fields]
            for k, expr in e.fields:
                if k not in names:
                    self.error(
                        "unknown-output-field",
                        f"`{where}.{k}` is not in the output schema",
                        span_of(expr),
                        did_you_mean(k, names) or f"the schema has: {', '.join(names)}",
                    )
            for k, t in inner.fields:
                if k not in have:
                    self.error(
                        "missing-output-field",
                        f"`{where}.{k}` is required by the output schema",
                        e.span,
                        f"add `{k}: ...` ({t})",
                    )
            if isinstance(node, RecordLit):
                sub = dict(node.fields)
                for k, t in inner.fields:
                    if k in have and k in sub:
                        self._check_output_shape(have[k], sub[k], t, f"{where}.{k}")
            return
        if isinstance(e, A.ListComp) and isinstance(inner, T.ListT) and isinstance(node, Comp):
            self._check_output_shape(e.comp.elem, node.elem, inner.elem, f"{where}[]")
            return
        if isinstance(e, A.ListLit) and isinstance(inner, T.ListT) and isinstance(node, ListLit):
            for sub_e, sub_n in zip(e.items, node.items, strict=False):
                self._check_output_shape(sub_e, sub_n, inner.elem, f"{where}[]")
            return
        if isinstance(e, A.If) and isinstance(node, If):
            self._check_output_shape(e.then, node.then, want, where)
            self._check_output_shape(e.orelse, node.orelse, want, where)
            return
        node = self._as(node, want)
        if not T.assignable(node.type, want):
            self.error(
                "output-type",
                f"`{where}` is {node.type}, but the output schema wants {want}",
                span_of(e),
                "check for a missing `?? default` or a wrong field"
                if T.is_nullable(node.type)
                else None,
            )

    def _field_deps(self, body: A.Expr, scope: Scope) -> dict[str, set[str]]:
        """For `why not`: which definitions each top-level output field depends on."""
        out: dict[str, set[str]] = {}
        if isinstance(body, A.RecordLit):
            for k, e in body.fields:
                names = {n.id for n in A.walk(e) if isinstance(n, A.Name)}
                out[k] = {n for n in names if n in scope.defs}
        return out


def _on_calendar_in_utc(v: dt.date | dt.datetime, zone_name: str | None) -> bool:
    """Whether an effective instant (a date is its start of day) in `zone_name` is an instant
    of years 1-9999 in UTC, as the loader reads it."""
    try:
        from zoneinfo import ZoneInfo

        z: dt.tzinfo = ZoneInfo(zone_name) if zone_name else dt.UTC
    except Exception:
        return True  # an unknown zone is reported on its own
    if not isinstance(v, dt.datetime):
        v = dt.datetime(v.year, v.month, v.day)
    try:
        (v if v.tzinfo else v.replace(tzinfo=z)).astimezone(dt.UTC)
    except OverflowError:
        return False
    return True


def _is_semver(v: str) -> bool:
    import re

    return re.fullmatch(r"\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?", v) is not None


def _span_at(source: Any, start: int, end: int) -> Span:
    """The span of `source.text[start:end]` (on one line)."""
    line = source.text.count("\n", 0, start) + 1
    col = start - (source.text.rfind("\n", 0, start) + 1) + 1
    return Span(source, line, col, line, col + end - start, start, end)
