"""Usage & Analytics: GET /api/usage/summary and GET /api/usage/filters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from llmportal.deps import CurrentUser, DbSession
from llmportal.openapi import errors
from llmportal.usage import service
from llmportal.usage.params import SummaryQuery
from llmportal.usage.schemas import UsageFilters, UsageSummary

router = APIRouter(prefix="/api/usage", tags=["usage"])


@router.get("/summary", response_model=UsageSummary, responses=errors(404))
async def usage_summary(user: CurrentUser, db: DbSession, params: SummaryQuery) -> dict[str, Any]:
    return await service.summary(db, params.query(user.id))


@router.get("/filters", response_model=UsageFilters)
async def usage_filters(user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return await service.filter_options(db, user.id)
