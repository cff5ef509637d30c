"""A stand-in API-key authenticator for permission tests: `key_for(user, perms)` gives a bearer
token whose key carries exactly those permissions (the keys domain installs the real one)."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.deps import Principal, unauthorized
from llmportal.portal import Portal
from llmportal.users.models import User

KeyFactory = Callable[[Any, list[str]], dict[str, str]]


@pytest.fixture
def key_for(portal: Portal) -> Iterator[KeyFactory]:
    issued: dict[str, tuple[str, list[str]]] = {}

    async def authenticate(
        request: Request, token: str, db: AsyncSession, portal: Portal
    ) -> Principal:
        found = issued.get(token)
        user = await db.get(User, found[0]) if found else None
        if found is None or user is None:
            raise unauthorized("Invalid API key")
        return Principal(user=user, api_key=SimpleNamespace(permissions=found[1]))

    def make(user: Any, permissions: list[str]) -> dict[str, str]:
        token = "sk-test-" + secrets.token_hex(8)
        issued[token] = (user.id, permissions)
        return {"Authorization": f"Bearer {token}"}

    previous = portal.services.get("key_authenticator")
    portal.services["key_authenticator"] = authenticate
    yield make
    if previous is None:
        portal.services.pop("key_authenticator", None)
    else:
        portal.services["key_authenticator"] = previous
