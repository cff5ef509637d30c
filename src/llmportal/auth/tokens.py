"""One-time emailed tokens: random, stored as a keyed hash, single use, expiring."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth.models import AuthToken
from llmportal.db import utcnow
from llmportal.errors import PortalError
from llmportal.security.tokens import keyed_hash, random_token

Purpose = Literal["VERIFY_EMAIL", "RESET_PASSWORD"]
LIFETIME: dict[str, timedelta] = {
    "VERIFY_EMAIL": timedelta(hours=24),
    "RESET_PASSWORD": timedelta(hours=1),
}
_WHAT = {"VERIFY_EMAIL": "verification", "RESET_PASSWORD": "password reset"}


async def issue(
    db: AsyncSession, secret_key: str, user_id: str, email: str, purpose: Purpose
) -> str:
    """A new token for the user; earlier unused tokens of the same purpose stop working."""
    await revoke_all(db, user_id, purpose)
    token = random_token()
    db.add(
        AuthToken(
            user_id=user_id,
            purpose=purpose,
            token_hash=keyed_hash(secret_key, token),
            email=email,
            expires_at=utcnow() + LIFETIME[purpose],
        )
    )
    await db.flush()
    return token


async def revoke_all(db: AsyncSession, user_id: str, purpose: Purpose) -> None:
    # Used and expired rows go too: nothing is left to check them against.
    await db.execute(
        delete(AuthToken).where(AuthToken.user_id == user_id, AuthToken.purpose == purpose)
    )


async def consume(db: AsyncSession, secret_key: str, token: str, purpose: Purpose) -> AuthToken:
    """Mark the token used and return it; 400 when unknown, used or expired.

    The conditional UPDATE makes two concurrent uses of one token succeed at most once."""
    what = _WHAT[purpose]
    row = (
        await db.execute(
            select(AuthToken).where(
                AuthToken.token_hash == keyed_hash(secret_key, token.strip()),
                AuthToken.purpose == purpose,
            )
        )
    ).scalar_one_or_none()
    if row is None or row.used_at is not None:
        raise PortalError(400, f"Invalid or already used {what} token")
    now = utcnow()
    if row.expires_at <= now:
        raise PortalError(400, f"This {what} token has expired; request a new one")
    claimed = await db.execute(
        update(AuthToken)
        .where(AuthToken.id == row.id, AuthToken.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise PortalError(400, f"Invalid or already used {what} token")
    row.used_at = now
    return row
