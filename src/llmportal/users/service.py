"""User accounts: creation, lookup, plan changes. Rules live here; endpoints only translate."""

from __future__ import annotations

import asyncio

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.security.passwords import hash_password, password_problem
from llmportal.users.models import User


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise PortalError(400, f"email: {exc}") from exc


async def get_by_email(db: AsyncSession, email: str) -> User | None:
    return (await db.execute(select(User).where(User.email == email.lower()))).scalar_one_or_none()


async def admin_exists(db: AsyncSession) -> bool:
    count = await db.scalar(select(func.count()).select_from(User).where(User.role == "ADMIN"))
    return bool(count)


async def create_user(
    db: AsyncSession,
    *,
    email: str,
    password: str,
    name: str | None = None,
    admin: bool = False,
    verified: bool = False,
) -> User:
    email = normalize_email(email)
    problem = password_problem(password)
    if problem:
        raise PortalError(400, problem)
    if await get_by_email(db, email) is not None:
        raise PortalError(409, "An account with this email already exists")
    first, _, last = (name or "").strip().partition(" ")
    user = User(
        email=email,
        name=(name or "").strip() or None,
        first_name=first or None,
        last_name=last.strip() or None,
        password_hash=await asyncio.to_thread(hash_password, password),
        role="ADMIN" if admin or not await admin_exists(db) else "USER",
        email_verified_at=utcnow() if verified else None,
    )
    db.add(user)
    await db.flush()
    return user


async def set_plan(db: AsyncSession, email: str, tier: str, known_tiers: list[str]) -> User:
    tier = tier.upper()
    if tier not in known_tiers:
        raise PortalError(400, f"plan: unknown tier '{tier}' (known: {', '.join(known_tiers)})")
    user = await get_by_email(db, normalize_email(email))
    if user is None:
        raise PortalError(404, "User not found")
    user.plan_tier = tier
    await db.flush()
    return user
