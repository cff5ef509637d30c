"""Typed FastAPI dependencies: the portal, the DB session, who is calling and what they may do."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.auth.models import AuthSession
from llmportal.db import session_scope, transaction, utcnow
from llmportal.errors import PortalError
from llmportal.model_allowlist import allowed
from llmportal.portal import Portal
from llmportal.security.clientip import client_ip
from llmportal.security.tokens import keyed_hash
from llmportal.users.models import User

SESSION_COOKIE = "llmportal_session"
PERMISSIONS = ("chat", "images", "vision", "files", "library")


# Dependencies are coroutines: FastAPI runs a plain function in a worker thread.
async def get_portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


PortalDep = Annotated[Portal, Depends(get_portal)]


async def db_session(portal: PortalDep) -> AsyncIterator[AsyncSession]:
    async for session in session_scope(portal.sessionmaker):
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is a
# failed request, never a 200 for data that was not saved.
DbSession = Annotated[AsyncSession, Depends(db_session, scope="function")]


async def get_client_ip(request: Request, portal: PortalDep) -> str:
    return client_ip(request, portal.trusted_proxies)


ClientIP = Annotated[str, Depends(get_client_ip)]


@dataclass(slots=True)
class Principal:
    """Who is calling: a user through a browser session, or through one of their API keys."""

    user: User
    api_key: Any | None = None  # keys.models.ApiKey when authenticated by a key
    auth_session_id: str | None = None
    org: Any | None = None  # orgs.models.Organization of an org key

    @property
    def via_key(self) -> bool:
        return self.api_key is not None

    @property
    def org_id(self) -> str | None:
        """The organization whose key authenticated this call, if any."""
        return getattr(self.api_key, "org_id", None) if self.api_key is not None else None

    def has_permission(self, permission: str) -> bool:
        if self.api_key is None:
            return True
        perms = getattr(self.api_key, "permissions", None)
        return perms is None or permission in perms

    def model_lists(self) -> tuple[list[str] | None, ...]:
        """Every model allow-list the caller's requests must pass (None: any model)."""
        if self.api_key is None:
            return ()
        key_list = getattr(self.api_key, "models", None)
        if self.org is None:
            return (key_list,)
        return (key_list, getattr(self.org, "models", None))

    def may_use_model(self, model: str) -> bool:
        return allowed(model, *self.model_lists())


# The keys domain installs its authenticator here at start-up. Without a session it opens a
# short one of its own when it needs the database (not for a key found in its cache).
KeyAuthenticator = Callable[[Request, str, AsyncSession | None, Portal], Awaitable[Principal]]


def unauthorized(message: str = "Authentication required") -> PortalError:
    return PortalError(401, message, headers={"WWW-Authenticate": "Bearer"})


async def session_principal(token: str, db: AsyncSession, portal: Portal) -> Principal | None:
    row = (
        await db.execute(
            select(AuthSession, User)
            .join(User, User.id == AuthSession.user_id)
            .where(AuthSession.token_hash == keyed_hash(portal.secret_key, token))
        )
    ).first()
    if row is None:
        return None
    auth_session, user = row
    if auth_session.expires_at <= utcnow() or user.status != "ACTIVE":
        return None
    return Principal(user=user, auth_session_id=auth_session.id)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthorized("Invalid Authorization header")
    return value.strip()


async def resolve_principal(
    request: Request, portal: Portal, db: AsyncSession | None = None
) -> Principal:
    """Who is calling. Without `db`, a lookup that needs the database runs in a short
    transaction of its own, closed before this returns."""
    token = bearer_token(request) or request.headers.get("x-api-key")
    if token:
        authenticate_key: KeyAuthenticator | None = portal.services.get("key_authenticator")
        if authenticate_key is None:
            raise unauthorized("Invalid API key")
        principal = await authenticate_key(request, token, db, portal)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        found: Principal | None = None
        if cookie and db is None:
            async with transaction(portal.sessionmaker) as own:
                found = await session_principal(cookie, own, portal)
        elif cookie and db is not None:
            found = await session_principal(cookie, db, portal)
        if found is None:
            raise unauthorized()
        principal = found
    request.state.principal = principal
    return principal


async def current_principal(request: Request, db: DbSession, portal: PortalDep) -> Principal:
    return await resolve_principal(request, portal, db)


# Any caller, an organization's key included: for the model lists, which show nothing personal.
AnyPrincipal = Annotated[Principal, Depends(current_principal)]

ORG_KEY_REFUSED = "An organization API key can only call the model endpoints"


async def personal_principal(principal: AnyPrincipal) -> Principal:
    # An org key is shared by the org's members, and its principal is the member who created
    # it: it must not reach that member's own chats, files, library, profile or billing.
    if principal.org_id is not None:
        raise PortalError(403, ORG_KEY_REFUSED)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(personal_principal)]


async def current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


async def browser_principal(principal: CurrentPrincipal) -> Principal:
    if principal.via_key:
        raise PortalError(403, "This endpoint requires a browser session")
    return principal


BrowserPrincipal = Annotated[Principal, Depends(browser_principal)]


def require_permission(permission: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentPrincipal) -> Principal:
        if not principal.has_permission(permission):
            raise PortalError(403, f"This API key lacks the '{permission}' permission")
        return principal

    return check


async def admin_principal(principal: CurrentPrincipal) -> Principal:
    if principal.user.role != "ADMIN":
        raise PortalError(403, "Admin access required")
    return principal


AdminPrincipal = Annotated[Principal, Depends(admin_principal)]
