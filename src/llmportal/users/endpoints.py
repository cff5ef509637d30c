from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response

from llmportal.auth import ratelimits
from llmportal.deps import BrowserPrincipal, CurrentUser, DbSession, PortalDep
from llmportal.email.mailer import mailer_for
from llmportal.openapi import Success, errors
from llmportal.users import profile as profiles
from llmportal.users.schemas import PasswordChangeIn, Profile, ProfilePatch, profile

router = APIRouter(prefix="/api/user", tags=["user"])


@router.get("/profile", response_model=Profile)
async def get_profile(user: CurrentUser) -> dict[str, Any]:
    return profile(user)


@router.patch("/profile", response_model=Profile, responses=errors(409))
async def patch_profile(
    body: ProfilePatch,
    user: CurrentUser,
    db: DbSession,
    portal: PortalDep,
    background: BackgroundTasks,
) -> dict[str, Any]:
    for email in await profiles.update_profile(db, portal, user, body):
        background.add_task(mailer_for(portal).send_safely, email)
    return profile(user)


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
