"""A team on the test app: an org whose owner, admin and member are each signed in on a client
of their own, an outsider signed in too, and a second app whose model answers from the fake
upstream for the org keys' completions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from llmportal.app import create_app
from llmportal.db import transaction
from llmportal.orgs.models import OrgMember
from llmportal.portal import Portal
from tests.conftest import BASE_URL, make_settings
from tests.fixtures import factories, upstreams
from tests.fixtures.outbox import outbox  # noqa: F401 - a fixture
from tests.fixtures.upstreams import FakeUpstream

fake_upstream = upstreams.fake_upstream

PORTS = iter(range(50100, 50999))


@dataclass
class Person:
    user: Any
    client: httpx.AsyncClient

    @property
    def id(self) -> str:
        return str(self.user.id)


@dataclass
class Team:
    org_id: str
    owner: Person
    admin: Person
    member: Person
    outsider: Person


async def add_member(portal: Portal, org_id: str, user: Any, role: str) -> None:
    async with transaction(portal.sessionmaker) as db:
        db.add(OrgMember(org_id=org_id, user_id=user.id, role=role))


async def create_org(client: httpx.AsyncClient, name: str = "Acme") -> dict[str, Any]:
    r = await client.post("/api/orgs", json={"name": name})
    assert r.status_code == 201, r.text
    body: dict[str, Any] = r.json()
    return body


class People:
    """Signed-in users on `app`, each with a client (a cookie jar) of their own."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.clients: list[httpx.AsyncClient] = []

    async def person(self, **user: Any) -> Person:
        portal: Portal = self.app.state.portal
        found = await factories.create_user(portal, **user)
        transport = httpx.ASGITransport(app=self.app, client=("127.0.0.1", next(PORTS)))
        client = httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30)
        self.clients.append(client)
        await factories.login(client, found.email)
        return Person(found, client)

    async def team(self, name: str = "Acme", plan: str | None = None) -> Team:
        portal: Portal = self.app.state.portal
        owner = await self.person(name="Olive Owner", plan=plan)
        org = await create_org(owner.client, name)
        admin = await self.person(name="Adam Admin", plan=plan)
        member = await self.person(name="Mia Member", plan=plan)
        await add_member(portal, org["id"], admin.user, "ADMIN")
        await add_member(portal, org["id"], member.user, "MEMBER")
        return Team(org["id"], owner, admin, member, await self.person(name="Otto Outsider"))

    async def close(self) -> None:
        for client in self.clients:
            await client.aclose()


@pytest.fixture
async def people(app: FastAPI) -> AsyncIterator[People]:
    found = People(app)
    yield found
    await found.close()


@pytest.fixture
async def team(people: People) -> Team:
    return await people.team()


@pytest.fixture
async def other_team(people: People) -> Team:
    """A second org with people of its own: its ids must mean nothing to the first."""
    return await people.team("Globex")


def _gateway_config(fake_url: str) -> str:
    return (
        'default_model = "priced"\n'
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
        f'[[providers]]\nid = "fake"\ntype = "openai"\nbase_url = "{fake_url}/v1"\n'
        'api_key = "sk-fake"\ntimeout_s = 10\n'
        '[[models]]\nid = "priced"\nprovider = "fake"\nupstream_model = "plain"\n'
        # Dear, so that one fake answer (11 + 6 tokens) costs cents: $0.22 + $0.36.
        "input_cost_per_mtok = 20000.0\noutput_cost_per_mtok = 60000.0\n"
    )


@pytest.fixture(scope="session")
async def org_gw_app(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> AsyncIterator[FastAPI]:
    folder: Path = tmp_path_factory.mktemp("orggw")
    (folder / "portal.toml").write_text(_gateway_config(fake_upstream.url))
    settings = make_settings(database_url, folder, config=str(folder / "portal.toml"))
    application = create_app(settings)
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture
async def gw_people(org_gw_app: FastAPI) -> AsyncIterator[People]:
    found = People(org_gw_app)
    yield found
    await org_gw_app.state.portal.services["usage_writer"].flush()
    await found.close()
