"""`llmportal serve --workers 2` on Redis: the workers share state as separate instances do, so
a key's `rpmLimit: 10` lets exactly 10 of 50 concurrent requests through, whichever worker
answers each (docs/deploy.md). Needs LLMPORTAL_TEST_REDIS_URL."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from redis import Redis as SyncRedis

from tests.fixtures.backends import fresh_database, scale_redis_url
from tests.fixtures.factories import PASSWORD
from tests.fixtures.metrics import workers_that_counted
from tests.fixtures.portal_process import Served, cli, portal_env
from tests.fixtures.upstreams import free_port

pytestmark = pytest.mark.skipif(
    scale_redis_url() is None, reason="needs LLMPORTAL_TEST_REDIS_URL (limits shared in Redis)"
)

EMAIL = "workers@example.com"


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def two_workers(tmp_path: Path, database: str) -> Iterator[tuple[Served, Path]]:
    redis_url = scale_redis_url()
    assert redis_url is not None
    config = tmp_path / "portal.toml"
    dead = f"http://127.0.0.1:{free_port()}/v1"  # no local model: the workers start fast
    config.write_text(
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
        f'[[providers]]\nid = "up"\ntype = "openai"\nbase_url = "{dead}"\n'
        '[[models]]\nid = "m"\nprovider = "up"\n'
    )
    prefix = f"llmportal-workers-{secrets.token_hex(4)}:"
    env = portal_env(
        tmp_path, database, free_port(), config, REDIS_URL=redis_url, REDIS_PREFIX=prefix
    )
    metrics_dir = tmp_path / "prometheus"  # to see which worker answered
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    cli(env, "migrate")
    cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
    served = Served(env, tmp_path / "server.log", "--workers", "2")
    try:
        served.start()
        yield served, metrics_dir
    finally:
        served.stop()
        redis = SyncRedis.from_url(redis_url)
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()


async def test_rpm_limit_is_shared_by_the_workers(two_workers: tuple[Served, Path]) -> None:
    served, metrics_dir = two_workers
    # A new connection per request, so the kernel hands them to both workers.
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=served.url, timeout=30, limits=limits) as c:
        r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        bursts = []
        for i in range(5):  # until both workers have answered some (almost always the first)
            r = await c.post("/api/keys", json={"name": f"rpm {i}", "rpmLimit": 10})
            assert r.status_code == 201, r.text
            bearer = {"Authorization": f"Bearer {r.json()['key']}"}
            c.cookies.clear()
            answers = await asyncio.gather(
                *(c.get("/api/user/profile", headers=bearer) for _ in range(50))
            )
            bursts.append(sorted(a.status_code for a in answers))
            if len(workers_that_counted(metrics_dir, "/api/user/profile")) >= 2:
                break
            r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
    workers = workers_that_counted(metrics_dir, "/api/user/profile")
    print(
        f"\n--workers 2: {len(bursts)} burst(s) of 50 against rpmLimit 10, answered by "
        f"{len(workers)} workers: {[b.count(200) for b in bursts]} passed"
    )
    assert len(workers) == 2, "the requests never reached both workers"
    assert all(b == [200] * 10 + [429] * 40 for b in bursts)
