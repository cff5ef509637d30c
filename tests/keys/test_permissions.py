from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from llmportal.deps import PERMISSIONS, Principal, require_permission
from llmportal.errors import install_error_handlers
from llmportal.keys.models import ApiKey
from llmportal.portal import Portal
from tests.conftest import BASE_URL
from tests.keys.helpers import bearer, create_key


def test_session_principal_has_every_permission() -> None:
    who = Principal(user=object())  # type: ignore[arg-type]
    assert all(who.has_permission(p) for p in PERMISSIONS)


@pytest.mark.parametrize(
    ("granted", "expected"),
    [
        (None, set(PERMISSIONS)),
        (["chat"], {"chat"}),
        (["files", "library"], {"files", "library"}),
        ([], set()),
    ],
)
def test_key_permissions(granted: list[str] | None, expected: set[str]) -> None:
    who = Principal(user=object(), api_key=ApiKey(permissions=granted))  # type: ignore[arg-type]
    assert {p for p in PERMISSIONS if who.has_permission(p)} == expected


def tiny_app(portal: Portal) -> FastAPI:
    """Only to exercise the dependency itself, with the real authenticator behind it."""
    app = FastAPI()
    app.state.portal = portal
    install_error_handlers(app)

    @app.get("/needs-files", dependencies=[Depends(require_permission("files"))])
    async def needs_files() -> dict[str, bool]:
        return {"ok": True}

    return app


@pytest.mark.parametrize(
    ("granted", "status"),
    [(None, 200), (["files"], 200), (["chat", "library"], 403), ([], 403)],
)
async def test_require_permission_with_real_keys(
    user_client: httpx.AsyncClient, portal: Portal, granted: list[str] | None, status: int
) -> None:
    body: dict[str, Any] = {} if granted is None else {"permissions": granted}
    key = await create_key(user_client, **body)
    transport = httpx.ASGITransport(app=tiny_app(portal), client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        r = await c.get("/needs-files", headers=bearer(key["key"]))
        assert r.status_code == status
        if status == 403:
            assert r.json() == {"error": "This API key lacks the 'files' permission"}
        # A browser session needs no permission.
        c.cookies = user_client.cookies
        assert (await c.get("/needs-files")).status_code == 200


async def test_key_without_permissions_still_reads_its_profile(
    app: FastAPI, user_client: httpx.AsyncClient
) -> None:
    key = await create_key(user_client, permissions=[])
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
        assert (await c.get("/api/user/profile", headers=bearer(key["key"]))).status_code == 200
