"""/openapi.json describes every endpoint: its real success body, its request body, and the one
error body for every error status it can answer. Checked from the app's own document, so a new
route cannot ship undocumented."""

from __future__ import annotations

from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts

from llmportal.app import create_app
from llmportal.config import Settings
from llmportal.openapi import Success, errors

# Served but deliberately not in the document: the document itself and its viewers, the
# browser app's pages and assets, Prometheus text. (HEAD goes with the path's GET.)
NOT_DOCUMENTED = {
    "/openapi.json",
    "/docs",
    "/docs/oauth2-redirect",
    "/redoc",
    "/metrics",
    "/assets/{name}",
    "/{page}",
}
# Operations that answer no error of their own (a 500 is a bug, never documented).
NEVER_FAIL = {"GET /health/live"}
METHODS = ("get", "put", "post", "patch", "delete")
# A success answer without a body (304 Not Modified) or in plain bytes is documented as such.
BODILESS = {"304"}
BINARY = {"type": "string", "format": "binary"}


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    resolved: dict[str, Any] = document["components"]["schemas"][ref.rsplit("/", 1)[-1]]
    return resolved


def _is_model(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    """A JSON body with named fields: an object with properties, or a choice between such."""
    schema = _resolve(document, schema)
    choices = schema.get("anyOf") or schema.get("oneOf")
    if choices:  # an optional body is a model or null
        return all(c == {"type": "null"} or _is_model(document, c) for c in choices)
    return schema.get("type") == "object" and bool(schema.get("properties"))


def _is_error_body(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolve(document, schema)
    error = schema.get("properties", {}).get("error", {})
    return error.get("type") == "string" and "error" in schema.get("required", [])


def _success_problems(document: dict[str, Any], status: str, response: dict[str, Any]) -> str:
    content = response.get("content")
    if not content:
        return "" if status in BODILESS else f"{status} has no body"
    for media_type, body in content.items():
        schema = body.get("schema", {})
        if media_type == "application/json" and not _is_model(document, schema):
            return f"{status} {media_type} has no model: {schema}"
        if media_type == "text/event-stream" and "data" not in schema.get("properties", {}):
            return f"{status} {media_type} does not describe its events"
        if media_type not in ("application/json", "text/event-stream") and schema != BINARY:
            return f"{status} {media_type} is not binary"
    return ""


def operation_problems(
    document: dict[str, Any], label: str, operation: dict[str, Any]
) -> list[str]:
    problems: list[str] = []
    responses: dict[str, Any] = operation.get("responses", {})
    successes = {s: r for s, r in responses.items() if s.startswith("2") or s in BODILESS}
    errors = {s: r for s, r in responses.items() if s[0] in "45"}
    if not any(s.startswith("2") for s in successes):
        problems.append("no 2xx response")
    problems += filter(None, (_success_problems(document, s, r) for s, r in successes.items()))
    if "422" in responses:
        problems.append("422 documented (invalid input is 400)")
    if not errors and label not in NEVER_FAIL:
        problems.append("no error response")
    for status, response in errors.items():
        schema = response.get("content", {}).get("application/json", {}).get("schema", {})
        if not _is_error_body(document, schema):
            problems.append(f"{status} is not the {{error}} body")
    if operation.get("requestBody"):
        for media_type, body in operation["requestBody"]["content"].items():
            if not _is_model(document, body.get("schema", {})):
                problems.append(f"request {media_type} has no model")
    return problems


def document_problems(app: FastAPI) -> list[str]:
    document = app.openapi()
    problems: list[str] = []
    for path, operations in document["paths"].items():
        for method in METHODS:
            if method in operations:
                label = f"{method.upper()} {path}"
                found = operation_problems(document, label, operations[method])
                problems += [f"{label}: {p}" for p in found]
    return problems


def _undocumented_routes(app: FastAPI) -> list[str]:
    """Routes missing from the document, and routes reading a body they do not describe."""
    paths = app.openapi()["paths"]
    missing: list[str] = []
    for context in iter_route_contexts(app.routes):
        path = str(context.path_format)
        for method in sorted(getattr(context.original_route, "methods", None) or ()):
            documented = method.lower() in paths.get(path, {})
            if method == "HEAD" and "get" in paths.get(path, {}):
                continue
            if not documented and path not in NOT_DOCUMENTED:
                missing.append(f"{method} {path} is not in the document")
            route = context.original_route
            reads_body = isinstance(route, APIRoute) and route.dependant.request_param_name
            if documented and reads_body and method in ("POST", "PUT", "PATCH"):
                operation = paths[path][method.lower()]
                if route.body_field is None and "requestBody" not in operation:
                    missing.append(f"{method} {path} reads a body it does not describe")
    return missing


def test_every_operation_documents_its_bodies_and_errors(full_app: FastAPI) -> None:
    document = full_app.openapi()
    operations = sum(m in ops for ops in document["paths"].values() for m in METHODS)
    assert operations > 80, operations
    assert document_problems(full_app) == []
    assert _undocumented_routes(full_app) == []


def test_a_route_without_models_is_caught(settings: Settings) -> None:
    app = create_app(settings)

    @app.get("/api/undocumented")
    async def undocumented() -> dict[str, Any]:
        return {}

    @app.post("/api/raw-body", response_model=Success, responses=errors(400))
    async def raw_body(request: Request) -> dict[str, Any]:
        return {"success": await request.body() == b""}

    assert [p for p in document_problems(app) if "/api/undocumented" in p] == [
        "GET /api/undocumented: 200 application/json has no model: {'additionalProperties': "
        "True, 'type': 'object', 'title': 'Response Undocumented Api Undocumented Get'}",
        "GET /api/undocumented: no error response",
    ]
    assert [p for p in _undocumented_routes(app) if "/api/" in p] == [
        "POST /api/raw-body reads a body it does not describe"
    ]


async def test_the_document_is_served_with_the_error_body(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    document = r.json()
    assert document["components"]["schemas"]["ErrorResponse"]["required"] == ["error"]
    login = document["paths"]["/api/auth/login"]["post"]
    assert set(login["responses"]) == {"200", "400", "401", "403", "408", "413", "429", "503"}
    assert login["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Profile"
    }
    # Who may call: a session or a key, a session only, anyone.
    paths = document["paths"]
    assert paths["/v1/chat/completions"]["post"]["security"] == [{"session": []}, {"apiKey": []}]
    assert paths["/api/keys"]["get"]["security"] == [{"session": []}]
    assert "security" not in login
    assert set(document["components"]["securitySchemes"]) == {"session", "apiKey"}
