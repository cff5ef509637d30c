"""One error type, one handler: every error body is {"error": "..."}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from llmportal.db_errors import install_database_error_handlers
from llmportal.jsonio import FastJSONResponse

log = logging.getLogger("llmportal.errors")


class PortalError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.extra = extra


def bad_request(message: str) -> PortalError:
    return PortalError(400, message)


def not_found(what: str = "Not found") -> PortalError:
    return PortalError(404, what)


def error_response(
    status: int, message: str, headers: dict[str, str] | None = None, **extra: Any
) -> FastJSONResponse:
    return FastJSONResponse({"error": message, **extra}, status_code=status, headers=headers)


def describe_validation_error(errors: list[Any]) -> str:
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    field = ".".join(loc)
    msg = str(err.get("msg", "is invalid")).removeprefix("Value error, ")
    if err.get("type") == "missing":
        return f"{field} is required" if field else "Request body is required"
    if err.get("type") == "json_invalid":
        return "Request body is not valid JSON"
    if err.get("type") == "extra_forbidden":
        return f"{field} is not allowed"
    return f"{field}: {msg}" if field else msg


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(PortalError)
    async def _portal(_: Request, exc: PortalError) -> FastJSONResponse:
        return error_response(exc.status, exc.message, exc.headers, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> FastJSONResponse:
        return error_response(400, describe_validation_error(list(exc.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> FastJSONResponse:
        message = {404: "Not found", 405: "Method not allowed"}.get(
            exc.status_code, str(exc.detail)
        )
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    install_database_error_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> FastJSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return error_response(500, "Internal server error")
