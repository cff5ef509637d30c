"""Profile changes and password changes: the rules behind PATCH /api/user/profile and
POST /api/user/password."""

from __future__ import annotations

import asyncio
import re
import zoneinfo
from functools import cache
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth import sessions, tokens
from llmportal.auth.service import verification_for
from llmportal.budgets.schemas import apply_budget
from llmportal.budgets.scopes import USER
from llmportal.budgets.service import budget_json
from llmportal.db import utcnow
from llmportal.email.mailer import Email
from llmportal.email.templates import email_changed_notice
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.security.passwords import hash_password, password_problem, verify_password
from llmportal.users.models import User
from llmportal.users.schemas import ProfilePatch, profile
from llmportal.users.service import get_by_email, normalize_email

_PHONE_RE = re.compile(r"^\+?[0-9][0-9 ().\-]{2,29}$")
_OPTIONAL_TEXT = ("name", "company", "first_name", "last_name")


@cache
def _timezones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def valid_timezone(name: str) -> bool:
    if name in _timezones():
        return True
    try:  # zones the system database lacks but the tzdata package has
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return "/" in name or name == "UTC"


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


async def profile_json(portal: Portal, user: User) -> dict[str, Any]:
    """The profile body, with the spend of the user's budget when they have one."""
    return profile(user, await budget_json(portal, USER, user, user.id))


async def update_profile(
    db: AsyncSession, portal: Portal, user: User, patch: ProfilePatch, *, via_key: bool = False
) -> list[Email]:
    """Apply the fields present in the body; returns emails owed (verification, notice)."""
    if patch.budget_given():
        if via_key:
            raise PortalError(403, "Changing the budget requires a browser session")
        apply_budget(user, patch, utcnow())
    given: dict[str, Any] = patch.model_dump(exclude_unset=True)
    for field in _OPTIONAL_TEXT:
        if field in given:
            setattr(user, field, _clean(given[field]))
    if "phone" in given:
        phone = _clean(given["phone"])
        if phone is not None and not _PHONE_RE.match(phone):
            raise PortalError(400, "phone: must be a phone number such as +1 555 0100")
        user.phone = phone
    if "timezone" in given:
        tz = _clean(given["timezone"])
        if tz is not None and not valid_timezone(tz):
            raise PortalError(
                400, f"timezone: '{tz}' is not an IANA time zone name such as Europe/Athens"
            )
        user.timezone = tz
    owed: list[Email] = []
    if "email" in given:
        if _clean(given["email"]) is None:
            raise PortalError(400, "email: must not be empty")
        owed = await _change_email(db, portal, user, given["email"])
    try:
        await db.flush()
    except IntegrityError as exc:  # another account took the address in the meantime
        raise PortalError(409, "An account with this email already exists") from exc
    return owed


async def _change_email(db: AsyncSession, portal: Portal, user: User, raw: str) -> list[Email]:
    new = normalize_email(raw)
    if new == user.email:
        return []
    if await get_by_email(db, new) is not None:
        raise PortalError(409, "An account with this email already exists")
    old = user.email
    user.email = new
    user.email_verified_at = None
    await tokens.revoke_all(db, user.id, "RESET_PASSWORD")
    await db.flush()
    notice = email_changed_notice(portal.settings.public_url, old, user.name, new)
    return [await verification_for(db, portal, user), notice]


async def change_password(
    db: AsyncSession,
    user: User,
    current: str,
    new: str,
    keep_session_id: str | None,
) -> None:
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise PortalError(400, "currentPassword: the current password is incorrect")
    problem = password_problem(new)
    if problem:
        raise PortalError(400, f"newPassword: {problem}")
    if new == current:
        raise PortalError(400, "newPassword: must differ from the current password")
    user.password_hash = await asyncio.to_thread(hash_password, new)
    await tokens.revoke_all(db, user.id, "RESET_PASSWORD")
    await sessions.end_all_sessions(db, user.id, keep=keep_session_id)
    await db.flush()
