"""Admin rules: finding users, changing their status, role and plan, resetting 2FA, and the
audit log every change writes (in the same transaction as the change itself)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.admin.models import AuditEntry
from llmportal.admin.schemas import UserPatch
from llmportal.auth.models import BackupCode
from llmportal.auth.sessions import end_all_sessions
from llmportal.budgets.money import usd
from llmportal.budgets.schemas import apply_budget
from llmportal.db import utcnow
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.users.models import User


async def audit(
    db: AsyncSession,
    actor: Principal,
    ip: str | None,
    action: str,
    target: User | None = None,
    **details: Any,
) -> None:
    db.add(
        AuditEntry(
            actor_id=actor.user.id,
            actor_email=actor.user.email,
            action=action,
            target_type="user" if target is not None else None,
            target_id=target.id if target is not None else None,
            details={"email": target.email, **details} if target is not None else details or None,
            ip=ip,
        )
    )
    await db.flush()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


async def list_users(
    db: AsyncSession,
    *,
    q: str | None,
    status: str | None,
    role: str | None,
    plan: str | None,
    page: int,
    limit: int,
) -> tuple[list[User], int]:
    stmt: Select[Any] = select(User)
    if q:
        pattern = f"%{_escape_like(q.strip().lower())}%"
        stmt = stmt.where(
            or_(
                func.lower(User.email).like(pattern, escape="\\"),
                func.lower(func.coalesce(User.name, "")).like(pattern, escape="\\"),
                User.id == q.strip(),
            )
        )
    if status:
        stmt = stmt.where(User.status == status)
    if role:
        stmt = stmt.where(User.role == role)
    if plan:
        stmt = stmt.where(User.plan_tier == plan.upper())
    total = await db.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await db.scalars(
        stmt.order_by(User.created_at.desc(), User.id).offset((page - 1) * limit).limit(limit)
    )
    return list(rows), int(total or 0)


async def get_user(db: AsyncSession, user_id: str) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise PortalError(404, "User not found")
    return user


async def update_user(
    db: AsyncSession,
    actor: Principal,
    ip: str,
    user_id: str,
    patch: UserPatch,
    known_plans: list[str],
) -> User:
    nothing = patch.status is None and patch.role is None and patch.plan is None
    if nothing and not patch.budget_given():
        raise PortalError(400, "Nothing to change: send status, role, plan or maxBudget")
    user = await get_user(db, user_id)
    is_self = user.id == actor.user.id
    if is_self and patch.status == "SUSPENDED":
        raise PortalError(400, "status: you cannot suspend your own account")
    if is_self and patch.role == "USER":
        raise PortalError(400, "role: you cannot remove your own admin role")
    plan = patch.plan.upper() if patch.plan is not None else None
    if plan is not None and plan not in known_plans:
        raise PortalError(400, f"plan: unknown plan '{plan}' (known: {', '.join(known_plans)})")

    if patch.status is not None and patch.status != user.status:
        await audit(db, actor, ip, f"user.{patch.status.lower()}", user, previous=user.status)
        user.status = patch.status
        if patch.status == "SUSPENDED":
            # Sessions end now; API keys are refused by the status check on every request.
            await end_all_sessions(db, user.id)
    if patch.role is not None and patch.role != user.role:
        await audit(db, actor, ip, "user.role", user, previous=user.role, role=patch.role)
        user.role = patch.role
    if plan is not None and plan != user.plan_tier:
        await audit(db, actor, ip, "user.plan", user, previous=user.plan_tier, plan=plan)
        user.plan_tier = plan
    before = _budget(user)
    if patch.budget_given() and apply_budget(user, patch, utcnow()):
        await audit(db, actor, ip, "user.budget", user, previous=before, **_budget(user))
    await db.flush()
    return user


def _budget(user: User) -> dict[str, Any]:
    limit = user.max_budget_micros
    return {"maxBudget": usd(limit) if limit else None, "budgetPeriod": user.budget_period}


async def reset_two_factor(db: AsyncSession, actor: Principal, ip: str, user_id: str) -> User:
    user = await get_user(db, user_id)
    if not user.totp_enabled and not user.totp_secret:
        raise PortalError(400, "Two-factor authentication is not enabled for this user")
    user.totp_enabled = False
    user.totp_secret = None
    user.totp_last_step = None
    await db.execute(delete(BackupCode).where(BackupCode.user_id == user.id))
    await audit(db, actor, ip, "user.2fa_reset", user)
    return user


async def list_audit(
    db: AsyncSession,
    *,
    action: str | None,
    actor_id: str | None,
    target_id: str | None,
    limit: int,
    offset: int,
) -> tuple[list[AuditEntry], int]:
    stmt: Select[Any] = select(AuditEntry)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if actor_id:
        stmt = stmt.where(AuditEntry.actor_id == actor_id)
    if target_id:
        stmt = stmt.where(AuditEntry.target_id == target_id)
    total = await db.scalar(select(func.count()).select_from(stmt.subquery()))
    rows = await db.scalars(
        stmt.order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return list(rows), int(total or 0)
