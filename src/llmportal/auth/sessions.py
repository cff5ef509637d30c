"""Browser sessions: issue, set the cookie, end one, end all of a user's."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Response
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth.models import AuthSession
from llmportal.db import utcnow
from llmportal.deps import SESSION_COOKIE
from llmportal.portal import Portal
from llmportal.security.tokens import keyed_hash, random_token


async def start_session(
    db: AsyncSession, portal: Portal, user_id: str, ip: str, user_agent: str | None
) -> str:
    token = random_token()
    db.add(
        AuthSession(
            user_id=user_id,
            token_hash=keyed_hash(portal.secret_key, token),
            expires_at=utcnow() + timedelta(hours=portal.settings.session_ttl_hours),
            ip=ip,
            user_agent=(user_agent or "")[:300] or None,
        )
    )
    await db.flush()
    return token


def set_session_cookie(response: Response, portal: Portal, token: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=portal.settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=portal.settings.secure_cookies,
        path="/",
    )


def clear_session_cookie(response: Response, portal: Portal) -> None:
    response.delete_cookie(
        SESSION_COOKIE, httponly=True, samesite="lax", secure=portal.settings.secure_cookies
    )


async def end_session(db: AsyncSession, session_id: str) -> None:
    await db.execute(delete(AuthSession).where(AuthSession.id == session_id))


async def end_all_sessions(db: AsyncSession, user_id: str, keep: str | None = None) -> None:
    stmt = delete(AuthSession).where(AuthSession.user_id == user_id)
    if keep:
        stmt = stmt.where(AuthSession.id != keep)
    await db.execute(stmt)
