"""The org routes' dependency: the caller's membership of the org in the path (404 if none)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from llmportal.deps import BrowserPrincipal, DbSession
from llmportal.orgs import service
from llmportal.orgs.service import Membership


async def org_membership(org_id: str, principal: BrowserPrincipal, db: DbSession) -> Membership:
    return await service.membership(db, org_id, principal.user)


OrgMembership = Annotated[Membership, Depends(org_membership)]
