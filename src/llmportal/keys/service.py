"""API keys: create, change, rotate, revoke. Rules live here; endpoints only translate HTTP."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.budgets.schemas import apply_budget
from llmportal.config import Settings
from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.keys.models import ApiKey
from llmportal.keys.schemas import KeyCreate, KeyFields, KeyUpdate
from llmportal.keys.secrets import display_prefix, generate_secret
from llmportal.quota.plans import plan_for
from llmportal.security.tokens import keyed_hash
from llmportal.users.models import User


async def list_keys(db: AsyncSession, user_id: str) -> list[ApiKey]:
    """The user's personal keys (not the org keys they created)."""
    rows = await db.scalars(
        select(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.org_id.is_(None))
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return list(rows)


async def get_key(db: AsyncSession, user_id: str, key_id: str) -> ApiKey:
    """The user's personal key; another user's key id (or an org key's) is indistinguishable
    from an unknown one."""
    key = await db.scalar(
        select(ApiKey).where(
            ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.org_id.is_(None)
        )
    )
    if key is None:
        raise PortalError(404, "API key not found")
    return key


def _new_secret(key: ApiKey, secret_key: str) -> str:
    secret = generate_secret()
    key.secret_hash = keyed_hash(secret_key, secret)
    key.prefix = display_prefix(secret)
    return secret


def _apply(key: ApiKey, body: KeyFields, fields: set[str]) -> None:
    if "name" in fields and body.name is not None:
        key.name = body.name
    if "description" in fields:
        key.description = body.description
    if "permissions" in fields:
        key.permissions = body.permissions
    if "ipWhitelist" in fields:
        key.ip_whitelist = body.ipWhitelist or None
    if "models" in fields:
        key.models = body.models
    if "dailyLimit" in fields:
        key.daily_limit = body.dailyLimit
    if "monthlyLimit" in fields:
        key.monthly_limit = body.monthlyLimit
    if "rpmLimit" in fields:
        key.rpm_limit = body.rpmLimit
    if body.budget_given():
        apply_budget(key, body, utcnow())
    if "expiresInDays" in fields:
        days = body.expiresInDays
        key.expires_at = utcnow() + timedelta(days=days) if days else None


async def create_key(
    db: AsyncSession, settings: Settings, secret_key: str, user: User, body: KeyCreate
) -> tuple[ApiKey, str]:
    # A no-op write on the owner's row takes its lock (a row lock on PostgreSQL, the write lock on
    # SQLite) before counting, so concurrent creates cannot both pass the cap.
    await db.execute(
        update(User)
        .where(User.id == user.id)
        .values(updated_at=User.updated_at)
        .execution_options(synchronize_session=False)
    )
    plan = plan_for(settings, user.plan_tier)
    count = await db.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user.id, ApiKey.org_id.is_(None))
    )
    count = count or 0
    if count >= plan.api_keys:
        raise PortalError(
            403,
            f"Your {plan.name} plan allows {plan.api_keys} API "
            f"{'key' if plan.api_keys == 1 else 'keys'}; delete one or upgrade to create another",
        )
    return await add_key(db, secret_key, user, body, tier=plan.tier)


async def add_key(
    db: AsyncSession,
    secret_key: str,
    user: User,
    body: KeyCreate,
    *,
    tier: str,
    org_id: str | None = None,
) -> tuple[ApiKey, str]:
    """A new key, once its owner's cap was checked: the user's own, or an org's (`org_id`)
    with `user` as the member who created it."""
    key = ApiKey(user_id=user.id, org_id=org_id, name=body.name, status="ACTIVE", tier=tier)
    _apply(key, body, set(body.model_fields_set) | {"permissions"})
    secret = _new_secret(key, secret_key)
    db.add(key)
    await db.flush()
    return key, secret


async def update_key(db: AsyncSession, key: ApiKey, body: KeyUpdate) -> ApiKey:
    _apply(key, body, set(body.model_fields_set))
    key.updated_at = utcnow()
    await db.flush()
    return key


async def delete_key(db: AsyncSession, key: ApiKey) -> None:
    await db.execute(delete(ApiKey).where(ApiKey.id == key.id))
    await db.flush()


async def regenerate_key(db: AsyncSession, secret_key: str, key: ApiKey) -> str:
    secret = _new_secret(key, secret_key)
    key.updated_at = utcnow()
    await db.flush()
    return secret


async def revoke_key(db: AsyncSession, key: ApiKey, reason: str | None) -> ApiKey:
    if key.status == "REVOKED":
        raise PortalError(409, "API key is already revoked")
    key.status = "REVOKED"
    key.revoked_at = utcnow()
    key.revoked_reason = (reason or "").strip() or None
    key.updated_at = utcnow()
    await db.flush()
    return key


async def reactivate_key(db: AsyncSession, key: ApiKey) -> ApiKey:
    if key.status != "REVOKED":
        if key.is_expired():
            raise PortalError(409, "API key is expired, not revoked: set a new expiresInDays")
        raise PortalError(409, "API key is not revoked")
    key.status = "ACTIVE"
    key.revoked_at = None
    key.revoked_reason = None
    key.updated_at = utcnow()
    await db.flush()
    return key
