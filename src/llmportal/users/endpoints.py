from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response

from llmportal.auth import ratelimits
from llmportal.deps import BrowserPrincipal, CurrentPrincipal, CurrentUser, DbSession, PortalDep
from llmportal.email.mailer import mailer_for
from llmportal.openapi import Success, errors
from llmportal.users import profile as profiles
from llmportal.users.schemas import PasswordChangeIn, Profile, ProfilePatch

router = APIRouter(prefix="/api/user", tags=["user"])


@router.get("/profile", response_model=Profile)
async def get_profile(user: CurrentUser, portal: PortalDep) -> dict[str, Any]:
    return await profiles.profile_json(portal, user)


@router.patch("/profile", response_model=Profile, responses=errors(409))
async def patch_profile(
    body: ProfilePatch,
    principal: CurrentPrincipal,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    user = principal.user
    owed = await profiles.update_profile(db, portal, user, body, via_key=principal.via_key)
    for email in owed:
        background.add_task(mailer_for(portal).send_safely, email)
    return await profiles.profile_json(portal, user)


@router.post("/password", response_model=Success)
async def change_password(
    body: PasswordChangeIn,
    principal: BrowserPrincipal,
    db: DbSession,
    portal: PortalDep,
    response: Response,
) -> dict[str, Any]:
    user = principal.user
    await ratelimits.enforce(portal, ratelimits.PASSWORD_CHANGE, f"user:{user.id}", response)
    await profiles.change_password(
        db, user, body.current_password, body.new_password, principal.auth_session_id
    )
    return {"success": True}
