"""Usage & Analytics: GET /api/usage/summary and GET /api/usage/filters."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from llmportal.deps import CurrentUser, DbSession
from llmportal.usage import service

router = APIRouter(prefix="/api/usage", tags=["usage"])


@router.get("/summary")
async def usage_summary(
    user: CurrentUser,
    db: DbSession,
    period: str | None = None,
    from_: Annotated[str | None, Query(alias="from")] = None,
    to: str | None = None,
    api_key_id: Annotated[str | None, Query(alias="apiKeyId")] = None,
    model: str | None = None,
    status: str | None = None,
) -> dict[str, Any]:
    query = service.parse_query(
        user.id,
        period=period,
        from_=from_,
        to=to,
        api_key_id=api_key_id,
        model=model,
        status=status,
    )
    return await service.summary(db, query)


@router.get("/filters")
async def usage_filters(user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return await service.filter_options(db, user.id)
