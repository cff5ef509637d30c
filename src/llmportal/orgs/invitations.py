"""Invitations by email: a random single-use token (only its keyed hash is stored) in a link
valid 7 days; accepted by the signed-in user whose email is the one invited."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from llmportal.db import utcnow
from llmportal.email.mailer import Email
from llmportal.email.templates import org_invitation_email
from llmportal.errors import PortalError
from llmportal.orgs.models import RANK, Organization, OrgInvitation, OrgMember
from llmportal.orgs.service import Membership, lock_org, require_role
from llmportal.portal import Portal
from llmportal.security.tokens import keyed_hash, random_token
from llmportal.users import service as users
from llmportal.users.models import User

LIFETIME = timedelta(days=7)
PENDING_MAX = 100  # per org
INVALID = "Invalid invitation link"


def _pending(now: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        OrgInvitation.accepted_at.is_(None),
        OrgInvitation.revoked_at.is_(None),
        OrgInvitation.expires_at > now,
    )


async def invite(
    db: AsyncSession, portal: Portal, acting: Membership, email: str, role: str
) -> tuple[OrgInvitation, Email]:
    """A new invitation and the email that carries its link (sent after the commit). Inviting
    an address again replaces its pending invitation: only the newest link works."""
    require_role(acting, "ADMIN")
    if RANK[role] > RANK[acting.role]:
        raise PortalError(403, f"You cannot invite with a role above your own ({acting.role})")
    address = users.normalize_email(email)
    org_id = acting.org.id
    await lock_org(db, org_id)
    already = await db.scalar(
        select(OrgMember.id)
        .join(User, User.id == OrgMember.user_id)
        .where(OrgMember.org_id == org_id, User.email == address)
    )
    if already is not None:
        raise PortalError(409, f"{address} is already a member of this organization")
    now = utcnow()
    await db.execute(
        update(OrgInvitation)
        .where(OrgInvitation.org_id == org_id, OrgInvitation.email == address, *_pending(now))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    waiting = await db.scalar(
        select(func.count())
        .select_from(OrgInvitation)
        .where(OrgInvitation.org_id == org_id, *_pending(now))
    )
    if (waiting or 0) >= PENDING_MAX:
        raise PortalError(
            409, f"This organization has {PENDING_MAX} pending invitations; revoke some first"
        )
    token = random_token()
    invitation = OrgInvitation(
        org_id=org_id,
        email=address,
        role=role,
        token_hash=keyed_hash(portal.secret_key, token),
        invited_by=acting.user.id,
        created_at=now,
        expires_at=now + LIFETIME,
    )
    db.add(invitation)
    await db.flush()
    inviter = acting.user.name or acting.user.email
    mail = org_invitation_email(
        portal.settings.public_url, address, acting.org.name, inviter, role, token
    )
    return invitation, mail


async def list_pending(
    db: AsyncSession, acting: Membership
) -> list[tuple[OrgInvitation, User | None]]:
    require_role(acting, "ADMIN")
    org_id = acting.org.id
    inviter = aliased(User)
    rows = await db.execute(
        select(OrgInvitation, inviter)
        .outerjoin(inviter, inviter.id == OrgInvitation.invited_by)
        .where(OrgInvitation.org_id == org_id, *_pending(utcnow()))
        .order_by(OrgInvitation.created_at.desc(), OrgInvitation.id.desc())
    )
    return [(i, u) for i, u in rows.all()]


async def revoke(db: AsyncSession, acting: Membership, invitation_id: str) -> None:
    require_role(acting, "ADMIN")
    invitation = await db.scalar(
        select(OrgInvitation).where(
            OrgInvitation.id == invitation_id, OrgInvitation.org_id == acting.org.id
        )
    )
    if invitation is None:
        raise PortalError(404, "Invitation not found")
    status = invitation.status()
    if status != "PENDING":
        raise PortalError(409, f"This invitation is no longer pending ({status.lower()})")
    invitation.revoked_at = utcnow()
    await db.flush()


async def accept(
    db: AsyncSession, portal: Portal, user: User, token: str
) -> tuple[Organization, OrgMember]:
    invitation = await db.scalar(
        select(OrgInvitation).where(
            OrgInvitation.token_hash == keyed_hash(portal.secret_key, token.strip())
        )
    )
    if invitation is None:
        raise PortalError(400, INVALID)
    status = invitation.status()
    if status == "ACCEPTED":
        raise PortalError(400, "This invitation has already been used")
    if status == "REVOKED":
        raise PortalError(400, "This invitation was revoked or replaced by a newer one")
    if status == "EXPIRED":
        raise PortalError(400, "This invitation has expired; ask for a new one")
    if invitation.email != user.email.lower():
        # Not naming the invited address: the link may have reached someone else.
        raise PortalError(
            403, "This invitation is for another email address: sign in with that address"
        )
    org = await db.get(Organization, invitation.org_id)
    if org is None:
        raise PortalError(400, INVALID)
    member_id = await db.scalar(
        select(OrgMember.id).where(OrgMember.org_id == org.id, OrgMember.user_id == user.id)
    )
    if member_id is not None:
        raise PortalError(409, "You are already a member of this organization")
    now = utcnow()
    # Conditional: of two uses of one link at the same time, one wins.
    claimed = await db.execute(
        update(OrgInvitation)
        .where(
            OrgInvitation.id == invitation.id,
            OrgInvitation.accepted_at.is_(None),
            OrgInvitation.revoked_at.is_(None),
        )
        .values(accepted_at=now, accepted_by=user.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PortalError(400, "This invitation has already been used")
    member = OrgMember(org_id=org.id, user_id=user.id, role=invitation.role)
    try:
        async with db.begin_nested():
            db.add(member)
    except IntegrityError:  # joined through another invitation at the same moment
        raise PortalError(409, "You are already a member of this organization") from None
    return org, member
