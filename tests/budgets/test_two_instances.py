"""Two instances on one Redis share a key's budget exactly: concurrent completions through both
never spend past it by more than one request's misestimate, and both see the same spend.

Instance a runs in this process, instance b is a `llmportal serve` of its own: nothing but
Redis (and the database) is shared, as between two machines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy import select

from llmportal.app import create_app
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from tests.conftest import BASE_URL, clear_state, make_settings
from tests.fixtures import factories, upstreams
from tests.fixtures.portal_process import Served, portal_env
from tests.fixtures.upstreams import FakeUpstream, free_port
from tests.resilience.redis_server import RedisServer

fake_upstream = upstreams.fake_upstream

SECRET_KEY = "test-secret-key-test-secret-key-1234"  # make_settings' own: one key digest
PREFIX = "budgets2:"
BUDGET_MICROS = 200_000
# More tokens than the 11 the fake upstream reports: every hold (the prompt's bytes, or its
# exact count near the end, and 6 output tokens at $0.001) covers the answer's real cost, as
# with an upstream that reports what it was sent.
PROMPT = "Hello, how are you? Tell me about the weather in Athens and in London today, please."
ANSWER_MICROS = 17_000


def _config(fake_url: str) -> str:
    return (
        'default_model = "dear"\n'
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
        f'[[providers]]\nid = "fake"\ntype = "openai"\nbase_url = "{fake_url}/v1"\n'
        'api_key = "sk-fake"\ntimeout_s = 30\n'
        '[[models]]\nid = "dear"\nprovider = "fake"\nupstream_model = "metered"\n'
        "input_cost_per_mtok = 1000.0\noutput_cost_per_mtok = 1000.0\n"
    )


@dataclass
class Pair:
    a: Portal
    ca: httpx.AsyncClient
    cb: httpx.AsyncClient


@asynccontextmanager
async def two_instances(database_url: str, tmp: Path, fake_url: str) -> AsyncIterator[Pair]:
    redis = RedisServer(tmp)
    redis.start()
    config = tmp / "portal.toml"
    config.write_text(_config(fake_url))
    env = portal_env(tmp / "b", database_url, free_port(), config, REDIS_URL=redis.url)
    env |= {"LLMPORTAL_REDIS_PREFIX": PREFIX, "LLMPORTAL_SECRET_KEY": SECRET_KEY}
    b = Served(env, tmp / "b.log")
    try:
        b.start()
        settings = make_settings(
            database_url, tmp / "a", redis_url=redis.url, redis_prefix=PREFIX, config=str(config)
        )
        application = create_app(settings)
        async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
            transport = httpx.ASGITransport(app=application, client=("127.0.0.1", 50060))
            async with (
                httpx.AsyncClient(transport=transport, base_url=BASE_URL, timeout=30) as ca,
                httpx.AsyncClient(base_url=b.url, timeout=30) as cb,
            ):
                try:
                    yield Pair(application.state.portal, ca, cb)
                finally:  # no test fixture knows this app: leave no rows for the next test
                    await clear_state(application.state.portal)
    finally:
        b.stop()
        redis.stop()


async def test_concurrent_requests_through_two_instances_keep_to_the_budget(
    database_url: str, tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    async with two_instances(database_url, tmp_path, fake_upstream.url) as pair:
        user = await factories.create_user(pair.a, plan="UNLIMITED")
        await factories.login(pair.ca, user.email)
        r = await pair.ca.post("/api/keys", json={"name": "shared", "maxBudget": 0.2})
        assert r.status_code == 201, r.text
        key_id, headers = r.json()["id"], {"Authorization": f"Bearer {r.json()['key']}"}
        body = {
            "model": "dear",
            "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": 6,
        }

        async def one(i: int) -> int:
            client = pair.ca if i % 2 else pair.cb
            r = await client.post("/v1/chat/completions", json=body, headers=headers)
            assert r.status_code in (200, 429), r.text
            if r.status_code == 429:
                error = r.json()["error"]
                assert "API key 'shared'" in error and "$0.20 lifetime budget" in error, error
            return r.status_code

        statuses = await asyncio.gather(*(one(i) for i in range(40)))
        assert statuses.count(200) >= 3 and 429 in statuses
        # Then one at a time until refused: the budget is usable to its last request.
        for i in range(20):
            if await one(i) == 429:
                break
        else:
            raise AssertionError("the budget never ran out")
        sent = 40 + i + 1
        rows: list[UsageRecord] = []
        for _ in range(100):  # b's writer batches every 150 ms
            await pair.a.services["usage_writer"].flush()
            async with pair.a.sessionmaker() as db:
                mine = select(UsageRecord).where(UsageRecord.api_key_id == key_id)
                rows = list(await db.scalars(mine))
            if len(rows) == sent:
                break
            await asyncio.sleep(0.05)
        assert len(rows) == sent
        spent = sum(row.input_cost_micros + row.output_cost_micros for row in rows)
        assert BUDGET_MICROS - ANSWER_MICROS - 20_000 < spent <= BUDGET_MICROS
        # Both instances show the same spend: the recorded one.
        await factories.login(pair.cb, user.email)
        for client in (pair.ca, pair.cb):
            shown = (await client.get(f"/api/keys/{key_id}")).json()["budgetSpend"]
            assert round(shown * 1_000_000) == spent
