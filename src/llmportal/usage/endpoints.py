"""Usage & Analytics: GET /api/usage/summary and GET /api/usage/filters, for the caller or,
with `orgId`, for an org they belong to (every member's use of the org's keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from llmportal.deps import CurrentUser, DbSession
from llmportal.openapi import errors
from llmportal.orgs.service import membership
from llmportal.usage import service
from llmportal.usage.params import SummaryQuery
from llmportal.usage.schemas import UsageFilters, UsageSummary

router = APIRouter(prefix="/api/usage", tags=["usage"])

OrgId = Annotated[str | None, Query(alias="orgId", min_length=1, max_length=32)]


@router.get("/summary", response_model=UsageSummary, responses=errors(404))
async def usage_summary(user: CurrentUser, db: DbSession, params: SummaryQuery) -> dict[str, Any]:
    if params.org_id is not None:
        query = params.query(None)  # 400s first
        await membership(db, params.org_id, user)  # 404 for an org the caller is not in
        return await service.summary(db, query)
    return await service.summary(db, params.query(user.id))


@router.get("/filters", response_model=UsageFilters, responses=errors(404))
async def usage_filters(user: CurrentUser, db: DbSession, org_id: OrgId = None) -> dict[str, Any]:
    if org_id is not None:
        await membership(db, org_id, user)
    return await service.filter_options(db, user.id, org_id)
