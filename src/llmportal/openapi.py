"""What /openapi.json says beyond each route's own models.

Every error is {"error": "..."} (ErrorResponse); invalid input is 400, never FastAPI's 422. Who
may call an operation (security) and the error statuses it can answer follow from what it
depends on (authentication, the database, path parameters, a body) and are added to every
documented operation; a route names the statuses only it answers (409, 413, 502, ...) with
`responses=errors(...)`, and a body it reads itself with `openapi_extra=json_body(...)` or
`multipart_body(...)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Annotated, Any, Literal

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute, iter_route_contexts
from pydantic import BaseModel, ConfigDict, WithJsonSchema
from pydantic.json_schema import models_json_schema

from llmportal.deps import browser_principal, current_principal, db_session

DESCRIPTION = """\
The llmportal API: accounts, chat completions (OpenAI and Anthropic formats), chat history, API
keys, organizations (members, invitations, org keys), usage, billing, files, the library and
canvas documents.

Authenticate with the session cookie that `POST /api/auth/login` sets, or with an API key as
`Authorization: Bearer sk-live-...` (or `x-api-key`). Every error body is `{"error": "message"}`
(a few add named fields); invalid input is 400 and the message names the field. 429 answers
carry `Retry-After`.
"""

# A UTC instant as the API writes it ("2025-01-01T00:00:00Z"), and a UTC day ("2025-01-15").
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
Day = Annotated[str, WithJsonSchema({"type": "string", "format": "date"})]


class ResponseModel(BaseModel):
    """A response body: a field the model does not name fails loudly instead of vanishing."""

    model_config = ConfigDict(extra="forbid")


class ErrorResponse(BaseModel):
    """Every error body. A few carry named extras (login's `requires2FA`, readiness `checks`)."""

    model_config = ConfigDict(extra="allow")

    error: str


class Success(ResponseModel):
    success: Literal[True]


ERROR_DESCRIPTIONS: dict[int, str] = {
    400: "Invalid input: the message names the field",
    401: "Not authenticated, or the session or API key is invalid, expired or revoked",
    402: "A payment method is needed first",
    403: "Not allowed: role, API key permission, IP whitelist or model allow-list, a "
    "browser-session-only endpoint, or a cross-origin cookie request",
    404: "Not found (or not yours)",
    408: "The request body arrived too slowly (BODY_IDLE_TIMEOUT_S, BODY_TIMEOUT_S)",
    409: "Conflicts with the current state",
    413: "Request body too large",
    416: "The Range lies outside the file",
    429: "Too many requests; Retry-After says when to try again",
    502: "The upstream failed",
    503: "Unavailable: the database (or billing) does not answer",
    504: "The upstream timed out",
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a route: each status documented with the one error body."""
    return {
        code: {"model": ErrorResponse, "description": ERROR_DESCRIPTIONS[code]} for code in codes
    }


_BINARY = {"type": "string", "format": "binary"}


def multipart_body(
    file_field: str, *, max_files: int = 1, fields: dict[str, Any] | None = None
) -> dict[str, Any]:
    """`openapi_extra=` for an upload read from the stream: the multipart form it takes."""
    files = (
        _BINARY if max_files == 1 else {"type": "array", "items": _BINARY, "maxItems": max_files}
    )
    form = {
        "type": "object",
        "required": [file_field],
        "properties": {file_field: files, **(fields or {})},
    }
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}}}


def download_responses(
    *, ranges: bool = False, revalidation: bool = False
) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a file download: the stored bytes under the file's own media type;
    with `ranges` also 206 and 416 for a Range header, with `revalidation` 304 for
    If-None-Match / If-Modified-Since."""
    body = {"*/*": {"schema": _BINARY}}
    responses: dict[int | str, dict[str, Any]] = {
        200: {
            "description": "The file, as an attachment, with the media type it was stored with",
            "content": body,
        }
    }
    if ranges:
        responses[206] = {"description": "The bytes the Range header asked for", "content": body}
        responses.update(errors(400, 416))
    if revalidation:
        responses[304] = {"description": "Not modified since the ETag or date given"}
    return responses


def request_headers(*names: str) -> dict[str, Any]:
    """`openapi_extra=` naming optional request headers an endpoint reads itself."""
    return {
        "parameters": [
            {"name": name, "in": "header", "required": False, "schema": {"type": "string"}}
            for name in names
        ]
    }


_REF = "#/components/schemas/{model}"
# Models only an `openapi_extra` names (bodies an endpoint reads itself): added to components.
_EXTRA_MODELS: list[type[BaseModel]] = []


def json_body(*models: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra=` for a JSON body the endpoint reads and checks itself: one of `models`."""
    _EXTRA_MODELS.extend(m for m in models if m not in _EXTRA_MODELS)
    refs = [{"$ref": _REF.format(model=m.__name__)} for m in models]
    schema = refs[0] if len(refs) == 1 else {"anyOf": refs}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def _add_extra_models(components: dict[str, Any]) -> None:
    _, top = models_json_schema([(m, "validation") for m in _EXTRA_MODELS], ref_template=_REF)
    for name, definition in top.get("$defs", {}).items():
        if components.setdefault(name, definition) != definition:
            raise RuntimeError(f"two different OpenAPI schemas are named {name}")


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _may_be_invalid(parameter: dict[str, Any]) -> bool:
    """Any parameter but a path segment taken as any text can be refused."""
    schema = parameter.get("schema", {})
    return parameter["in"] != "path" or schema.get("type") != "string" or len(schema) > 2


SESSION_OR_KEY: list[dict[str, list[str]]] = [{"session": []}, {"apiKey": []}]
# `openapi_extra=` for a route that authenticates without the CurrentPrincipal dependency.
AUTHENTICATED = {"security": SESSION_OR_KEY}
SECURITY_SCHEMES = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "llmportal_session",
        "description": "The session cookie POST /api/auth/login sets",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key, sk-live-... (also accepted as the x-api-key header)",
    },
}


def _security(calls: set[Callable[..., Any]]) -> list[dict[str, list[str]]] | None:
    if browser_principal in calls:
        return [{"session": []}]
    return SESSION_OR_KEY if current_principal in calls else None


def _implied_errors(
    route: APIRoute, calls: set[Callable[..., Any]], method: str, operation: dict[str, Any]
) -> list[int]:
    authenticated = bool(operation.get("security"))
    codes: list[int] = []
    if operation.get("requestBody") or any(map(_may_be_invalid, operation.get("parameters", []))):
        codes.append(400)
    if operation.get("requestBody"):
        codes.extend((408, 413))  # bodyguard.py: every body is capped and has a deadline
    if authenticated:
        codes.append(401)
    if authenticated or method not in ("GET", "HEAD"):
        codes.append(403)  # the cross-origin check refuses unsafe cookie requests
    if route.param_convertors:  # a path parameter, read by the route or a dependency
        codes.append(404)
    if authenticated:
        codes.append(429)  # an API key's rpmLimit
    if db_session in calls:
        codes.append(503)
    return codes


def _error_doc(code: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[code],
        "content": {"application/json": {"schema": {"$ref": _REF.format(model="ErrorResponse")}}},
    }


def _document(app: FastAPI, schema: dict[str, Any]) -> None:
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        operations = schema["paths"][context.path_format]
        calls = set(_calls(route.dependant))
        for method in route.methods or ():
            operation = operations[method.lower()]
            security = _security(calls)
            if security is not None:
                operation.setdefault("security", security)
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)  # invalid input is 400
            for code in _implied_errors(route, calls, method, operation):
                responses.setdefault(str(code), _error_doc(code))
            operation["responses"] = dict(sorted(responses.items()))
    schema.setdefault("components", {})["securitySchemes"] = SECURITY_SCHEMES
    components = schema["components"].setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    components.setdefault("ErrorResponse", ErrorResponse.model_json_schema(ref_template=_REF))
    _add_extra_models(components)


def install_openapi(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=DESCRIPTION,
                routes=app.routes,
            )
            _document(app, schema)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
