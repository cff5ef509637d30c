from __future__ import annotations

import asyncio
from typing import Literal

from fastapi import APIRouter
from pydantic import Field
from sqlalchemy import text

from llmportal.deps import PortalDep
from llmportal.errors import error_response
from llmportal.jsonio import FastJSONResponse
from llmportal.openapi import ErrorResponse, ResponseModel

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 3.0

_CHECKS = "database, and redis when configured: ok, or error: <what failed>"


class Live(ResponseModel):
    status: Literal["ok"]


class Ready(ResponseModel):
    status: Literal["ok", "degraded"] = Field(description="degraded: Redis does not answer")
    checks: dict[str, str] = Field(description=_CHECKS)


class NotReady(ErrorResponse):
    checks: dict[str, str] = Field(description=_CHECKS)


@router.get("/health/live", response_model=Live)
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/health/ready",
    response_model=Ready,
    responses={503: {"model": NotReady, "description": "The database does not answer"}},
)
async def ready(portal: PortalDep) -> FastJSONResponse:
    """503 when the database does not answer (this instance cannot serve). A Redis that does
    not answer is 200 "degraded": the instance still serves, counting limits in the process
    (docs/deploy.md), and a load balancer must not take every instance out at once for it."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(READY_TIMEOUT_S), portal.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    if portal.redis is not None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_S):
                await portal.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    if checks["database"] != "ok":
        return error_response(503, "Not ready", checks=checks)
    status = "ok" if all(v == "ok" for v in checks.values()) else "degraded"
    return FastJSONResponse({"status": status, "checks": checks})
