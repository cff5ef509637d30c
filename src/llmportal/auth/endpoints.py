from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from llmportal.auth import sessions
from llmportal.auth.schemas import LoginIn
from llmportal.deps import ClientIP, CurrentPrincipal, DbSession, PortalDep
from llmportal.errors import PortalError
from llmportal.security.passwords import verify_password
from llmportal.users import service as users
from llmportal.users.schemas import profile

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login")
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    db: DbSession,
    portal: PortalDep,
    ip: ClientIP,
) -> dict[str, Any]:
    user = await users.get_by_email(db, body.email.strip())
    ok = verify_password(user.password_hash if user else None, body.password)
    if user is None or not ok:
        raise PortalError(401, "Invalid email or password")
    if portal.settings.require_email_verification and not user.email_verified:
        raise PortalError(403, "Email not verified")
    if user.status != "ACTIVE":
        raise PortalError(403, "Account suspended")
    token = await sessions.start_session(db, portal, user.id, ip, request.headers.get("user-agent"))
    sessions.set_session_cookie(response, portal, token)
    return profile(user)


@router.post("/logout")
async def logout(
    principal: CurrentPrincipal, response: Response, db: DbSession, portal: PortalDep
) -> dict[str, bool]:
    if principal.auth_session_id:
        await sessions.end_session(db, principal.auth_session_id)
    sessions.clear_session_cookie(response, portal)
    return {"success": True}
