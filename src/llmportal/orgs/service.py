"""Organizations and their members: who may do what, and never an org without an owner.

Rules live here; endpoints only translate HTTP. Every change to the owners of an org first
takes the org row's lock, so two owners demoting each other at once cannot both succeed."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.models import Subscription
from llmportal.billing.subscriptions import ENDED
from llmportal.budgets.schemas import apply_budget
from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.keys.models import ApiKey
from llmportal.orgs.models import RANK, Organization, OrgInvitation, OrgMember
from llmportal.orgs.schemas import OrgLimits
from llmportal.users.models import User

ORG_NOT_FOUND = "Organization not found"
SUBSCRIBED = "Cancel the organization's paid subscription before deleting the organization"
MEMBER_NOT_FOUND = "Member not found"
LAST_OWNER = (
    "An organization needs at least one owner: make another member an owner first, "
    "or delete the organization"
)


@dataclass(slots=True)
class Membership:
    """The caller's place in one org (what the org routes depend on)."""

    org: Organization
    member: OrgMember
    user: User

    @property
    def role(self) -> str:
        return self.member.role

    def at_least(self, role: str) -> bool:
        return RANK[self.member.role] >= RANK[role]


def require_role(membership: Membership, role: str) -> None:
    if not membership.at_least(role):
        who = "an owner" if role == "OWNER" else "an admin or owner"
        raise PortalError(403, f"Only {who} of the organization can do this")


async def lock_org(db: AsyncSession, org_id: str) -> None:
    # A no-op write takes the row lock on PostgreSQL (the write lock on SQLite) until commit.
    await db.execute(
        update(Organization)
        .where(Organization.id == org_id)
        .values(updated_at=Organization.updated_at)
        .execution_options(synchronize_session=False)
    )


async def membership(db: AsyncSession, org_id: str, user: User) -> Membership:
    """The user's membership; an org they are not in is indistinguishable from none at all."""
    row = (
        await db.execute(
            select(Organization, OrgMember)
            .join(OrgMember, OrgMember.org_id == Organization.id)
            .where(Organization.id == org_id, OrgMember.user_id == user.id)
        )
    ).first()
    if row is None:
        raise PortalError(404, ORG_NOT_FOUND)
    return Membership(org=row[0], member=row[1], user=user)


async def member_count(db: AsyncSession, org_id: str) -> int:
    count = await db.scalar(
        select(func.count()).select_from(OrgMember).where(OrgMember.org_id == org_id)
    )
    return int(count or 0)


async def _owner_count(db: AsyncSession, org_id: str) -> int:
    count = await db.scalar(
        select(func.count())
        .select_from(OrgMember)
        .where(OrgMember.org_id == org_id, OrgMember.role == "OWNER")
    )
    return int(count or 0)


async def create_org(db: AsyncSession, user: User, name: str) -> Membership:
    org = Organization(name=name)
    db.add(org)
    await db.flush()
    member = OrgMember(org_id=org.id, user_id=user.id, role="OWNER")
    db.add(member)
    await db.flush()
    return Membership(org=org, member=member, user=user)


async def my_orgs(db: AsyncSession, user_id: str) -> list[tuple[Organization, str, int]]:
    """(org, my role, member count) for every org the user is in, oldest membership first."""
    counts = select(OrgMember.org_id, func.count().label("n")).group_by(OrgMember.org_id).subquery()
    rows = await db.execute(
        select(Organization, OrgMember.role, counts.c.n)
        .join(OrgMember, OrgMember.org_id == Organization.id)
        .join(counts, counts.c.org_id == Organization.id)
        .where(OrgMember.user_id == user_id)
        .order_by(OrgMember.created_at, Organization.id)
    )
    return [(org, role, int(n)) for org, role, n in rows.all()]


async def rename(db: AsyncSession, acting: Membership, name: str) -> Organization:
    require_role(acting, "OWNER")
    acting.org.name = name
    acting.org.updated_at = utcnow()
    await db.flush()
    return acting.org


async def set_limits(db: AsyncSession, acting: Membership, body: OrgLimits) -> Organization:
    """The budget and allow-list over every org key: admins and owners set them."""
    require_role(acting, "ADMIN")
    org = acting.org
    changed = apply_budget(org, body, utcnow())
    if "models" in body.model_fields_set and body.models != org.models:
        org.models = body.models
        changed = True
    if changed:
        org.updated_at = utcnow()
        await db.flush()
    return org


async def delete_org(db: AsyncSession, acting: Membership) -> None:
    require_role(acting, "OWNER")
    org_id = acting.org.id
    # Stripe would go on charging a subscription nobody could see or cancel any more.
    renewing = await db.scalar(
        select(Subscription.id).where(
            Subscription.org_id == org_id,
            Subscription.status.not_in(ENDED),
            Subscription.cancel_at_period_end.is_(False),
        )
    )
    if renewing is not None:
        raise PortalError(409, SUBSCRIBED)
    # Keys first, by an ORM statement: the key cache hears of it (a database cascade would
    # leave the keys working until the cache's entries expire). Usage history stays.
    await db.execute(delete(ApiKey).where(ApiKey.org_id == org_id))
    await db.execute(delete(OrgInvitation).where(OrgInvitation.org_id == org_id))
    await db.execute(delete(OrgMember).where(OrgMember.org_id == org_id))
    await db.execute(delete(Organization).where(Organization.id == org_id))
    await db.flush()


async def list_members(db: AsyncSession, org_id: str) -> list[tuple[OrgMember, User]]:
    rows = await db.execute(
        select(OrgMember, User)
        .join(User, User.id == OrgMember.user_id)
        .where(OrgMember.org_id == org_id)
        .order_by(OrgMember.created_at, OrgMember.id)
    )
    found = [(m, u) for m, u in rows.all()]
    return sorted(found, key=lambda mu: -RANK[mu[0].role])


async def _member(db: AsyncSession, org_id: str, user_id: str) -> tuple[OrgMember, User]:
    row = (
        await db.execute(
            select(OrgMember, User)
            .join(User, User.id == OrgMember.user_id)
            .where(OrgMember.org_id == org_id, OrgMember.user_id == user_id)
        )
    ).first()
    if row is None:
        raise PortalError(404, MEMBER_NOT_FOUND)
    return row[0], row[1]


async def change_role(
    db: AsyncSession, acting: Membership, user_id: str, role: str
) -> tuple[OrgMember, User]:
    require_role(acting, "ADMIN")
    await lock_org(db, acting.org.id)
    member, user = await _member(db, acting.org.id, user_id)
    if member.role == role:
        return member, user
    if "OWNER" in (member.role, role) and not acting.at_least("OWNER"):
        raise PortalError(403, "Only an owner can make someone an owner or change an owner's role")
    if member.role == "OWNER" and await _owner_count(db, acting.org.id) <= 1:
        raise PortalError(409, LAST_OWNER)
    member.role = role
    member.updated_at = utcnow()
    await db.flush()
    return member, user


async def remove_member(db: AsyncSession, acting: Membership, user_id: str) -> None:
    """Remove a member. The keys they created stay the org's and keep working."""
    if user_id == acting.user.id:
        await leave(db, acting)
        return
    require_role(acting, "ADMIN")
    await lock_org(db, acting.org.id)
    member, _ = await _member(db, acting.org.id, user_id)
    if member.role == "OWNER" and not acting.at_least("OWNER"):
        raise PortalError(403, "Only an owner can remove an owner")
    await db.execute(delete(OrgMember).where(OrgMember.id == member.id))
    await db.flush()


async def leave(db: AsyncSession, acting: Membership) -> None:
    await lock_org(db, acting.org.id)
    await db.refresh(acting.member)  # the role as it is now that the org is locked
    if acting.role == "OWNER" and await _owner_count(db, acting.org.id) <= 1:
        raise PortalError(409, LAST_OWNER)
    await db.execute(delete(OrgMember).where(OrgMember.id == acting.member.id))
    await db.flush()
