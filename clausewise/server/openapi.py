"""The OpenAPI 3.1 document of the service, built from the active policy set.

Each policy gets paths of its own (`/v1/decisions/<policy id>`, `.../batch`, `/v1/policies/<policy
id>`, `/v1/shadow/<policy id>`) whose request and answer carry that policy's own input and
output JSON Schemas, so a client generated from the document is typed per policy. The schemas are
embedded under `components/schemas` as `<policy>.<version>.input` / `.output`; their `$defs`
become components of their own and every local `$ref` is rewritten to point there (in an OpenAPI
document a `#` reference resolves against the document, not against the schema it sits in).
"""

from __future__ import annotations

import re
from typing import Any

from .. import __version__
from .snapshot import Snapshot

TRACE_LEVELS = ["off", "rules", "full"]
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9.\-_]")


def component_name(*parts: str) -> str:
    """A component key (`^[A-Za-z0-9.-_]+$`) from a policy id, version and kind."""
    return ".".join(_UNSAFE_NAME.sub("_", p.replace("/", ".")) for p in parts)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _rewrite(node: Any, name: str) -> Any:
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str) and v.startswith("#"):
                out[k] = _local_ref(v, name)
            else:
                out[k] = _rewrite(v, name)
        return out
    if isinstance(node, list):
        return [_rewrite(v, name) for v in node]
    return node


def _local_ref(ref: str, name: str) -> str:
    pointer = ref[1:]
    if pointer.startswith("/$defs/"):
        key, _, rest = pointer[len("/$defs/") :].partition("/")
        key = key.replace("~1", "/").replace("~0", "~")
        return f"#/components/schemas/{component_name(name, key)}" + (f"/{rest}" if rest else "")
    return f"#/components/schemas/{name}{pointer}"


def embed_schema(schema: dict[str, Any], name: str, components: dict[str, Any]) -> None:
    """Put a JSON Schema (and its `$defs`) into `components` under `name`."""
    body = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}
    for key, sub in (schema.get("$defs") or {}).items():
        components[component_name(name, key)] = _rewrite(sub, name)
    components[name] = _rewrite(body, name)


def _error_responses(*codes: int) -> dict[str, Any]:
    text = {
        400: "The request is malformed (JSON, duplicate keys, nesting, a field of the request).",
        401: "A bearer token is missing or not valid.",
        403: "The admin route is disabled (no admin token is configured).",
        404: "Unknown policy, version, decision, or no version in force at `at`.",
        413: "The body or the batch is larger than the limit.",
        422: "The input does not meet the policy's input contract: no decision was made.",
        500: "The policy itself failed on this input (a fault of the policy): no decision.",
        503: "No decision can be recorded (the log does not accept writes) or no set is active.",
    }
    return {
        str(c): {
            "description": text[c],
            "content": {"application/json": {"schema": _ref("Error")}},
        }
        for c in codes
    }


def _common_components() -> dict[str, Any]:
    str_or_null = {"type": ["string", "null"]}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string"},
                        "path": {"type": "string"},
                        "message": {"type": "string"},
                        "location": {"type": "string"},
                        "diagnostics": {"type": "array", "items": {"type": "object"}},
                    },
                }
            },
        },
        "Trace": {"type": "object", "description": "The decision's trace (see the README)."},
        "DecisionRecord": {
            "type": "object",
            "required": [
                "decision_id",
                "time",
                "policy",
                "version",
                "revision",
                "input",
                "output",
            ],
            "properties": {
                "decision_id": {"type": "string"},
                "time": {"type": "string", "format": "date-time"},
                "policy": {"type": "string"},
                "version": {"type": "string"},
                "revision": {"type": "string"},
                "input": {},
                "output": {"type": "object"},
                "outcome": {"type": "string"},
                "explanation": str_or_null,
                "trace": {"type": ["object", "null"]},
                "kind": {"type": "string", "enum": ["live", "shadow"]},
                "shadow_of": str_or_null,
            },
        },
        "DecisionPage": {
            "type": "object",
            "required": ["decisions", "next"],
            "properties": {
                "decisions": {"type": "array", "items": _ref("DecisionRecord")},
                "next": str_or_null,
            },
        },
        "Reload": {
            "type": "object",
            "required": ["result", "trigger", "time", "revision", "diagnostics"],
            "properties": {
                "result": {"type": "string", "enum": ["ok", "unchanged", "failed"]},
                "trigger": {"type": "string"},
                "time": {"type": "string", "format": "date-time"},
                "revision": str_or_null,
                "attempted_revision": str_or_null,
                "error": str_or_null,
                "diagnostics": {"type": "array", "items": {"type": "object"}},
                "duration_seconds": {"type": "number"},
            },
        },
        "Status": {
            "type": "object",
            "required": ["revision", "loaded_at", "last_reload", "log"],
            "properties": {
                "revision": str_or_null,
                "loaded_at": str_or_null,
                "policies": {"type": "integer"},
                "last_reload": {"anyOf": [_ref("Reload"), {"type": "null"}]},
                "last_failed_reload": {"anyOf": [_ref("Reload"), {"type": "null"}]},
                "log": {"type": "object"},
                "shadow": {"type": "array", "items": {"type": "string"}},
            },
        },
        "PolicyVersion": {
            "type": "object",
            "required": ["version"],
            "properties": {
                "version": {"type": "string"},
                "title": str_or_null,
                "source": str_or_null,
                "file": {"type": "string"},
                "effective": {
                    "type": "object",
                    "properties": {"from": str_or_null, "until": str_or_null},
                },
                "input_schema": {"type": "object"},
                "output_schema": {"type": "object"},
                "text": {"type": "string"},
            },
        },
        "Policy": {
            "type": "object",
            "required": ["id", "versions", "latest", "in_force"],
            "properties": {
                "id": {"type": "string"},
                "latest": {"type": "string", "description": "the newest version"},
                "in_force": {
                    "type": ["string", "null"],
                    "description": "the version that decides when none is named (null: none in force now)",
                },
                "versions": {"type": "array", "items": _ref("PolicyVersion")},
            },
        },
    }


def _decision_schema(policy_id: str, output: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["decision_id", "policy", "version", "revision", "output"],
        "properties": {
            "decision_id": {"type": "string"},
            "policy": {"const": policy_id},
            "version": {"type": "string"},
            "revision": {"type": "string"},
            "output": output,
            "explanation": {"type": "string"},
            "trace": _ref("Trace"),
        },
    }


def _one_of_versions(names: list[str]) -> dict[str, Any]:
    return _ref(names[0]) if len(names) == 1 else {"anyOf": [_ref(n) for n in names]}


def build_openapi(
    snapshot: Snapshot, *, secured: bool, max_batch: int, max_bytes: int
) -> dict[str, Any]:
    """The OpenAPI 3.1 document for the service serving `snapshot`."""
    components = _common_components()
    paths: dict[str, Any] = {}
    store = snapshot.engine.store
    for pid in store.ids():
        versions = sorted(store.policies[pid])
        in_names, out_names = [], []
        for v in versions:
            prog = store.policies[pid][v].program
            in_name, out_name = component_name(pid, v, "input"), component_name(pid, v, "output")
            embed_schema(prog.input_schema or {}, in_name, components)
            embed_schema(prog.output_schema or {}, out_name, components)
            in_names.append(in_name)
            out_names.append(out_name)
        inputs, outputs = _one_of_versions(in_names), _one_of_versions(out_names)
        base = component_name(pid)
        components[f"{base}.decision"] = _decision_schema(pid, outputs)
        options = {
            "version": {"type": "string", "enum": versions},
            "at": {"type": "string", "format": "date-time"},
            "trace": {"type": "string", "enum": TRACE_LEVELS},
        }
        components[f"{base}.request"] = {
            "type": "object",
            "required": ["input"],
            "additionalProperties": False,
            "properties": {"input": inputs, **options},
        }
        components[f"{base}.batch_request"] = {
            "type": "object",
            "required": ["inputs"],
            "additionalProperties": False,
            "properties": {
                "inputs": {"type": "array", "maxItems": max_batch, "items": inputs},
                **options,
            },
        }
        item_error = {
            "type": "object",
            "required": ["status", "error"],
            "properties": {
                "status": {"type": "integer"},
                "error": components["Error"]["properties"]["error"],
            },
        }
        components[f"{base}.batch_response"] = {
            "type": "object",
            "required": ["policy", "revision", "results"],
            "properties": {
                "policy": {"const": pid},
                "revision": {"type": "string"},
                "results": {
                    "type": "array",
                    "items": {"anyOf": [_ref(f"{base}.decision"), item_error]},
                },
            },
        }
        title = store.get(pid).program.header.title or pid
        paths[f"/v1/decisions/{pid}"] = {
            "post": _operation(
                f"decide {pid}",
                f"Decide with {title}.",
                request=_ref(f"{base}.request"),
                ok=_ref(f"{base}.decision"),
                errors=(400, 404, 413, 422, 500, 503),
                secured=secured,
            )
        }
        paths[f"/v1/decisions/{pid}/batch"] = {
            "post": _operation(
                f"decide batch {pid}",
                f"Decide up to {max_batch} inputs with {title}: one result or error per input.",
                request=_ref(f"{base}.batch_request"),
                ok=_ref(f"{base}.batch_response"),
                errors=(400, 404, 413, 503),
                secured=secured,
            )
        }
        paths[f"/v1/policies/{pid}"] = {
            "get": _operation(
                f"policy {pid}",
                f"{title}: every version with its schemas and text.",
                ok=_ref("Policy"),
                errors=(),
                secured=secured,
            )
        }
        paths[f"/v1/shadow/{pid}"] = {
            "get": _operation(
                f"shadow report {pid}",
                "Shadow decisions of a candidate version that differ from the live ones.",
                ok={"type": "object"},
                errors=(400,),
                secured=secured,
                parameters=[_query("since", "date-time"), _query("until", "date-time")],
            )
        }
    paths["/v1/decisions/{decision_id}"] = {
        "get": _operation(
            "get decision",
            "One logged decision.",
            ok=_ref("DecisionRecord"),
            errors=(404, 503),
            secured=secured,
            parameters=[
                {
                    "name": "decision_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^[^/]+$"},
                }
            ],
        )
    }
    paths["/v1/decisions"] = {
        "get": _operation(
            "query decisions",
            "Page through the decision log (newest last); `next` is the cursor of the next page.",
            ok=_ref("DecisionPage"),
            errors=(400, 503),
            secured=secured,
            parameters=[
                _query("policy"),
                _query("since", "date-time"),
                _query("until", "date-time"),
                _query("outcome"),
                {
                    "name": "kind",
                    "in": "query",
                    "schema": {"type": "string", "enum": ["live", "shadow"]},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
                _query("after"),
            ],
        )
    }
    paths["/v1/policies"] = {
        "get": _operation(
            "list policies",
            "Every policy of the active set with its versions.",
            ok={
                "type": "object",
                "required": ["revision", "policies"],
                "properties": {
                    "revision": {"type": "string"},
                    "policies": {"type": "array", "items": _ref("Policy")},
                },
            },
            errors=(),
            secured=secured,
        )
    }
    paths["/v1/status"] = {
        "get": _operation(
            "status",
            "The active revision and the last reload.",
            ok=_ref("Status"),
            errors=(),
            secured=secured,
        )
    }
    paths["/v1/admin/reload"] = {
        "post": _operation(
            "reload",
            "Reload the policy set now (needs the admin token). 422 when the set does not "
            "check: the previous set keeps serving.",
            ok=_ref("Reload"),
            errors=(403,),
            secured=secured,
            extra={
                "422": {
                    "description": "The set does not check.",
                    "content": {"application/json": {"schema": _ref("Reload")}},
                }
            },
        )
    }
    paths["/health/live"] = {
        "get": _operation(
            "live", "The process answers.", ok={"type": "object"}, errors=(), secured=False
        )
    }
    paths["/health/ready"] = {
        "get": _operation(
            "ready",
            "Ready while a policy set is active and the log accepts writes.",
            ok={"type": "object"},
            errors=(),
            secured=False,
            extra={
                "503": {
                    "description": "Not ready.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                }
            },
        )
    }
    paths["/metrics"] = {
        "get": {
            "operationId": "metrics",
            "summary": "Prometheus metrics (text exposition format).",
            "responses": {
                "200": {
                    "description": "The metrics.",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                **({"401": _error_responses(401)["401"]} if secured else {}),
            },
        }
    }
    paths["/openapi.json"] = {
        "get": _operation(
            "openapi", "This document.", ok={"type": "object"}, errors=(), secured=secured
        )
    }
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "clausewise decision service",
            "version": __version__,
            "description": (
                "Decisions by the active policy set, each recorded in the decision log before "
                f"it is answered. Revision {snapshot.revision}. Bodies up to {max_bytes} bytes."
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": paths,
        "components": {"schemas": components},
    }
    if secured:
        doc["components"]["securitySchemes"] = {"bearer": {"type": "http", "scheme": "bearer"}}
        doc["security"] = [{"bearer": []}]
    return doc


def _query(name: str, fmt: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    return {"name": name, "in": "query", "required": False, "schema": schema}


def _operation(
    op_id: str,
    summary: str,
    *,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    secured: bool,
    request: dict[str, Any] | None = None,
    parameters: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    codes = list(errors)
    if secured:
        codes.append(401)
    op: dict[str, Any] = {
        "operationId": op_id.replace(" ", "_").replace("/", "_"),
        "summary": summary,
        "responses": {
            "200": {"description": "OK", "content": {"application/json": {"schema": ok}}},
            **_error_responses(*sorted(set(codes))),
            **(extra or {}),
        },
    }
    if not secured:
        op["security"] = []
    if request is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": request}},
        }
    if parameters:
        op["parameters"] = parameters
    return op
