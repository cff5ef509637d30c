"""/api/keys: browser-session only (a key cannot manage keys)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from llmportal.deps import BrowserPrincipal, DbSession, PortalDep
from llmportal.keys import service, usage
from llmportal.keys.auth import authenticate_key
from llmportal.keys.cache import KeyCache
from llmportal.keys.invalidation import KeyCacheInvalidation
from llmportal.keys.last_used import LastUsedTracker
from llmportal.keys.schemas import (
    KeyCreate,
    KeyList,
    KeyOut,
    KeyRequests,
    KeyRevoke,
    KeyUpdate,
    KeyUsage,
    KeyWithSecret,
)
from llmportal.keys.views import key_json, key_json_with_secret
from llmportal.openapi import Success, errors
from llmportal.portal import Portal

router = APIRouter(prefix="/api/keys", tags=["keys"])


@router.get("", response_model=KeyList)
async def list_keys(
    principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    keys = await service.list_keys(db, principal.user.id)
    return {"keys": [await key_json(portal, k) for k in keys]}


@router.post("", status_code=201, response_model=KeyWithSecret)
async def create_key(
    body: KeyCreate, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key, secret = await service.create_key(
        db, portal.settings, portal.secret_key, principal.user, body
    )
    return await key_json_with_secret(portal, key, secret)


@router.get("/{key_id}", response_model=KeyOut)
async def get_key(
    key_id: str, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    return await key_json(portal, await service.get_key(db, principal.user.id, key_id))


@router.patch("/{key_id}", response_model=KeyOut)
async def update_key(
    key_id: str, body: KeyUpdate, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    return await key_json(portal, await service.update_key(db, key, body))


@router.delete("/{key_id}", response_model=Success)
async def delete_key(key_id: str, principal: BrowserPrincipal, db: DbSession) -> dict[str, bool]:
    key = await service.get_key(db, principal.user.id, key_id)
    await service.delete_key(db, key)
    return {"success": True}


@router.post("/{key_id}/regenerate", response_model=KeyWithSecret)
async def regenerate_key(
    key_id: str, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    secret = await service.regenerate_key(db, portal.secret_key, key)
    return await key_json_with_secret(portal, key, secret)


@router.post("/{key_id}/revoke", response_model=KeyOut, responses=errors(409))
async def revoke_key(
    key_id: str,
    principal: BrowserPrincipal,
    db: DbSession,
    portal: PortalDep,
    body: Annotated[KeyRevoke | None, Body()] = None,
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    reason = body.reason if body else None
    return await key_json(portal, await service.revoke_key(db, key, reason))


@router.post("/{key_id}/reactivate", response_model=KeyOut, responses=errors(409))
async def reactivate_key(
    key_id: str, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    return await key_json(portal, await service.reactivate_key(db, key))


@router.get("/{key_id}/usage", response_model=KeyUsage)
async def key_usage(
    key_id: str,
    principal: BrowserPrincipal,
    db: DbSession,
    days: Annotated[int, Query(ge=1, le=366)] = 30,
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    return await usage.key_usage(db, key, days)


@router.get("/{key_id}/requests", response_model=KeyRequests)
async def key_requests(
    key_id: str,
    principal: BrowserPrincipal,
    db: DbSession,
    limit: Annotated[int, Query(ge=1, le=366)] = 10,
) -> dict[str, Any]:
    key = await service.get_key(db, principal.user.id, key_id)
    return {"requests": await usage.key_request_history(db, key, limit), "limit": limit}


async def startup(portal: Portal) -> None:
    portal.services["key_authenticator"] = authenticate_key
    # A 1-second cache of key lookups that this process's own writes clear at once; with Redis
    # (several instances) every other instance's writes too, announced on a channel before the
    # write's request is answered, so a revoke or a suspension is refused everywhere at once.
    cache = KeyCache()
    portal.services["key_cache"] = cache
    if portal.redis is not None and portal.settings.redis_url is not None:
        invalidation = KeyCacheInvalidation(
            portal.redis, portal.settings.redis_url, portal.settings.redis_prefix, cache
        )
        await invalidation.start()
        portal.services["key_cache_invalidation"] = invalidation
    tracker = LastUsedTracker(portal.sessionmaker)
    tracker.start()
    portal.services["key_last_used"] = tracker


async def shutdown(portal: Portal) -> None:
    invalidation: KeyCacheInvalidation | None = portal.services.pop("key_cache_invalidation", None)
    if invalidation is not None:
        await invalidation.stop()
    tracker: LastUsedTracker | None = portal.services.pop("key_last_used", None)
    if tracker is not None:
        await tracker.stop()
