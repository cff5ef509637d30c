"""/api/orgs: organizations, members and invitations. Browser sessions only, like /api/keys.

An org is named by a path segment (/api/orgs/{org_id}/...): explicit in every request and in
the logs, no hidden "current org" state. Non-members get 404 for everything of an org."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response

from llmportal.auth import ratelimits
from llmportal.budgets.scopes import ORG
from llmportal.budgets.service import budget_json
from llmportal.deps import BrowserPrincipal, DbSession, PortalDep
from llmportal.email.mailer import mailer_for
from llmportal.openapi import Success, errors
from llmportal.orgs import invitations, service
from llmportal.orgs.deps import OrgMembership
from llmportal.orgs.models import Organization
from llmportal.orgs.schemas import (
    InvitationIn,
    InvitationList,
    InvitationOut,
    InvitationToken,
    MemberList,
    MemberOut,
    OrgLimits,
    OrgLimitsOut,
    OrgList,
    OrgName,
    OrgOut,
    RoleIn,
    invitation_out,
    member_out,
    org_out,
)
from llmportal.portal import Portal

router = APIRouter(prefix="/api/orgs", tags=["orgs"])


@router.post("/invitations/accept", response_model=OrgOut, responses=errors(409))
async def accept_invitation(
    body: InvitationToken, principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    org, member = await invitations.accept(db, portal, principal.user, body.token)
    return org_out(org, member.role, await service.member_count(db, org.id))


@router.get("", response_model=OrgList)
async def list_orgs(principal: BrowserPrincipal, db: DbSession) -> dict[str, Any]:
    rows = await service.my_orgs(db, principal.user.id)
    return {"orgs": [org_out(org, role, count) for org, role, count in rows]}


@router.post("", status_code=201, response_model=OrgOut)
async def create_org(body: OrgName, principal: BrowserPrincipal, db: DbSession) -> dict[str, Any]:
    mine = await service.create_org(db, principal.user, body.name)
    return org_out(mine.org, mine.role, 1)


@router.get("/{org_id}", response_model=OrgOut)
async def get_org(mine: OrgMembership, db: DbSession) -> dict[str, Any]:
    return org_out(mine.org, mine.role, await service.member_count(db, mine.org.id))


@router.patch("/{org_id}", response_model=OrgOut)
async def rename_org(body: OrgName, mine: OrgMembership, db: DbSession) -> dict[str, Any]:
    org = await service.rename(db, mine, body.name)
    return org_out(org, mine.role, await service.member_count(db, org.id))


async def _limits(portal: Portal, org: Organization) -> dict[str, Any]:
    return {**await budget_json(portal, ORG, org, org.id), "models": org.models}


@router.get("/{org_id}/limits", response_model=OrgLimitsOut)
async def get_limits(mine: OrgMembership, portal: PortalDep) -> dict[str, Any]:
    """The org's USD budget (with the spend of its keys this period) and model allow-list."""
    return await _limits(portal, mine.org)


@router.patch("/{org_id}/limits", response_model=OrgLimitsOut)
async def set_limits(
    body: OrgLimits, mine: OrgMembership, db: DbSession, portal: PortalDep
) -> dict[str, Any]:
    """Admins and owners: `maxBudget` / `budgetPeriod` over every org key together (the
    strictest of the key's, the creating member's and the org's budgets refuses), and `models`,
    which every org key is held to besides its own list."""
    return await _limits(portal, await service.set_limits(db, mine, body))


@router.delete("/{org_id}", response_model=Success, responses=errors(409))
async def delete_org(mine: OrgMembership, db: DbSession) -> dict[str, bool]:
    await service.delete_org(db, mine)
    return {"success": True}


@router.post("/{org_id}/leave", response_model=Success, responses=errors(409))
async def leave_org(mine: OrgMembership, db: DbSession) -> dict[str, bool]:
    await service.leave(db, mine)
    return {"success": True}


@router.get("/{org_id}/members", response_model=MemberList)
async def list_members(mine: OrgMembership, db: DbSession) -> dict[str, Any]:
    rows = await service.list_members(db, mine.org.id)
    return {"members": [member_out(m, u) for m, u in rows]}


@router.patch("/{org_id}/members/{user_id}", response_model=MemberOut, responses=errors(409))
async def change_role(
    user_id: str, body: RoleIn, mine: OrgMembership, db: DbSession
) -> dict[str, Any]:
    member, user = await service.change_role(db, mine, user_id, body.role)
    return member_out(member, user)


@router.delete("/{org_id}/members/{user_id}", response_model=Success, responses=errors(409))
async def remove_member(user_id: str, mine: OrgMembership, db: DbSession) -> dict[str, bool]:
    await service.remove_member(db, mine, user_id)
    return {"success": True}


@router.get("/{org_id}/invitations", response_model=InvitationList)
async def list_invitations(mine: OrgMembership, db: DbSession) -> dict[str, Any]:
    rows = await invitations.list_pending(db, mine)
    return {"invitations": [invitation_out(i, u) for i, u in rows]}


@router.post(
    "/{org_id}/invitations",
    status_code=201,
    response_model=InvitationOut,
    responses=errors(409, 429),
)
async def invite(
    body: InvitationIn,
    mine: OrgMembership,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
    response: Response,
) -> dict[str, Any]:
    invitation, email = await invitations.invite(db, portal, mine, body.email, body.role)
    # Counted once the invitation is allowed; past the limit the transaction rolls back.
    await ratelimits.enforce(portal, ratelimits.ORG_INVITE, f"user:{mine.user.id}", response)
    # Background tasks run after the response, so after the transaction committed.
    background.add_task(mailer_for(portal).send_safely, email)
    return invitation_out(invitation, mine.user)


@router.delete(
    "/{org_id}/invitations/{invitation_id}", response_model=Success, responses=errors(409)
)
async def revoke_invitation(
    invitation_id: str, mine: OrgMembership, db: DbSession
) -> dict[str, bool]:
    await invitations.revoke(db, mine, invitation_id)
    return {"success": True}
