"""The admin API under /api/admin/ (role ADMIN; everyone else gets 403)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from llmportal.admin import service
from llmportal.admin.health import HealthChecker
from llmportal.admin.reload_broadcast import ReloadBroadcast
from llmportal.admin.schemas import (
    AdminModelList,
    AuditList,
    DeploymentList,
    ModelsReloaded,
    TwoFactorReset,
    UserAnswer,
    UserList,
    UserPatch,
    admin_user,
    audit_entry,
)
from llmportal.budgets.scopes import USER
from llmportal.budgets.service import budget_json
from llmportal.config import ConfigError, load_settings
from llmportal.deps import AdminPrincipal, ClientIP, DbSession, PortalDep
from llmportal.errors import PortalError
from llmportal.gateway import reload as gateway_reload
from llmportal.openapi import errors
from llmportal.portal import Portal
from llmportal.usage import service as usage
from llmportal.usage.params import SummaryQuery
from llmportal.usage.schemas import UsageSummary
from llmportal.users.models import User

router = APIRouter(prefix="/api/admin", tags=["admin"])


async def _user(portal: Portal, user: User) -> dict[str, Any]:
    return admin_user(user, await budget_json(portal, USER, user, user.id))


Page = Annotated[int, Query(ge=1, le=100_000)]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/users", response_model=UserList)
async def list_users(
    admin: AdminPrincipal,
    db: DbSession,
    portal: PortalDep,
    q: Annotated[str | None, Query(max_length=320)] = None,
    status: Annotated[str | None, Query(pattern="^(ACTIVE|SUSPENDED)$")] = None,
    role: Annotated[str | None, Query(pattern="^(USER|ADMIN)$")] = None,
    plan: Annotated[str | None, Query(max_length=32)] = None,
    page: Page = 1,
    limit: Limit = 50,
) -> dict[str, Any]:
    users, total = await service.list_users(
        db, q=q, status=status, role=role, plan=plan, page=page, limit=limit
    )
    listed = [await _user(portal, u) for u in users]
    return {"users": listed, "total": total, "page": page, "limit": limit}


@router.get("/users/{user_id}", response_model=UserAnswer)
async def get_user(
    user_id: str, admin: AdminPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    return {"user": await _user(portal, await service.get_user(db, user_id))}


@router.patch("/users/{user_id}", response_model=UserAnswer)
async def update_user(
    user_id: str,
    body: UserPatch,
    admin: AdminPrincipal,
    db: DbSession,
    portal: PortalDep,
    ip: ClientIP,
) -> dict[str, Any]:
    plans = [p.tier for p in portal.settings.catalog.plans]
    user = await service.update_user(db, admin, ip, user_id, body, plans)
    return {"user": await _user(portal, user)}


@router.post("/users/{user_id}/reset-2fa", response_model=TwoFactorReset, responses=errors(400))
async def reset_two_factor(
    user_id: str, admin: AdminPrincipal, db: DbSession, portal: PortalDep, ip: ClientIP
) -> dict[str, Any]:
    user = await service.reset_two_factor(db, admin, ip, user_id)
    return {"success": True, "user": await _user(portal, user)}


@router.get("/users/{user_id}/usage", response_model=UsageSummary)
async def user_usage(
    user_id: str,
    admin: AdminPrincipal,
    db: DbSession,
    ip: ClientIP,
    params: SummaryQuery,
) -> dict[str, Any]:
    user = await service.get_user(db, user_id)
    query = params.query(user.id)
    await service.audit(db, admin, ip, "user.usage_viewed", user)
    return await usage.summary(db, query)


@router.get("/usage", response_model=UsageSummary)
async def portal_usage(
    admin: AdminPrincipal, db: DbSession, params: SummaryQuery
) -> dict[str, Any]:
    return await usage.summary(db, params.query(None))


def _health(portal: Portal) -> HealthChecker:
    checker: HealthChecker = portal.services.setdefault("admin_health", HealthChecker())
    return checker


@router.get("/models", response_model=AdminModelList)
async def list_models(admin: AdminPrincipal, portal: PortalDep) -> dict[str, Any]:
    gateway = portal.services["gateway"]
    registry = gateway.registry
    health = await _health(portal).providers(registry)
    catalog = portal.settings.catalog
    return {
        "models": [
            {
                "id": m.id,
                "provider": m.provider,
                "providerType": registry.providers[m.provider].cfg.type,
                "upstreamModel": m.wire_name,
                "ownedBy": m.owned_by,
                "default": m.id == catalog.default_model,
                "health": health[m.provider],
            }
            for m in registry.models.values()
        ]
    }


@router.get("/deployments", response_model=DeploymentList)
async def list_deployments(admin: AdminPrincipal, portal: PortalDep) -> dict[str, Any]:
    """Each model's deployments as routing sees them: this instance's in-flight requests,
    latency and error rate, and the cooldowns every instance shares."""
    gateway = portal.services["gateway"]
    return {
        "models": [
            {
                "id": m.id,
                "routing": m.routing,
                "cooldownS": m.cooldown_s,
                "deployments": await gateway.router.view(m),
            }
            for m in gateway.registry.models.values()
        ]
    }


@router.post("/models/reload", response_model=ModelsReloaded, responses=errors(400))
async def reload_models(
    admin: AdminPrincipal, db: DbSession, portal: PortalDep, ip: ClientIP
) -> dict[str, Any]:
    try:
        catalog = load_settings(portal.settings.config).catalog
    except ConfigError as exc:
        raise PortalError(400, f"Configuration not reloaded: {exc}") from exc
    gateway = portal.services["gateway"]
    before = set(gateway.registry.models)
    await gateway_reload.reload(gateway, catalog)
    after = set(gateway.registry.models)
    notified = await _broadcast(portal).publish()
    await service.audit(
        db,
        admin,
        ip,
        "models.reload",
        added=sorted(after - before),
        removed=sorted(before - after),
    )
    return {"success": True, "models": sorted(after), "otherProcessesNotified": notified}


@router.get("/audit", response_model=AuditList)
async def list_audit(
    admin: AdminPrincipal,
    db: DbSession,
    action: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(alias="actorId", max_length=64)] = None,
    target_id: Annotated[str | None, Query(alias="targetId", max_length=64)] = None,
    limit: Limit = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> dict[str, Any]:
    entries, total = await service.list_audit(
        db, action=action, actor_id=actor_id, target_id=target_id, limit=limit, offset=offset
    )
    return {
        "entries": [audit_entry(e) for e in entries],
        "total": total,
        "limit": limit,
        "offset": offset,
    }


def _broadcast(portal: Portal) -> ReloadBroadcast:
    broadcast: ReloadBroadcast = portal.services["models_reload"]
    return broadcast


async def startup(portal: Portal) -> None:
    broadcast = ReloadBroadcast(portal)
    portal.services["models_reload"] = broadcast
    await broadcast.start()


async def shutdown(portal: Portal) -> None:
    await _broadcast(portal).stop()
    gateway = portal.services.get("gateway")
    if gateway is not None:
        await gateway_reload.close_retired(gateway)
