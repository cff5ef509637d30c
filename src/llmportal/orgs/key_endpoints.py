"""/api/orgs/{org_id}/keys and /usage: the org's API keys (the JSON of /api/keys plus orgId and
createdBy) and the usage made with them. Admins and owners change keys; every member reads."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from llmportal.deps import DbSession, PortalDep
from llmportal.keys import service as keys
from llmportal.keys import usage as key_usage
from llmportal.keys.models import ApiKey
from llmportal.keys.schemas import KeyCreate, KeyRequests, KeyRevoke, KeyUpdate, KeyUsage
from llmportal.keys.views import key_json, key_json_with_secret
from llmportal.openapi import Success, errors
from llmportal.orgs import keys as org_keys
from llmportal.orgs import usage
from llmportal.orgs.deps import OrgMembership
from llmportal.orgs.schemas import (
    OrgKeyList,
    OrgKeyOut,
    OrgKeyWithSecret,
    OrgRequests,
    OrgUsage,
    org_key_fields,
)
from llmportal.portal import Portal
from llmportal.users.models import User

router = APIRouter(prefix="/api/orgs/{org_id}", tags=["orgs"])


async def _out(portal: Portal, key: ApiKey, creator: User | None) -> dict[str, Any]:
    return {**await key_json(portal, key), **org_key_fields(key, creator)}


@router.get("/keys", response_model=OrgKeyList)
async def list_org_keys(mine: OrgMembership, db: DbSession, portal: PortalDep) -> dict[str, Any]:
    rows = await org_keys.list_org_keys(db, mine.org.id)
    return {"keys": [await _out(portal, k, u) for k, u in rows]}


@router.post("/keys", status_code=201, response_model=OrgKeyWithSecret)
async def create_org_key(
    body: KeyCreate, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key, secret = await org_keys.create_org_key(db, portal.settings, portal.secret_key, mine, body)
    return {**await key_json_with_secret(portal, key, secret), **org_key_fields(key, mine.user)}


@router.get("/keys/{key_id}", response_model=OrgKeyOut)
async def get_org_key(
    key_id: str, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    return await _out(portal, *await org_keys.get_org_key(db, mine.org.id, key_id))


@router.patch("/keys/{key_id}", response_model=OrgKeyOut)
async def update_org_key(
    key_id: str, body: KeyUpdate, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key, creator = await org_keys.key_to_change(db, mine, key_id)
    return await _out(portal, await keys.update_key(db, key, body), creator)


@router.delete("/keys/{key_id}", response_model=Success)
async def delete_org_key(key_id: str, mine: OrgMembership, db: DbSession) -> dict[str, bool]:
    key, _ = await org_keys.key_to_change(db, mine, key_id)
    await keys.delete_key(db, key)
    return {"success": True}


@router.post("/keys/{key_id}/regenerate", response_model=OrgKeyWithSecret)
async def regenerate_org_key(
    key_id: str, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key, creator = await org_keys.key_to_change(db, mine, key_id)
    secret = await keys.regenerate_key(db, portal.secret_key, key)
    return {**await key_json_with_secret(portal, key, secret), **org_key_fields(key, creator)}


@router.post("/keys/{key_id}/revoke", response_model=OrgKeyOut, responses=errors(409))
async def revoke_org_key(
    key_id: str,
    mine: OrgMembership,
    db: DbSession,
    portal: PortalDep,
    body: Annotated[KeyRevoke | None, Body()] = None,
) -> dict[str, Any]:
    key, creator = await org_keys.key_to_change(db, mine, key_id)
    reason = body.reason if body else None
    return await _out(portal, await keys.revoke_key(db, key, reason), creator)


@router.post("/keys/{key_id}/reactivate", response_model=OrgKeyOut, responses=errors(409))
async def reactivate_org_key(
    key_id: str, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key, creator = await org_keys.key_to_change(db, mine, key_id)
    return await _out(portal, await keys.reactivate_key(db, key), creator)


@router.get("/keys/{key_id}/usage", response_model=KeyUsage)
async def org_key_usage(
    key_id: str,
    mine: OrgMembership,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> dict[str, Any]:
    key, _ = await org_keys.get_org_key(db, mine.org.id, key_id)
    return await key_usage.key_usage(db, key, days)


@router.get("/keys/{key_id}/requests", response_model=KeyRequests)
async def org_key_requests(
    key_id: str,
    mine: OrgMembership,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=366)] = 10,
) -> dict[str, Any]:
    key, _ = await org_keys.get_org_key(db, mine.org.id, key_id)
    return {"requests": await key_usage.key_request_history(db, key, limit), "limit": limit}


@router.get("/usage", response_model=OrgUsage)
async def org_usage(
    mine: OrgMembership,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> dict[str, Any]:
    return await usage.org_usage(db, mine.org.id, days)


@router.get("/usage/requests", response_model=OrgRequests)
async def org_requests(
    mine: OrgMembership,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    key_id: Annotated[str | None, Query(alias="keyId", min_length=1, max_length=32)] = None,
    user_id: Annotated[str | None, Query(alias="userId", min_length=1, max_length=32)] = None,
) -> dict[str, Any]:
    return await usage.org_requests(
        db, mine.org.id, limit=limit, offset=offset, key_id=key_id, user_id=user_id
    )
