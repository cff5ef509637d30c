"""Org API keys: admins and owners manage them, every member sees them (never the secret).

An org key is an api_keys row with `org_id` set and `user_id` the member who created it; the
gateway treats it as that member's key, except that its tokens count toward the org's plan
allowance (not the member's), and its usage rows carry the org. It stays the org's
when its creator leaves or is removed: it keeps working until an admin revokes or deletes it.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.config import Settings
from llmportal.errors import PortalError
from llmportal.keys import service as keys
from llmportal.keys.models import ApiKey
from llmportal.keys.schemas import KeyCreate
from llmportal.orgs.service import Membership, lock_org, require_role
from llmportal.quota.plans import plan_for
from llmportal.users.models import User

ORG_KEYS_MAX = 100


async def list_org_keys(db: AsyncSession, org_id: str) -> list[tuple[ApiKey, User | None]]:
    rows = await db.execute(
        select(ApiKey, User)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(ApiKey.org_id == org_id)
        .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    )
    return [(k, u) for k, u in rows.all()]


async def get_org_key(db: AsyncSession, org_id: str, key_id: str) -> tuple[ApiKey, User | None]:
    """The org's key; another org's (or a personal) key id is indistinguishable from none."""
    row = (
        await db.execute(
            select(ApiKey, User)
            .outerjoin(User, User.id == ApiKey.user_id)
            .where(ApiKey.id == key_id, ApiKey.org_id == org_id)
        )
    ).first()
    if row is None:
        raise PortalError(404, "API key not found")
    return row[0], row[1]


async def key_to_change(
    db: AsyncSession, acting: Membership, key_id: str
) -> tuple[ApiKey, User | None]:
    require_role(acting, "ADMIN")
    return await get_org_key(db, acting.org.id, key_id)


async def create_org_key(
    db: AsyncSession, settings: Settings, secret_key: str, acting: Membership, body: KeyCreate
) -> tuple[ApiKey, str]:
    require_role(acting, "ADMIN")
    org_id = acting.org.id
    await lock_org(db, org_id)  # concurrent creates cannot both pass the cap
    count = await db.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.org_id == org_id))
    if (count or 0) >= ORG_KEYS_MAX:
        raise PortalError(
            403,
            f"An organization may have {ORG_KEYS_MAX} API keys; delete one to create another",
        )
    tier = plan_for(settings, acting.org.plan_tier).tier  # the org's plan, not the creator's
    return await keys.add_key(db, secret_key, acting.user, body, tier=tier, org_id=org_id)
