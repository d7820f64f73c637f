"""The HTTP routes of the decision service (Starlette), a thin shell over `clausewise.Engine`.

A decision request reads the active snapshot once, decides with its engine, hands the record to
the decision log and answers only after the log said the record is durable: an answer with a
`decision_id` is a decision that is in the log. Every other failure answers without a decision
and without a record. Status codes and bodies are documented in docs/server.md.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import importlib
import json
import signal
import sys
import time
import traceback
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import Decision, EvaluationError, InputError, InputLimits, UnknownPolicyError, loads_input
from ..dsl.diagnostics import shown_path
from ..dsl.runtime import parse_datetime
from ..engine.store import version_key
from ..log import (
    DecisionLog,
    DecisionRecord,
    LogUnavailableError,
    RecordExplainer,
    new_decision_id,
    parse_time,
)
from . import outcome_of
from .auth import BearerAuth, Tokens
from .metrics import CONTENT_TYPE_LATEST, ServiceMetrics
from .openapi import build_openapi
from .shadow import shadow_report
from .snapshot import ReloadResult, Snapshot, SnapshotHolder

_orjson: Any
try:  # faster answers where installed (the server extra brings it)
    _orjson = importlib.import_module("orjson")
except ImportError:  # pragma: no cover
    _orjson = None

TRACE_LEVELS = ("off", "rules", "full")
_DECISION_KEYS = frozenset({"input", "version", "at", "trace"})
_BATCH_KEYS = frozenset({"inputs", "version", "at", "trace"})
MAX_PAGE = 1000


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """Settings of one service process (the `clausewise serve` options)."""

    policies: Path
    tokens: Tokens = field(default_factory=lambda: Tokens(None, None))
    max_body_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_number_digits: int = 100
    max_batch: int = 100
    watch: bool = True
    watch_debounce_ms: int = 200
    shadow: dict[str, str] = field(default_factory=dict)  # policy id -> candidate version
    log_description: str = "off"


class ApiError(Exception):
    """An answer without a decision: status, stable code, JSON pointer and message."""

    def __init__(self, status: int, code: str, message: str, path: str = "", **extra: Any):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "path": path, "message": message, **extra}


def _dumps(body: Any) -> bytes:
    if _orjson is not None:
        try:
            return _orjson.dumps(body)
        except TypeError:  # integers past 64 bits, lone surrogates: the standard encoder takes them
            pass
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _json(body: Any, status: int = 200) -> Response:
    return Response(_dumps(body), status, media_type="application/json")


def _error(e: ApiError) -> Response:
    return _json({"error": e.body}, e.status)


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat().replace("+00:00", "Z")


def _query_time(q: Any, name: str) -> dt.datetime | None:
    """`since`/`until` of a query: RFC 3339, a date, or a duration ago (`24h`, `7d`)."""
    if name not in q:
        return None
    try:
        return parse_time(q[name])
    except ValueError as e:
        raise ApiError(400, "invalid_request", str(e), name) from None


def _parse_time(value: Any, path: str) -> dt.datetime:
    if not isinstance(value, str):
        raise ApiError(400, "invalid_request", "expected an RFC 3339 date-time string", path)
    try:
        t = parse_datetime(value, "optional")
    except ValueError:
        raise ApiError(
            400, "invalid_request", f"`{value[:40]}` is not an RFC 3339 date-time", path
        ) from None
    if t.tzinfo is None:
        raise ApiError(400, "invalid_request", "the date-time needs an offset (Z or +HH:MM)", path)
    return t


@dataclass(slots=True)
class _Options:
    version: str | None
    at: dt.datetime | None
    trace: str


def _options(body: dict[str, Any]) -> _Options:
    version = body.get("version")
    if version is not None and not isinstance(version, str):
        raise ApiError(400, "invalid_request", "`version` must be a string", "/version")
    at = body.get("at")
    when = _parse_time(at, "/at") if at is not None else None
    trace = body.get("trace", "off")
    if trace is None:
        trace = "off"
    if trace not in TRACE_LEVELS:
        raise ApiError(
            400, "invalid_request", f"`trace` must be one of {', '.join(TRACE_LEVELS)}", "/trace"
        )
    return _Options(version, when, trace)


def _envelope(data: Any, keys: frozenset[str], required: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_request", "the body must be a JSON object", "")
    for k in data:
        if k not in keys:
            raise ApiError(
                400,
                "invalid_request",
                f"unknown field `{k}` (expected {', '.join(sorted(keys))})",
                "/" + k.replace("~", "~0").replace("/", "~1"),
            )
    if required not in data:
        raise ApiError(400, "invalid_request", f"the body needs `{required}`", "/" + required)
    return data


class Service:
    """The state of one service process: the snapshot holder, the log, the metrics, settings."""

    def __init__(self, config: ServiceConfig, holder: SnapshotHolder, log: DecisionLog):
        self.config = config
        self.holder = holder
        self.log = log
        self.metrics = ServiceMetrics()
        self.limits = InputLimits(
            max_depth=config.max_depth,
            max_number_digits=config.max_number_digits,
            max_bytes=config.max_body_bytes,
        )
        self._openapi: tuple[str, bytes] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        backlog = getattr(log, "backlog", None)
        self.metrics.watch_log(
            (lambda: float(backlog())) if callable(backlog) else (lambda: 0.0), log.healthy
        )
        self._counters: dict[tuple[str, str, str], Any] = {}
        self._latencies: dict[str, Any] = {}
        self.explainer = RecordExplainer(log, self._active_engine)
        # every set is kept in the log before it decides, so its decisions can be explained
        holder.on_activate = self._keep_revision
        if holder.current is not None:
            self._keep_revision(holder.current)
            self._activated(holder.current)

    def counted(self, policy_id: str, version: str, outcome: str) -> None:
        """Count a decision; the labelled counter is looked up once per label set."""
        key = (policy_id, version, outcome)
        counter = self._counters.get(key)
        if counter is None:
            counter = self._counters[key] = self.metrics.decisions.labels(*key)
        counter.inc()

    def timed(self, policy_id: str, seconds: float) -> None:
        """Observe a decision's latency (the labelled histogram looked up once per policy)."""
        histogram = self._latencies.get(policy_id)
        if histogram is None:
            histogram = self._latencies[policy_id] = self.metrics.latency.labels(policy_id)
        histogram.observe(seconds)

    def _active_engine(self) -> tuple[str, Any] | None:
        snap = self.holder.current
        return None if snap is None else (snap.revision, snap.engine)

    def _keep_revision(self, snap: Snapshot) -> None:
        # the folder as the set's traces name it, so explanations rendered from the stored
        # files name the files as the live decisions did
        self.log.save_revision(snap.revision, shown_path(str(snap.root)), snap.files)

    # -- reload --------------------------------------------------------------------------------

    def _activated(self, snap: Snapshot) -> None:
        self.metrics.set_active(snap.revision, snap.loaded_at.timestamp())
        _settle_heap()

    def on_reload(self, res: ReloadResult) -> None:
        """Count a reload and say what happened on standard error (called from the reload thread)."""
        self.metrics.reloads.labels(res.result).inc()
        self.metrics.reload_failing.set(1 if res.result == "failed" else 0)
        if res.result == "ok" and self.holder.current is not None:
            self._activated(self.holder.current)
            _say(f"reload ({res.trigger}): now serving revision {res.revision}")
        elif res.result == "failed":
            _say(
                f"reload ({res.trigger}) failed, still serving {res.revision}: {res.error}"
                + "".join(
                    f"\n  {d.get('file')}:{d.get('line')}:{d.get('col')}: {d.get('message')}"
                    for d in res.diagnostics
                )
            )

    def trigger_reload(self, trigger: str) -> None:
        """Start a reload in the background (SIGHUP, file changes)."""
        task = asyncio.ensure_future(self.holder.reload(trigger))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a file under the policy folder changes."""
        from watchfiles import awatch

        async for _changes in awatch(
            self.config.policies,
            stop_event=stop,
            debounce=self.config.watch_debounce_ms,
            step=50,
            recursive=True,
            ignore_permission_denied=True,
        ):
            await self.holder.reload("watch")

    # -- helpers -------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        snap = self.holder.current
        if snap is None:
            raise ApiError(503, "no_policy_set", "no policy set is active")
        return snap

    async def read_json(self, request: Request) -> Any:
        limit = self.config.max_body_bytes
        length = request.headers.get("content-length")
        if length is not None:
            try:
                declared = int(length)
            except ValueError:
                raise ApiError(400, "invalid_request", "Content-Length is not a number") from None
            if declared > limit:
                raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"the body is larger than {limit} bytes")
            chunks.append(chunk)
        try:
            return loads_input(b"".join(chunks), self.limits)
        except InputError as e:
            status = 413 if e.code == "input_too_large" else 400
            raise ApiError(status, e.code, e.message, e.path) from None

    def _resolve(self, snap: Snapshot, policy_id: str, opts: _Options) -> Any:
        try:
            return snap.engine.policy(policy_id, version=opts.version, at=opts.at)
        except KeyError as e:
            store = snap.engine.store
            code = (
                "unknown_policy"
                if policy_id not in store.policies
                else "unknown_version"
                if opts.version is not None
                else "no_version_in_force"
            )
            raise ApiError(404, code, str(e.args[0]) if e.args else str(e)) from None
        except ValueError as e:
            raise ApiError(400, "invalid_request", str(e), "/at") from None

    def decide_one(
        self, snap: Snapshot, policy_id: str, data: Any, opts: _Options, now: dt.datetime
    ) -> tuple[dict[str, Any], list[DecisionRecord]]:
        """Decide one input: the answer and the records to log. Raises `ApiError` for no decision."""
        engine = snap.engine
        try:
            # traced only when the caller asks: the log keeps no explanation, it is rendered
            # when the record is read (`RecordExplainer`)
            decision = engine.evaluate(
                policy_id, data, trace=opts.trace, version=opts.version, at=opts.at
            )
        except InputError as e:
            self.metrics.rejected.labels("422", e.code).inc()
            raise ApiError(422, e.code, e.message, e.path) from None
        except EvaluationError as e:
            self.metrics.policy_failures.labels(policy_id, opts.version or "", e.code).inc()
            raise ApiError(
                500, e.code, f"the policy failed on this input: {e.message}", location=e.location
            ) from None
        except Exception as e:  # a fault of the engine on this input: not the caller's, no decision
            traceback.print_exc(file=sys.stderr)
            self.metrics.policy_failures.labels(
                policy_id, opts.version or "", "internal_error"
            ).inc()
            raise ApiError(
                500, "internal_error", f"evaluation failed on this input ({type(e).__name__})"
            ) from None
        lp = engine.store.policies[policy_id][decision.version]
        outcome = outcome_of(decision.output, lp.program.output_schema)
        decision_id = new_decision_id()
        records = [
            DecisionRecord(
                decision_id=decision_id,
                time=now,
                policy=policy_id,
                version=decision.version,
                revision=snap.revision,
                input=data,
                output=decision.output,
                outcome=outcome,
                explanation=None,
                trace=None,
            )
        ]
        candidate = self.config.shadow.get(policy_id)
        if candidate is not None and candidate != decision.version:
            shadow = self._shadow(snap, policy_id, candidate, data, decision, decision_id, now)
            if shadow is not None:
                records.append(shadow)
        answer: dict[str, Any] = {
            "decision_id": decision_id,
            "policy": policy_id,
            "version": decision.version,
            "revision": snap.revision,
            "output": decision.output,
        }
        if opts.trace != "off":
            answer["explanation"] = decision.explain()
            answer["trace"] = decision.trace
        return answer, records

    def _shadow(
        self,
        snap: Snapshot,
        policy_id: str,
        candidate: str,
        data: Any,
        live: Decision,
        live_id: str,
        now: dt.datetime,
    ) -> DecisionRecord | None:
        versions = snap.engine.store.policies.get(policy_id, {})
        if candidate not in versions:
            return None  # the candidate left the set in a reload: nothing to compare
        try:
            d = snap.engine.evaluate(policy_id, data, version=candidate)
            output = d.output
            outcome = outcome_of(output, versions[candidate].program.output_schema)
        except (InputError, EvaluationError) as e:
            # the candidate's failure is part of the impact of the change, recorded as such
            output, outcome = {"error": e.to_json()}, f"error={e.code}"
        except Exception as e:  # never let the candidate fail the live decision
            traceback.print_exc(file=sys.stderr)
            error = {"code": "internal_error", "path": "", "message": type(e).__name__}
            output, outcome = {"error": error}, "error=internal_error"
        self.metrics.shadow_decisions.labels(
            policy_id, candidate, "true" if output != live.output else "false"
        ).inc()
        return DecisionRecord(
            decision_id=new_decision_id(),
            time=now,
            policy=policy_id,
            version=candidate,
            revision=snap.revision,
            input=data,
            output=output,
            outcome=outcome,
            explanation=None,
            trace=None,
            kind="shadow",
            shadow_of=live_id,
        )

    async def commit(self, records: Sequence[DecisionRecord]) -> None:
        """Wait until the records are durable; 503 when they cannot be."""
        if not records:
            return
        t0 = time.perf_counter()
        try:
            await self.log.append_async(records)
        except LogUnavailableError as e:
            self.metrics.rejected.labels("503", "log_unavailable").inc()
            raise ApiError(
                503, "log_unavailable", f"the decision cannot be recorded: {e}"
            ) from None
        except Exception as e:  # whatever the cause, an unrecorded decision is not answered
            self.metrics.rejected.labels("503", "log_unavailable").inc()
            raise ApiError(
                503, "log_unavailable", f"the decision cannot be recorded: {type(e).__name__}"
            ) from None
        self.metrics.log_commit.observe(time.perf_counter() - t0)

    def openapi(self) -> bytes:
        snap = self.snapshot()
        cached = self._openapi
        if cached is not None and cached[0] == snap.revision:
            return cached[1]
        doc = build_openapi(
            snap,
            secured=self.config.tokens.client is not None,
            max_batch=self.config.max_batch,
            max_bytes=self.config.max_body_bytes,
        )
        data = _dumps(doc)
        self._openapi = (snap.revision, data)
        return data


def _settle_heap() -> None:
    """Keep the collector off the long-lived objects (the active policy set, the app).

    A full collection walks every object the process holds; with a policy set loaded that took
    tens of milliseconds, twice a second under load, and set the 99th percentile latency.
    Frozen objects are never walked. Called when a set becomes active: the previous set's
    objects are unfrozen and collected first, so a reload leaves nothing behind.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _say(text: str) -> None:
    print(f"clausewise: {text}", file=sys.stderr, flush=True)


# -- routes -----------------------------------------------------------------------------------


def _service(request: Request) -> Service:
    svc: Service = request.app.state.service
    return svc


async def post_decision(request: Request) -> Response:
    svc = _service(request)
    target: str = request.path_params["target"]
    started = time.perf_counter()
    try:
        snap = svc.snapshot()
        store = snap.engine.store
        if target not in store.policies and target.endswith("/batch"):
            return await _batch(svc, snap, target[: -len("/batch")], request)
        if target not in store.policies:
            raise ApiError(404, "unknown_policy", f"unknown policy `{target}`")
        body = _envelope(await svc.read_json(request), _DECISION_KEYS, "input")
        opts = _options(body)
        svc._resolve(snap, target, opts)
        answer, records = svc.decide_one(snap, target, body["input"], opts, dt.datetime.now(dt.UTC))
        await svc.commit(records)
    except ApiError as e:
        if e.status not in (422, 503):
            svc.metrics.rejected.labels(str(e.status), e.body["code"]).inc()
        return _error(e)
    svc.counted(target, answer["version"], records[0].outcome)
    svc.timed(target, time.perf_counter() - started)
    return _json(answer)


async def _batch(svc: Service, snap: Snapshot, policy_id: str, request: Request) -> Response:
    if policy_id not in snap.engine.store.policies:
        raise ApiError(404, "unknown_policy", f"unknown policy `{policy_id}`")
    body = _envelope(await svc.read_json(request), _BATCH_KEYS, "inputs")
    inputs = body["inputs"]
    if not isinstance(inputs, list):
        raise ApiError(400, "invalid_request", "`inputs` must be an array", "/inputs")
    if len(inputs) > svc.config.max_batch:
        raise ApiError(
            413,
            "batch_too_large",
            f"{len(inputs)} inputs is more than the limit of {svc.config.max_batch}",
            "/inputs",
        )
    opts = _options(body)
    svc._resolve(snap, policy_id, opts)
    now = dt.datetime.now(dt.UTC)
    results: list[dict[str, Any]] = []
    records: list[DecisionRecord] = []
    for data in inputs:
        try:
            answer, recs = svc.decide_one(snap, policy_id, data, opts, now)
        except ApiError as e:
            results.append({"status": e.status, "error": e.body})
            continue
        results.append(answer)
        records.extend(recs)
    await svc.commit(records)
    for r in records:
        if r.kind == "live":
            svc.counted(policy_id, r.version, r.outcome)
    return _json({"policy": policy_id, "revision": snap.revision, "results": results})


async def get_decision(request: Request) -> Response:
    svc = _service(request)
    decision_id: str = request.path_params["target"]
    try:
        record = await run_in_threadpool(svc.log.get, decision_id)
    except LogUnavailableError as e:
        return _error(ApiError(503, "log_unavailable", f"the log cannot be read: {e}"))
    if record is None:
        return _error(ApiError(404, "unknown_decision", f"no decision `{decision_id}` in the log"))
    record = await run_in_threadpool(svc.explainer.explain, record)
    return _json(record.to_json())


async def query_decisions(request: Request) -> Response:
    svc = _service(request)
    q = request.query_params
    try:
        since, until = _query_time(q, "since"), _query_time(q, "until")
        kind = q.get("kind", "live")
        if kind not in ("live", "shadow"):
            raise ApiError(400, "invalid_request", "`kind` is live or shadow", "kind")
        explain = q.get("explain", "false")
        if explain not in ("true", "false"):
            raise ApiError(400, "invalid_request", "`explain` is true or false", "explain")
        try:
            limit = int(q.get("limit", "100"))
        except ValueError:
            raise ApiError(400, "invalid_request", "`limit` must be a number", "limit") from None
        if not 1 <= limit <= MAX_PAGE:
            raise ApiError(400, "invalid_request", f"`limit` is 1 to {MAX_PAGE}", "limit")
        try:
            page, cursor = await run_in_threadpool(
                lambda: svc.log.query(
                    policy=q.get("policy"),
                    since=since,
                    until=until,
                    outcome=q.get("outcome"),
                    kind=kind,
                    limit=limit,
                    after=q.get("after"),
                )
            )
        except LogUnavailableError as e:
            raise ApiError(503, "log_unavailable", f"the log cannot be read: {e}") from None
        except ValueError as e:
            raise ApiError(400, "invalid_request", str(e), "after") from None
        if explain == "true":
            # each record is decided again: only on request, a page can be a thousand records
            page = await run_in_threadpool(lambda: [svc.explainer.explain(r) for r in page])
    except ApiError as e:
        return _error(e)
    return _json({"decisions": [r.to_json() for r in page], "next": cursor})


def _policy_json(snap: Snapshot, policy_id: str, detail: bool) -> dict[str, Any]:
    store = snap.engine.store
    versions = []
    for version, lp in sorted(store.policies[policy_id].items(), key=lambda kv: version_key(kv[0])):
        hdr = lp.program.header
        start, until = lp.effective_range()
        try:
            file = lp.path.relative_to(snap.root).as_posix()
        except ValueError:
            file = lp.path.as_posix()
        v: dict[str, Any] = {
            "version": version,
            "title": hdr.title,
            "source": hdr.source_doc,
            "file": file,
            "effective": {"from": _iso(start), "until": _iso(until)},
        }
        if detail:
            v["input_schema"] = lp.program.input_schema
            v["output_schema"] = lp.program.output_schema
            try:
                v["text"] = lp.path.read_text(encoding="utf-8")
            except OSError:
                v["text"] = ""
        versions.append(v)
    try:
        in_force: str | None = store.in_force_now(policy_id)[0].version
    except UnknownPolicyError:
        in_force = None  # every version is staged for later, or has ended
    latest = max(store.policies[policy_id], key=version_key)
    return {"id": policy_id, "latest": latest, "in_force": in_force, "versions": versions}


async def list_policies(request: Request) -> Response:
    svc = _service(request)
    try:
        snap = svc.snapshot()
    except ApiError as e:
        return _error(e)
    return _json(
        {
            "revision": snap.revision,
            "policies": [_policy_json(snap, pid, False) for pid in snap.engine.store.ids()],
        }
    )


async def get_policy(request: Request) -> Response:
    svc = _service(request)
    policy_id: str = request.path_params["policy_id"]
    try:
        snap = svc.snapshot()
        if policy_id not in snap.engine.store.policies:
            raise ApiError(404, "unknown_policy", f"unknown policy `{policy_id}`")
    except ApiError as e:
        return _error(e)
    return _json(await run_in_threadpool(_policy_json, snap, policy_id, True))


async def shadow(request: Request) -> Response:
    svc = _service(request)
    policy_id: str = request.path_params["policy_id"]
    q = request.query_params
    try:
        since, until = _query_time(q, "since"), _query_time(q, "until")
        try:
            report = await run_in_threadpool(
                lambda: shadow_report(svc.log, policy_id, since, until, explainer=svc.explainer)
            )
        except LogUnavailableError as e:
            raise ApiError(503, "log_unavailable", f"the log cannot be read: {e}") from None
    except ApiError as e:
        return _error(e)
    return _json(report)


async def health_live(request: Request) -> Response:
    return _json({"status": "live"})


async def health_ready(request: Request) -> Response:
    svc = _service(request)
    has_set = svc.holder.current is not None
    log_ok = svc.log.healthy()
    ready = has_set and log_ok
    body = {"status": "ready" if ready else "not ready", "policy_set": has_set, "log": log_ok}
    return _json(body, 200 if ready else 503)


async def status(request: Request) -> Response:
    svc = _service(request)
    snap = svc.holder.current
    last = svc.holder.last_reload
    failed = svc.holder.last_failure
    backlog = getattr(svc.log, "backlog", None)
    return _json(
        {
            "revision": snap.revision if snap else None,
            "loaded_at": _iso(snap.loaded_at) if snap else None,
            "policies": len(snap.engine.store.policies) if snap else 0,
            "last_reload": last.to_json() if last else None,
            "last_failed_reload": failed.to_json() if failed else None,
            "log": {
                "backend": svc.config.log_description,
                "healthy": svc.log.healthy(),
                "backlog": backlog() if callable(backlog) else 0,
            },
            "shadow": [f"{p}@{v}" for p, v in sorted(svc.config.shadow.items())],
        }
    )


async def admin_reload(request: Request) -> Response:
    svc = _service(request)
    res = await svc.holder.reload("admin")
    return _json(res.to_json(), 422 if res.result == "failed" else 200)


async def metrics(request: Request) -> Response:
    svc = _service(request)
    return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    svc = _service(request)
    try:
        return Response(svc.openapi(), media_type="application/json")
    except ApiError as e:
        return _error(e)


async def _http_error(request: Request, exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _json(
            {"error": {"code": code, "path": "", "message": str(exc.detail)}}, exc.status_code
        )
    return _json({"error": {"code": "http_error", "path": "", "message": str(exc)}}, 500)


async def _internal_error(request: Request, exc: Exception) -> Response:
    traceback.print_exception(exc, file=sys.stderr)
    return _json(
        {"error": {"code": "internal_error", "path": "", "message": "internal error"}}, 500
    )


_DECISIONS = "/v1/decisions/"


class _DecisionRoute:
    """ASGI: `POST /v1/decisions/{target}` straight to `post_decision`, the rest to Starlette.

    Deciding is the service's hot path, and Starlette's router and its two exception layers
    took a fifth of the application's time per decision. This does for that one route what
    they do: the path parameter, the app in the scope (`request.app`), and an unexpected
    exception answered by the same handler, as a JSON 500.
    """

    def __init__(self, app: Starlette):
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if (
            scope["type"] != "http"
            or scope["method"] != "POST"
            or not path.startswith(_DECISIONS)
            or scope.get("root_path")
        ):
            await self.app(scope, receive, send)
            return
        scope["app"] = self.app
        scope["path_params"] = {"target": path[len(_DECISIONS) :]}
        request = Request(scope, receive)
        try:
            response = await post_decision(request)
        except Exception as e:
            response = await _internal_error(request, e)
        await response(scope, receive, send)


def create_app(config: ServiceConfig, holder: SnapshotHolder, log: DecisionLog) -> Any:
    """The ASGI app of the service: routes behind the bearer-token check."""
    service = Service(config, holder, log)
    holder._on_reload = service.on_reload

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        watcher = asyncio.ensure_future(service.watch(stop)) if config.watch else None
        # no SIGHUP on Windows
        with suppress(NotImplementedError, RuntimeError, AttributeError):
            loop.add_signal_handler(signal.SIGHUP, service.trigger_reload, "SIGHUP")
        try:
            yield
        finally:
            stop.set()
            if watcher is not None:
                watcher.cancel()
                await asyncio.gather(watcher, return_exceptions=True)
            with suppress(NotImplementedError, RuntimeError, AttributeError):
                loop.remove_signal_handler(signal.SIGHUP)

    routes = [
        Route("/v1/decisions", query_decisions, methods=["GET"]),
        Route("/v1/decisions/{target:path}", post_decision, methods=["POST"]),
        Route("/v1/decisions/{target:path}", get_decision, methods=["GET"]),
        Route("/v1/policies", list_policies, methods=["GET"]),
        Route("/v1/policies/{policy_id:path}", get_policy, methods=["GET"]),
        Route("/v1/shadow/{policy_id:path}", shadow, methods=["GET"]),
        Route("/v1/status", status, methods=["GET"]),
        Route("/v1/admin/reload", admin_reload, methods=["POST"]),
        Route("/health/live", health_live, methods=["GET"]),
        Route("/health/ready", health_ready, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _internal_error},
    )
    app.state.service = service
    return BearerAuth(_DecisionRoute(app), config.tokens)
