from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, Request, Response

from llmportal.auth import ratelimits, service, sessions, twofactor
from llmportal.auth.schemas import (
    BackupCodes,
    EmailIn,
    EmailVerified,
    LoginIn,
    Notice,
    Registered,
    RegisterIn,
    ResetPasswordIn,
    TokenIn,
    TwoFactorDisableIn,
    TwoFactorSetup,
    TwoFactorTokenIn,
)
from llmportal.deps import BrowserPrincipal, ClientIP, CurrentPrincipal, DbSession, PortalDep
from llmportal.email.mailer import Email, mailer_for
from llmportal.jsonio import FastJSONResponse
from llmportal.openapi import ErrorResponse, Success, errors
from llmportal.portal import Portal
from llmportal.users.profile import profile_json
from llmportal.users.schemas import Profile

router = APIRouter(prefix="/api/auth", tags=["auth"])

# One answer whether or not the address has an account, so neither endpoint reveals which exist.
RESEND_ANSWER = {
    "success": True,
    "message": "If that address has an unverified account, a verification email is on its way.",
}
FORGOT_ANSWER = {
    "success": True,
    "message": "If that address has an account, a password reset email is on its way.",
}


def limited(rule: ratelimits.Rule) -> Any:
    # scope="function": the limit's headers are added to the route's own error answers.
    return Depends(ratelimits.per_ip(rule), scope="function")


def send_later(background: BackgroundTasks, portal: Portal, email: Email | None) -> None:
    """Background tasks run after the response, so after the request's transaction committed."""
    if email is not None:
        background.add_task(mailer_for(portal).send_safely, email)


@router.post(
    "/register",
    status_code=201,
    response_model=Registered,
    responses=errors(409, 429),
    dependencies=[limited(ratelimits.REGISTER)],
)
async def register(
    body: RegisterIn, db: DbSession, portal: PortalDep, background: BackgroundTasks
) -> dict[str, Any]:
    user, email = await service.register(
        db, portal, name=body.name, email=body.email, password=body.password
    )
    send_later(background, portal, email)
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "requiresVerification": portal.settings.require_email_verification,
    }


@router.post("/verify-email", response_model=EmailVerified)
async def verify_email(body: TokenIn, db: DbSession, portal: PortalDep) -> dict[str, Any]:
    user = await service.verify_email(db, portal, body.token)
    return {"success": True, "email": user.email, "emailVerified": True}


@router.post(
    "/resend-verification",
    response_model=Notice,
    responses=errors(429),
    dependencies=[limited(ratelimits.RESEND_VERIFICATION)],
)
async def resend_verification(
    body: EmailIn, db: DbSession, portal: PortalDep, background: BackgroundTasks
) -> dict[str, Any]:
    send_later(background, portal, await service.resend_verification(db, portal, body.email))
    return RESEND_ANSWER


@router.post(
    "/forgot-password",
    response_model=Notice,
    responses=errors(429),
    dependencies=[limited(ratelimits.FORGOT_PASSWORD)],
)
async def forgot_password(
    body: EmailIn, db: DbSession, portal: PortalDep, background: BackgroundTasks
) -> dict[str, Any]:
    send_later(background, portal, await service.forgot_password(db, portal, body.email))
    return FORGOT_ANSWER


@router.post("/reset-password", response_model=Success)
async def reset_password(body: ResetPasswordIn, db: DbSession, portal: PortalDep) -> dict[str, Any]:
    await service.reset_password(db, portal, body.token, body.password)
    return {"success": True}


@router.post(
    "/login",
    response_model=Profile,
    responses={
        **errors(429),
        401: {
            "model": ErrorResponse,
            "description": "Wrong email or password (one message for both); with 2FA on and "
            "no or a wrong `code`, the body adds `requires2FA: true`",
        },
    },
    dependencies=[limited(ratelimits.LOGIN)],
)
async def login(
    body: LoginIn,
    request: Request,
    response: Response,
    db: DbSession,
    portal: PortalDep,
    ip: ClientIP,
) -> dict[str, Any]:
    attempt = service.LoginAttempt(email=body.email, password=body.password, code=body.code)
    user = await service.authenticate(db, portal, attempt)
    token = await sessions.start_session(db, portal, user.id, ip, request.headers.get("user-agent"))
    sessions.set_session_cookie(response, portal, token)
    return await profile_json(portal, user)


@router.post("/logout", response_model=Success)
async def logout(
    principal: CurrentPrincipal, response: Response, db: DbSession, portal: PortalDep
) -> dict[str, bool]:
    if principal.auth_session_id:
        await sessions.end_session(db, principal.auth_session_id)
    sessions.clear_session_cookie(response, portal)
    return {"success": True}


# --- two-factor authentication (browser sessions only) -----------------------------------------


@router.post("/2fa/setup", response_model=TwoFactorSetup, responses=errors(409))
async def twofa_setup(
    principal: BrowserPrincipal, db: DbSession, portal: PortalDep
) -> FastJSONResponse:
    body = await twofactor.setup(db, portal.secret_key, principal.user)
    # The secret is shown once; keep it out of caches.
    return FastJSONResponse(body, headers={"Cache-Control": "no-store"})


@router.post("/2fa/verify", response_model=BackupCodes, responses=errors(409))
async def twofa_verify(
    body: TwoFactorTokenIn,
    principal: BrowserPrincipal,
    db: DbSession,
    portal: PortalDep,
    response: Response,
) -> dict[str, Any]:
    user = principal.user
    await ratelimits.enforce(portal, ratelimits.SECOND_FACTOR, f"user:{user.id}", response)
    codes = await twofactor.enable(db, portal.secret_key, user, body.token)
    response.headers["Cache-Control"] = "no-store"
    return {"success": True, "backupCodes": codes}


@router.post("/2fa/disable", response_model=Success)
async def twofa_disable(
    body: TwoFactorDisableIn,
    principal: BrowserPrincipal,
    db: DbSession,
    portal: PortalDep,
    response: Response,
) -> dict[str, Any]:
    user = principal.user
    await ratelimits.enforce(portal, ratelimits.SECOND_FACTOR, f"user:{user.id}", response)
    await twofactor.disable(db, portal.secret_key, user, body.password, body.token)
    return {"success": True}
