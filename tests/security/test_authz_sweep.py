"""Authorization over every route of the app, checked from the route table itself.

Every (method, path) the app serves must be classified in ROUTES: a route added without a
classification fails `test_every_route_is_classified`. Then, for each route:
- without credentials: 401 (except the public allow-list);
- as another user, with the first user's ids in every path parameter: 404, by session and by
  API key (and, for a key, 403 on the browser-session-only routes);
- with an API key that lacks the route's permission: 403.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts

from llmportal.portal import Portal
from tests.fixtures import factories
from tests.security.conftest import client_for

Access = Literal["public", "user", "browser", "admin"]
ALL_PERMISSIONS = ["chat", "images", "vision", "files", "library"]


@dataclass(frozen=True)
class Rule:
    access: Access  # public: no credentials; user: session or key; browser: session only;
    # admin: role ADMIN (session or key), 403 for everyone else
    permission: str | None = None  # what an API key needs
    body: Any = None  # a valid JSON body, so validation cannot answer before the owner check
    query: dict[str, str] = field(default_factory=dict)
    # A path parameter filled from another entry of World.ids than its own name, e.g. the
    # org routes' {key_id} from "org_key_id" (an org key, not the personal one /api/keys names).
    ids: dict[str, str] = field(default_factory=dict)


PUBLIC = Rule("public")
USER = Rule("user")
BROWSER = Rule("browser")
ADMIN = Rule("admin")


def chat(**kw: Any) -> Rule:
    return Rule("user", "chat", **kw)


def files(**kw: Any) -> Rule:
    return Rule("user", "files", **kw)


def library(**kw: Any) -> Rule:
    return Rule("user", "library", **kw)


def org_key(**kw: Any) -> Rule:
    return Rule("browser", ids={"key_id": "org_key_id"}, **kw)


COMPLETION = {"model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}
RESPONSE = {"model": "no-such-model", "input": "hi"}
IMAGE = {"model": "no-such-model", "prompt": "a fox"}

ROUTES: dict[tuple[str, str], Rule] = {
    # framework and health
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/health/live"): PUBLIC,
    ("GET", "/health/ready"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,  # bearer METRICS_TOKEN, or loopback only (tests/ops)
    ("GET", "/assets/{name}"): PUBLIC,  # the web app's built assets
    ("GET", "/{page:path}"): PUBLIC,  # the web app's pages; unknown /api paths stay JSON 404
    # Admin API: role ADMIN only
    ("GET", "/api/admin/users"): ADMIN,
    ("GET", "/api/admin/users/{user_id}"): ADMIN,
    ("PATCH", "/api/admin/users/{user_id}"): Rule(
        "admin", body={"status": "SUSPENDED", "maxBudget": 1e6}
    ),
    ("POST", "/api/admin/users/{user_id}/reset-2fa"): ADMIN,
    ("GET", "/api/admin/users/{user_id}/usage"): ADMIN,
    ("GET", "/api/admin/usage"): ADMIN,
    ("GET", "/api/admin/audit"): ADMIN,
    ("GET", "/api/admin/models"): ADMIN,
    ("GET", "/api/admin/deployments"): ADMIN,
    ("POST", "/api/admin/models/reload"): ADMIN,
    # accounts
    ("POST", "/api/auth/register"): PUBLIC,
    ("POST", "/api/auth/verify-email"): PUBLIC,
    ("POST", "/api/auth/resend-verification"): PUBLIC,
    ("POST", "/api/auth/forgot-password"): PUBLIC,
    ("POST", "/api/auth/reset-password"): PUBLIC,
    ("POST", "/api/auth/login"): PUBLIC,
    ("POST", "/api/auth/logout"): USER,
    ("POST", "/api/auth/2fa/setup"): BROWSER,
    ("POST", "/api/auth/2fa/verify"): BROWSER,
    ("POST", "/api/auth/2fa/disable"): BROWSER,
    ("GET", "/api/user/profile"): USER,
    ("PATCH", "/api/user/profile"): USER,
    ("POST", "/api/user/password"): BROWSER,
    # usage and billing
    ("GET", "/api/usage/summary"): USER,
    ("GET", "/api/usage/filters"): USER,
    ("GET", "/api/billing"): USER,
    ("GET", "/api/billing/plans"): USER,
    ("GET", "/api/billing/change-plan"): Rule("user", query={"planId": "{free_plan}"}),
    ("POST", "/api/billing/change-plan"): BROWSER,
    ("POST", "/api/billing/cancel"): BROWSER,
    ("GET", "/api/billing/invoices"): USER,
    ("GET", "/api/billing/payment-methods"): USER,
    ("POST", "/api/billing/payment-methods"): BROWSER,
    ("PATCH", "/api/billing/payment-methods/{pm_id}"): Rule("browser", body={"isDefault": True}),
    ("DELETE", "/api/billing/payment-methods/{pm_id}"): BROWSER,
    ("POST", "/api/billing/webhook"): PUBLIC,  # authenticated by the Stripe signature
    # API keys: browser sessions only
    ("GET", "/api/keys"): BROWSER,
    ("POST", "/api/keys"): BROWSER,
    ("GET", "/api/keys/{key_id}"): BROWSER,
    ("PATCH", "/api/keys/{key_id}"): Rule("browser", body={"name": "x", "maxBudget": 1e6}),
    ("DELETE", "/api/keys/{key_id}"): BROWSER,
    ("POST", "/api/keys/{key_id}/regenerate"): BROWSER,
    ("POST", "/api/keys/{key_id}/revoke"): Rule("browser", body={"reason": "sweep"}),
    ("POST", "/api/keys/{key_id}/reactivate"): BROWSER,
    ("GET", "/api/keys/{key_id}/usage"): BROWSER,
    ("GET", "/api/keys/{key_id}/requests"): BROWSER,
    # organizations: browser sessions only; non-members get 404 for everything of an org
    ("GET", "/api/orgs"): BROWSER,
    ("POST", "/api/orgs"): Rule("browser", body={"name": "sweep"}),
    ("POST", "/api/orgs/invitations/accept"): Rule("browser", body={"token": "sweep"}),
    ("GET", "/api/orgs/{org_id}"): BROWSER,
    ("PATCH", "/api/orgs/{org_id}"): Rule("browser", body={"name": "taken over"}),
    ("DELETE", "/api/orgs/{org_id}"): BROWSER,
    ("POST", "/api/orgs/{org_id}/leave"): BROWSER,
    ("GET", "/api/orgs/{org_id}/limits"): BROWSER,
    ("PATCH", "/api/orgs/{org_id}/limits"): Rule("browser", body={"maxBudget": 1000}),
    ("GET", "/api/orgs/{org_id}/members"): BROWSER,
    ("PATCH", "/api/orgs/{org_id}/members/{user_id}"): Rule("browser", body={"role": "MEMBER"}),
    ("DELETE", "/api/orgs/{org_id}/members/{user_id}"): BROWSER,
    ("GET", "/api/orgs/{org_id}/invitations"): BROWSER,
    ("POST", "/api/orgs/{org_id}/invitations"): Rule("browser", body={"email": "x@example.com"}),
    ("DELETE", "/api/orgs/{org_id}/invitations/{invitation_id}"): BROWSER,
    ("GET", "/api/orgs/{org_id}/keys"): BROWSER,
    ("POST", "/api/orgs/{org_id}/keys"): Rule("browser", body={"name": "taken over"}),
    ("GET", "/api/orgs/{org_id}/keys/{key_id}"): org_key(),
    ("PATCH", "/api/orgs/{org_id}/keys/{key_id}"): org_key(body={"name": "taken over"}),
    ("DELETE", "/api/orgs/{org_id}/keys/{key_id}"): org_key(),
    ("POST", "/api/orgs/{org_id}/keys/{key_id}/regenerate"): org_key(),
    ("POST", "/api/orgs/{org_id}/keys/{key_id}/revoke"): org_key(body={"reason": "sweep"}),
    ("POST", "/api/orgs/{org_id}/keys/{key_id}/reactivate"): org_key(),
    ("GET", "/api/orgs/{org_id}/keys/{key_id}/usage"): org_key(),
    ("GET", "/api/orgs/{org_id}/keys/{key_id}/requests"): org_key(),
    ("GET", "/api/orgs/{org_id}/usage"): BROWSER,
    ("GET", "/api/orgs/{org_id}/usage/requests"): BROWSER,
    # an org's billing: members read, owners change; the user ones' bodies
    ("GET", "/api/orgs/{org_id}/billing"): BROWSER,
    ("GET", "/api/orgs/{org_id}/billing/change-plan"): Rule(
        "browser", query={"planId": "{free_plan}"}
    ),
    ("POST", "/api/orgs/{org_id}/billing/change-plan"): Rule(
        "browser", body={"planId": "{free_plan}"}
    ),
    ("POST", "/api/orgs/{org_id}/billing/cancel"): BROWSER,
    ("GET", "/api/orgs/{org_id}/billing/invoices"): BROWSER,
    ("GET", "/api/orgs/{org_id}/billing/payment-methods"): BROWSER,
    ("POST", "/api/orgs/{org_id}/billing/payment-methods"): Rule(
        "browser", body={"paymentMethodId": "pm_card_visa"}
    ),
    ("PATCH", "/api/orgs/{org_id}/billing/payment-methods/{pm_id}"): Rule(
        "browser", body={"isDefault": True}
    ),
    ("DELETE", "/api/orgs/{org_id}/billing/payment-methods/{pm_id}"): BROWSER,
    # completions
    ("POST", "/api/chat/completions"): chat(body=COMPLETION),
    ("POST", "/v1/chat/completions"): chat(body=COMPLETION),
    ("POST", "/v1/messages"): chat(body=COMPLETION),
    ("POST", "/api/chat/count_tokens"): chat(body=COMPLETION),
    ("POST", "/v1/messages/count_tokens"): chat(body=COMPLETION),
    ("POST", "/api/responses"): chat(body=RESPONSE),
    ("POST", "/v1/responses"): chat(body=RESPONSE),
    ("POST", "/api/embeddings"): chat(body=RESPONSE),
    ("POST", "/v1/embeddings"): chat(body=RESPONSE),
    ("POST", "/api/images/generations"): Rule("user", "images", body=IMAGE),
    ("POST", "/v1/images/generations"): Rule("user", "images", body=IMAGE),
    ("GET", "/v1/models"): USER,
    ("GET", "/api/chat/models"): USER,
    # chat history
    ("GET", "/api/chat/sessions"): chat(),
    ("POST", "/api/chat/sessions"): chat(),
    ("GET", "/api/chat/sessions/{session_id}"): chat(),
    ("PATCH", "/api/chat/sessions/{session_id}"): chat(body={"title": "taken over"}),
    ("DELETE", "/api/chat/sessions/{session_id}"): chat(),
    ("GET", "/api/chat/sessions/{session_id}/messages"): chat(),
    ("POST", "/api/chat/messages"): chat(),
    ("PATCH", "/api/chat/messages/{message_id}"): chat(body={"content": "taken over"}),
    ("POST", "/api/chat/messages/{message_id}/rating"): chat(body={"rating": "up"}),
    ("POST", "/api/chat/attachments"): chat(),
    ("GET", "/api/chat/attachments/{attachment_id}"): chat(),
    ("DELETE", "/api/chat/attachments/{attachment_id}"): chat(),
    # files
    ("GET", "/api/files"): files(),
    ("POST", "/api/files/upload"): files(),
    ("GET", "/api/files/{file_id}"): files(),
    ("GET", "/api/files/{file_id}/content"): files(),
    ("DELETE", "/api/files/{file_id}"): files(),
    # library, collections, canvas
    ("GET", "/api/stuff"): library(),
    ("POST", "/api/stuff"): library(),
    ("GET", "/api/stuff/stats"): library(),
    ("POST", "/api/stuff/upload"): library(),
    ("GET", "/api/stuff/download/{user_id}/{filename}"): library(),
    ("HEAD", "/api/stuff/download/{user_id}/{filename}"): library(),
    ("GET", "/api/stuff/{item_id}"): library(),
    ("PATCH", "/api/stuff/{item_id}"): library(body={"title": "taken over"}),
    ("DELETE", "/api/stuff/{item_id}"): library(),
    ("GET", "/api/collections"): library(),
    ("POST", "/api/collections"): library(),
    ("GET", "/api/collections/{collection_id}"): library(),
    ("PATCH", "/api/collections/{collection_id}"): library(body={"name": "taken over"}),
    ("DELETE", "/api/collections/{collection_id}"): library(),
    # The other user adds (and removes) an item of their own: only the collection is foreign.
    ("POST", "/api/collections/{collection_id}/items"): library(body={"itemId": "{own_item}"}),
    ("DELETE", "/api/collections/{collection_id}/items"): library(query={"itemId": "{own_item}"}),
    ("GET", "/api/canvas/{session_id}"): library(),
    ("PUT", "/api/canvas/{session_id}"): library(body={"title": "x", "content": "taken over"}),
    ("DELETE", "/api/canvas/{session_id}"): library(),
    ("GET", "/api/canvas/{session_id}/versions"): library(),
    ("POST", "/api/canvas/{session_id}/versions"): library(),
}

# Body ids that must be the caller's own: (method, path, body or query, the field holding A's id).
FOREIGN_BODY_IDS: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
    (
        "POST",
        "/api/chat/messages",
        {"sessionId": "{session_id}", "role": "user", "content": "x"},
        {},
    ),
    ("POST", "/api/collections/{own_collection}/items", {"itemId": "{item_id}"}, {}),
    ("DELETE", "/api/collections/{own_collection}/items", {}, {"itemId": "{item_id}"}),
]


def served_routes(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette's implicit HEAD for a GET route
        for method in methods:
            found.add((method, str(route.path)))
    return found


def test_every_route_is_classified(full_app: FastAPI) -> None:
    served = served_routes(full_app)
    unclassified = sorted(served - ROUTES.keys())
    assert not unclassified, f"classify these routes in ROUTES: {unclassified}"
    stale = sorted(ROUTES.keys() - served)
    assert not stale, f"ROUTES lists routes the app no longer serves: {stale}"


# --- the two users and what the first one owns --------------------------------------------------


@dataclass
class World:
    owner: httpx.AsyncClient  # user A, logged in
    intruder: httpx.AsyncClient  # user B, logged in
    anonymous: httpx.AsyncClient
    intruder_key: str  # user B's key with every permission
    owner_keys_without: dict[str, str]  # user A's keys lacking one permission each
    ids: dict[str, str]  # A's resources by path-parameter name, plus B's own_* resources


def _ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r.json()


async def _key(client: httpx.AsyncClient, permissions: list[str]) -> dict[str, Any]:
    body = {"name": f"sweep {'+'.join(permissions)}", "permissions": permissions}
    created: dict[str, Any] = _ok(await client.post("/api/keys", json=body), 201)
    return created


async def _own_everything(c: httpx.AsyncClient, user_id: str) -> dict[str, str]:
    """One of each resource a path parameter can name."""
    ids: dict[str, str] = {}
    ids["key_id"] = (await _key(c, ALL_PERMISSIONS))["id"]
    pm = _ok(
        await c.post("/api/billing/payment-methods", json={"paymentMethodId": "pm_card_visa"}), 201
    )
    ids["pm_id"] = pm["paymentMethod"]["id"]
    session = _ok(await c.post("/api/chat/sessions", json={"title": "mine"}), 201)
    ids["session_id"] = session["id"]
    message = _ok(
        await c.post(
            "/api/chat/messages",
            json={"sessionId": session["id"], "role": "user", "content": "hello"},
        ),
        201,
    )
    ids["message_id"] = message["id"]
    files_ = [("files", ("a.txt", b"attachment", "text/plain"))]
    attachment = _ok(await c.post("/api/chat/attachments", files=files_), 201)
    ids["attachment_id"] = attachment["attachments"][0]["url"].rsplit("/", 1)[-1]
    uploaded = _ok(
        await c.post("/api/files/upload", files={"file": ("f.txt", b"file", "text/plain")}), 201
    )
    ids["file_id"] = uploaded["id"]
    item = _ok(await c.post("/api/stuff", json={"type": "NOTE", "title": "a note"}), 201)
    ids["item_id"] = item["id"]
    stored = _ok(
        await c.post("/api/stuff/upload", files={"file": ("s.txt", b"stuff", "text/plain")}), 201
    )
    match = re.fullmatch(r"/api/stuff/download/([^/]+)/([^/]+)", stored["url"])
    assert match is not None and match.group(1) == user_id, stored
    ids["user_id"], ids["filename"] = match.groups()
    collection = _ok(await c.post("/api/collections", json={"name": "mine"}), 201)
    ids["collection_id"] = collection["id"]
    _ok(
        await c.post(f"/api/collections/{collection['id']}/items", json={"itemId": item["id"]}), 201
    )
    _ok(await c.put(f"/api/canvas/{session['id']}", json={"title": "doc", "content": "text"}), 201)
    org = _ok(await c.post("/api/orgs", json={"name": "mine"}), 201)
    ids["org_id"] = org["id"]
    org_key = _ok(await c.post(f"/api/orgs/{org['id']}/keys", json={"name": "org sweep"}), 201)
    ids["org_key_id"] = org_key["id"]
    invited = {"email": "guest@example.com", "role": "ADMIN"}
    invitation = _ok(await c.post(f"/api/orgs/{org['id']}/invitations", json=invited), 201)
    ids["invitation_id"] = invitation["id"]
    return ids


@pytest.fixture
async def world(full_app: FastAPI, full_portal: Portal) -> AsyncIterator[World]:
    owner_user = await factories.create_user(full_portal, plan="PRO")
    intruder_user = await factories.create_user(full_portal, plan="PRO")
    async with (
        client_for(full_app, 50020) as owner,
        client_for(full_app, 50021) as intruder,
        client_for(full_app, 50022) as anonymous,
    ):
        await factories.login(owner, owner_user.email)
        await factories.login(intruder, intruder_user.email)
        ids = await _own_everything(owner, owner_user.id)
        without = {}
        for perm in ("chat", "images", "files", "library"):
            rest = [p for p in ALL_PERMISSIONS if p != perm]
            without[perm] = (await _key(owner, rest))["key"]
        intruder_key = (await _key(intruder, ALL_PERMISSIONS))["key"]
        own_item = _ok(await intruder.post("/api/stuff", json={"type": "NOTE", "title": "b"}), 201)
        ids["own_item"] = own_item["id"]
        ids["own_org"] = _ok(await intruder.post("/api/orgs", json={"name": "theirs"}), 201)["id"]
        own_coll = _ok(await intruder.post("/api/collections", json={"name": "b"}), 201)
        ids["own_collection"] = own_coll["id"]
        plans = _ok(await owner.get("/api/billing/plans"))["plans"]
        ids["free_plan"] = next(p["id"] for p in plans if p["tier"] == "FREE")
        yield World(owner, intruder, anonymous, intruder_key, without, ids)
    # Completions refused above are recorded for usage: write them before the tables are cleared.
    await full_portal.services["usage_writer"].flush()


# --- the sweeps ---------------------------------------------------------------------------------


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], value)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


async def _call(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    rule: Rule,
    ids: dict[str, str],
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = _fill(rule.body, ids)
    path_ids = {**ids, **{param: ids[name] for param, name in rule.ids.items()}}
    return await client.request(
        method,
        _fill(path, path_ids),
        json=body if body is not None else None,
        params=_fill(rule.query, ids),
        headers=headers,
    )


def _error(r: httpx.Response, status: int, what: str) -> str | None:
    """None when `r` is the expected error; else what went wrong."""
    if r.status_code != status:
        return f"{what}: {r.status_code} {r.text[:200]}"
    if r.request.method == "HEAD":
        return None
    try:
        body = r.json()
    except ValueError:
        return f"{what}: body is not JSON: {r.text[:200]}"
    if not (isinstance(body, dict) and isinstance(body.get("error"), str)):
        return f"{what}: body is not {{'error': str}}: {body}"
    return None


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_without_credentials_every_private_route_is_401(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if rule.access == "public":
            continue
        r = await _call(world.anonymous, method, path, rule, world.ids)
        failures.append(_error(r, 401, f"{method} {path} without credentials"))
    assert [f for f in failures if f] == []


async def test_another_users_ids_are_404_by_session(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if "{" not in path or rule.access in ("public", "admin"):
            continue
        r = await _call(world.intruder, method, path, rule, world.ids)
        failures.append(_error(r, 404, f"{method} {path} as another user"))
    assert [f for f in failures if f] == []
    await _owner_still_has_everything(world)


async def test_another_orgs_ids_under_the_callers_own_org_are_404(world: World) -> None:
    """The intruder owns an org of their own: naming it in the path, with the first user's org
    key, member and invitation ids after it, finds nothing."""
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if not path.startswith("/api/orgs/{org_id}/") or path.count("{") < 2:
            continue
        ids = {**world.ids, "org_id": world.ids["own_org"]}
        r = await _call(world.intruder, method, path, rule, ids)
        failures.append(_error(r, 404, f"{method} {path} under the caller's own org"))
    assert [f for f in failures if f] == []
    assert len(failures) >= 10  # the org key, member and invitation routes were all visited
    await _owner_still_has_everything(world)


async def test_another_users_ids_by_api_key_are_404_or_browser_only_403(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if "{" not in path or rule.access in ("public", "admin"):
            continue
        r = await _call(world.intruder, method, path, rule, world.ids, _bearer(world.intruder_key))
        expected = 403 if rule.access == "browser" else 404
        failures.append(_error(r, expected, f"{method} {path} by another user's key"))
    assert [f for f in failures if f] == []
    await _owner_still_has_everything(world)


async def test_admin_routes_are_403_to_users_by_session_and_key(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if rule.access != "admin":
            continue
        for auth in ({}, _bearer(world.intruder_key)):
            r = await _call(world.intruder, method, path, rule, world.ids, auth)
            failures.append(_error(r, 403, f"{method} {path} as a non-admin"))
    assert [f for f in failures if f] == []
    await _owner_still_has_everything(world)


async def test_an_api_key_on_browser_only_routes_is_403(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if rule.access != "browser":
            continue
        r = await _call(world.intruder, method, path, rule, world.ids, _bearer(world.intruder_key))
        failures.append(_error(r, 403, f"{method} {path} with an API key"))
        if r.status_code == 403 and r.request.method != "HEAD":
            assert r.json()["error"] == "This endpoint requires a browser session"
    assert [f for f in failures if f] == []


async def test_a_key_without_the_routes_permission_is_403(world: World) -> None:
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if rule.permission is None:
            continue
        secret = world.owner_keys_without[rule.permission]
        r = await _call(world.owner, method, path, rule, world.ids, _bearer(secret))
        failures.append(_error(r, 403, f"{method} {path} by a key without '{rule.permission}'"))
        if r.status_code == 403 and r.request.method != "HEAD":
            assert rule.permission in r.json()["error"]
    assert [f for f in failures if f] == []
    await _owner_still_has_everything(world)


async def test_ids_in_bodies_and_queries_must_be_the_callers_own(world: World) -> None:
    failures = []
    for method, path, body, query in FOREIGN_BODY_IDS:
        r = await world.intruder.request(
            method,
            _fill(path, world.ids),
            json=_fill(body, world.ids) or None,
            params=_fill(query, world.ids),
        )
        failures.append(_error(r, 404, f"{method} {path} naming another user's id"))
    assert [f for f in failures if f] == []


async def test_the_owner_reaches_every_resource_by_key(world: World) -> None:
    """The control: the ids are right and a key with every permission passes, so the 404s and
    403s above come from the owner checks, not from a bad fixture."""
    owner_key = (await _key(world.owner, ALL_PERMISSIONS))["key"]
    failures = []
    for (method, path), rule in sorted(ROUTES.items()):
        if method not in ("GET", "HEAD") or rule.access != "user":
            continue
        r = await _call(world.owner, method, path, rule, world.ids, _bearer(owner_key))
        if not 200 <= r.status_code < 300:
            failures.append(f"{method} {path} by the owner's key: {r.status_code} {r.text[:200]}")
    assert failures == []


async def _owner_still_has_everything(world: World) -> None:
    ids = world.ids
    checks = [
        f"/api/keys/{ids['key_id']}",
        f"/api/chat/sessions/{ids['session_id']}",
        f"/api/chat/attachments/{ids['attachment_id']}",
        f"/api/files/{ids['file_id']}",
        f"/api/stuff/{ids['item_id']}",
        f"/api/stuff/download/{ids['user_id']}/{ids['filename']}",
        f"/api/collections/{ids['collection_id']}",
        f"/api/canvas/{ids['session_id']}",
        f"/api/orgs/{ids['org_id']}",
        f"/api/orgs/{ids['org_id']}/keys/{ids['org_key_id']}",
    ]
    for path in checks:
        r = await world.owner.get(path)
        assert r.status_code == 200, f"{path}: {r.status_code} {r.text}"
    key = (await world.owner.get(f"/api/keys/{ids['key_id']}")).json()
    assert key["name"] == "sweep chat+images+vision+files+library" and key["status"] == "ACTIVE"
    session = (await world.owner.get(f"/api/chat/sessions/{ids['session_id']}")).json()
    assert session.get("title", session.get("session", {}).get("title")) == "mine"
    org = (await world.owner.get(f"/api/orgs/{ids['org_id']}")).json()
    assert (org["name"], org["role"], org["memberCount"]) == ("mine", "OWNER", 1)
    org_key = (await world.owner.get(f"/api/orgs/{ids['org_id']}/keys/{ids['org_key_id']}")).json()
    assert (org_key["name"], org_key["status"]) == ("org sweep", "ACTIVE")
    invitations = (await world.owner.get(f"/api/orgs/{ids['org_id']}/invitations")).json()
    assert [i["id"] for i in invitations["invitations"]] == [ids["invitation_id"]]
    methods = (await world.owner.get("/api/billing/payment-methods")).json()["paymentMethods"]
    assert [m["id"] for m in methods] == [ids["pm_id"]]
