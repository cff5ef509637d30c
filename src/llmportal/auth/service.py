"""Account rules: registration, email verification, password reset, login with lockout and 2FA.

Functions that owe the user an email return it; the endpoint sends it after the commit."""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth import sessions, tokens, twofactor
from llmportal.db import transaction, utcnow
from llmportal.email.mailer import Email
from llmportal.email.templates import reset_email, verification_email
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.security.passwords import hash_password, password_problem, verify_password
from llmportal.users import service as users
from llmportal.users.models import User

INVALID_CREDENTIALS = "Invalid email or password"


async def verification_for(db: AsyncSession, portal: Portal, user: User) -> Email:
    token = await tokens.issue(db, portal.secret_key, user.id, user.email, "VERIFY_EMAIL")
    return verification_email(portal.settings.public_url, user.email, user.name, token)


async def register(
    db: AsyncSession, portal: Portal, *, name: str | None, email: str, password: str
) -> tuple[User, Email]:
    user = await users.create_user(db, email=email, password=password, name=name)
    return user, await verification_for(db, portal, user)


async def verify_email(db: AsyncSession, portal: Portal, token: str) -> User:
    row = await tokens.consume(db, portal.secret_key, token, "VERIFY_EMAIL")
    user = await db.get(User, row.user_id)
    if user is None or user.email != row.email:
        # The account moved to another address since this link was sent.
        raise PortalError(400, "Invalid or already used verification token")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    await db.flush()
    return user


async def resend_verification(db: AsyncSession, portal: Portal, email: str) -> Email | None:
    user = await users.get_by_email(db, users.normalize_email(email))
    if user is None or user.email_verified or user.status != "ACTIVE":
        return None
    return await verification_for(db, portal, user)


async def forgot_password(db: AsyncSession, portal: Portal, email: str) -> Email | None:
    user = await users.get_by_email(db, users.normalize_email(email))
    if user is None or user.status != "ACTIVE":
        return None
    token = await tokens.issue(db, portal.secret_key, user.id, user.email, "RESET_PASSWORD")
    return reset_email(portal.settings.public_url, user.email, user.name, token)


async def reset_password(db: AsyncSession, portal: Portal, token: str, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise PortalError(400, problem)
    row = await tokens.consume(db, portal.secret_key, token, "RESET_PASSWORD")
    user = await db.get(User, row.user_id)
    if user is None:
        raise PortalError(400, "Invalid or already used password reset token")
    user.password_hash = await asyncio.to_thread(hash_password, password)
    user.failed_logins = 0
    user.locked_until = None
    if user.email_verified_at is None and user.email == row.email:
        user.email_verified_at = utcnow()  # the link reached the inbox: the address is theirs
    await tokens.revoke_all(db, user.id, "RESET_PASSWORD")
    await sessions.end_all_sessions(db, user.id)
    await db.flush()


# --- login -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoginAttempt:
    email: str
    password: str
    code: str | None


def _locked_error(seconds: int) -> PortalError:
    minutes = max(1, math.ceil(seconds / 60))
    return PortalError(
        429,
        f"Too many failed login attempts. This account is locked; try again in {minutes} "
        f"minute{'s' if minutes != 1 else ''} or reset your password.",
        headers={"Retry-After": str(max(1, seconds))},
    )


async def _record_failure(portal: Portal, user_id: str) -> int | None:
    """Count a failed attempt in its own transaction (the request's own one rolls back).

    Returns the lockout in seconds when this failure locked the account."""
    settings = portal.settings
    async with transaction(portal.sessionmaker) as db:
        await db.execute(
            update(User)
            .where(User.id == user_id)
            .values(failed_logins=User.failed_logins + 1)
            .execution_options(synchronize_session=False)
        )
        lock = await db.execute(
            update(User)
            .where(User.id == user_id, User.failed_logins >= settings.login_max_failures)
            .values(
                failed_logins=0,
                locked_until=utcnow() + timedelta(minutes=settings.login_lockout_minutes),
            )
            .execution_options(synchronize_session=False)
        )
    if lock.rowcount == 1:  # type: ignore[attr-defined]
        return settings.login_lockout_minutes * 60
    return None


async def _fail(db: AsyncSession, portal: Portal, user_id: str, error: PortalError) -> PortalError:
    # Give up the request's transaction first: on SQLite it may hold the write lock that the
    # failure counter needs, and the request fails anyway.
    await db.rollback()
    locked_for = await _record_failure(portal, user_id)
    return _locked_error(locked_for) if locked_for else error


async def authenticate(db: AsyncSession, portal: Portal, attempt: LoginAttempt) -> User:
    user = await users.get_by_email(db, attempt.email.strip().lower())
    password_ok = await asyncio.to_thread(
        verify_password, user.password_hash if user else None, attempt.password
    )
    if user is None:
        raise PortalError(401, INVALID_CREDENTIALS)
    now = utcnow()
    if user.locked_until is not None and user.locked_until > now:
        raise _locked_error(math.ceil((user.locked_until - now).total_seconds()))
    if not password_ok:
        raise await _fail(db, portal, user.id, PortalError(401, INVALID_CREDENTIALS))
    if user.status != "ACTIVE":
        raise PortalError(403, "Account suspended")
    if portal.settings.require_email_verification and not user.email_verified:
        raise PortalError(403, "Email not verified")
    if user.totp_enabled:
        user_id = user.id
        if not attempt.code or not attempt.code.strip():
            raise PortalError(401, "Two-factor code required", requires2FA=True)
        if not await twofactor.check_code(db, portal.secret_key, user, attempt.code):
            error = PortalError(401, "Invalid two-factor code", requires2FA=True)
            raise await _fail(db, portal, user_id, error)
    user.failed_logins = 0
    user.locked_until = None
    await db.flush()
    return user
