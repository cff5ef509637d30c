from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import text

from llmportal.deps import PortalDep
from llmportal.errors import error_response
from llmportal.jsonio import FastJSONResponse

router = APIRouter(tags=["health"])


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/health/ready")
async def ready(portal: PortalDep) -> FastJSONResponse:
    checks: dict[str, str] = {}
    try:
        async with portal.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any driver error means not ready
        checks["database"] = f"error: {type(exc).__name__}"
    if portal.redis is not None:
        try:
            await portal.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
    if any(v != "ok" for v in checks.values()):
        return error_response(503, "Not ready", checks=checks)
    return FastJSONResponse({"status": "ok", "checks": checks})
