"""docs/deploy.md for real on 127.0.0.1: nginx in front of three `llmportal serve` processes on
one PostgreSQL and one Redis (LLMPORTAL_TEST_DATABASE_URL, LLMPORTAL_TEST_REDIS_URL)."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from redis import Redis as SyncRedis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.fixtures.backends import fresh_database, scale_database_url, scale_redis_url
from tests.fixtures.factories import PASSWORD
from tests.fixtures.portal_process import cli, fake_portal_toml, portal_env, stop, wait_http
from tests.fixtures.upstreams import FakeUpstream, free_port

EMAIL = "multi@example.com"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)

pytestmark = [
    pytest.mark.skipif(
        not (scale_database_url() and scale_redis_url()),
        reason="needs LLMPORTAL_TEST_DATABASE_URL and LLMPORTAL_TEST_REDIS_URL",
    ),
]


def _require_nginx() -> str:
    if NGINX is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is not installed (apt-get install -y nginx)")
        pytest.skip("nginx is not installed (apt-get install -y nginx); outside CI this is skipped")
    return NGINX


NGINX_CONF = """
worker_processes 1;
daemon off;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    upstream llmportal {{
{servers}
        keepalive 16;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 60m;
        location / {{
            proxy_pass http://llmportal;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_buffering off;
            proxy_cache off;
            proxy_request_buffering off;
            proxy_read_timeout 600s;
        }}
    }}
}}
"""


@dataclass
class Cluster:
    url: str  # nginx
    instances: list[str]
    database_url: str
    redis_url: str
    redis_prefix: str


@pytest.fixture(scope="module")
async def cluster_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    async with fresh_database(tmp_path_factory.mktemp("multi-db")) as url:
        yield url


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream, cluster_database: str
) -> Iterator[Cluster]:
    nginx = _require_nginx()
    redis_url = scale_redis_url()
    assert redis_url is not None
    tmp = tmp_path_factory.mktemp("multi")
    (tmp / "portal.toml").write_text(
        fake_portal_toml(fake_upstream.url, "plain", "drip", "metered")
    )
    nginx_port = free_port()
    prefix = f"llmportal-multi-{secrets.token_hex(4)}:"
    env = portal_env(
        tmp,
        cluster_database,
        nginx_port,
        tmp / "portal.toml",
        REDIS_URL=redis_url,
        REDIS_PREFIX=prefix,
        TRUSTED_PROXIES="127.0.0.1/32",
    )
    cli(env, "migrate")
    cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")

    procs: list[subprocess.Popen[bytes]] = []
    instances: list[str] = []
    try:
        for i in range(3):
            port = free_port()
            log = tmp / f"instance{i}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "llmportal", "serve", "--port", str(port)],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            procs.append(proc)
            instances.append(f"http://127.0.0.1:{port}")
            wait_http(f"{instances[-1]}/health/live", proc, log)
        servers = "\n".join(f"        server {u.removeprefix('http://')};" for u in instances)
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=nginx_port))
        with open(tmp / "nginx.out", "wb") as out:
            proxy = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(tmp)], stdout=out, stderr=subprocess.STDOUT
            )
        procs.append(proxy)
        url = f"http://127.0.0.1:{nginx_port}"
        wait_http(f"{url}/health/ready", proxy, tmp / "nginx.out")
        yield Cluster(url, instances, cluster_database, redis_url, prefix)
    finally:
        for proc in reversed(procs):
            stop(proc)
        redis = SyncRedis.from_url(redis_url)
        keys = list(redis.scan_iter(match=f"{prefix}*"))
        if keys:
            redis.delete(*keys)
        redis.close()


@asynccontextmanager
async def _login(base: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        r = await client.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        yield client


async def _new_key(client: httpx.AsyncClient, **fields: object) -> str:
    r = await client.post("/api/keys", json={"name": "multi", **fields})
    assert r.status_code == 201, r.text
    return str(r.json()["key"])


def _bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


async def test_a_login_on_one_instance_works_on_all(cluster: Cluster) -> None:
    async with _login(cluster.instances[0]) as first:
        cookie = first.cookies["llmportal_session"]
        for base in [*cluster.instances, cluster.url]:
            async with httpx.AsyncClient(base_url=base) as other:
                other.cookies.set("llmportal_session", cookie)
                r = await other.get("/api/user/profile")
                assert r.status_code == 200, (base, r.text)
                assert r.json()["email"] == EMAIL


async def test_rpm_limit_is_exact_across_instances(cluster: Cluster) -> None:
    async with _login(cluster.url) as session:
        secret = await _new_key(session, rpmLimit=10)
    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as c:
        answers = await asyncio.gather(
            *(c.get("/api/user/profile", headers=_bearer(secret)) for _ in range(50))
        )
    statuses = sorted(r.status_code for r in answers)
    assert statuses == [200] * 10 + [429] * 40
    assert all("retry-after" in r.headers for r in answers if r.status_code == 429)


# 11 tokens by the portal's tokenizer: what the fake upstream reports as the prompt, so the
# reservation (prompt + max_tokens) is what the answer really costs.
ELEVEN_TOKENS = "one two three four five six seven eight nine ten eleven"
PROMPT_TOKENS = 11
DAILY_TOKENS = 17 * 17 + 16  # e.g. 17 full answers, then one cut to 11 + 5 tokens


async def test_token_limit_is_exact_across_instances(cluster: Cluster) -> None:
    """A key's dailyLimit, spent concurrently through nginx on three instances: what the answers
    report never passes the limit, replies are cut to what was left (max_tokens lowered), and
    requests are refused only once too little is left for the prompt. How close to the limit the
    total lands depends on the timing: a reply cut while others' reservations were still open
    leaves their unused room behind, less than one prompt."""
    async with _login(cluster.url) as session:
        secret = await _new_key(session, dailyLimit=DAILY_TOKENS)
        key_id = (await session.get("/api/keys")).json()["keys"][0]["id"]
    body = {
        "model": "oa-metered",
        "max_tokens": 6,
        "messages": [{"role": "user", "content": ELEVEN_TOKENS}],
    }

    def ask(c: httpx.AsyncClient) -> Awaitable[httpx.Response]:
        return c.post("/api/chat/completions", json=body, headers=_bearer(secret))

    async with httpx.AsyncClient(base_url=cluster.url, timeout=30) as c:
        burst = list(await asyncio.gather(*(ask(c) for _ in range(40))))
        # One at a time, once the burst's reservations are settled: what room is left is
        # taken, then every request is refused.
        after: list[httpx.Response] = []
        while len(after) < 20 and (not after or after[-1].status_code == 200):
            after.append(await ask(c))
        after += [await ask(c) for _ in range(2)]
    answered = [r for r in burst + after if r.status_code == 200]
    refused = [r for r in burst + after if r.status_code == 429]
    used = sum(r.json()["usage"]["total_tokens"] for r in answered)
    cut = sum(r.json()["choices"][0]["finish_reason"] == "length" for r in answered)
    print(
        f"\ntoken limit across 3 instances: dailyLimit {DAILY_TOKENS}, 40 concurrent + "
        f"{len(after)} more requests of 11 + up to 6 tokens: {len(answered)} answered "
        f"({cut} cut short to fit), "
        f"{len(refused)} refused with 429; {used} tokens used"
    )
    assert len(answered) + len(refused) == len(burst) + len(after)
    assert all(r.json() == {"error": "Daily token limit reached"} for r in refused)
    assert all(int(r.headers["retry-after"]) > 0 for r in refused)
    assert [r.status_code for r in after[-3:]] == [429] * 3
    assert DAILY_TOKENS - PROMPT_TOKENS < used <= DAILY_TOKENS
    assert cut >= 1  # 305 is no multiple of 17: reaching within a prompt of it takes a cut reply

    async with _login(cluster.url) as session:
        deadline = time.monotonic() + 10
        while True:  # each instance's usage writer flushes within ~150 ms
            r = await session.get(f"/api/keys/{key_id}/usage", params={"days": 1})
            recorded = r.json()["apiKey"]["totalTokensUsed"]
            if recorded >= used or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    assert recorded == used


async def test_a_revoke_is_honoured_everywhere_within_a_second(cluster: Cluster) -> None:
    async with _login(cluster.url) as session:
        secret = await _new_key(session)
        key_id = (await session.get("/api/keys")).json()["keys"][0]["id"]
        for base in cluster.instances:
            r = await session.get(f"{base}/api/user/profile", headers=_bearer(secret))
            assert r.status_code == 200
        r = await session.post(f"/api/keys/{key_id}/revoke", json={"reason": "leaked"})
        assert r.status_code == 200, r.text
    revoked_at = time.monotonic()
    async with httpx.AsyncClient(timeout=5) as c:
        answers = await asyncio.gather(
            *(
                c.get(f"{base}/api/user/profile", headers=_bearer(secret))
                for base in cluster.instances
            )
        )
    assert time.monotonic() - revoked_at < 1.0
    assert [(r.status_code, r.json()) for r in answers] == [(401, {"error": "API key revoked"})] * 3


async def test_streams_pass_nginx_unbuffered(cluster: Cluster) -> None:
    """The fake upstream drips a chunk every 50 ms for 20 s: the first chunks must arrive long
    before the stream could have ended (a buffering proxy would hold them)."""
    async with _login(cluster.url) as session:
        started = time.monotonic()
        body = {
            "model": "oa-drip",
            "stream": True,
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "hi"}],
        }
        chunks = 0
        async with session.stream("POST", "/api/chat/completions", json=body) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            async for line in r.aiter_lines():
                if line.startswith("data: ") and '"Hello"' in line:
                    chunks += 1
                    if chunks == 3:
                        break
        assert chunks == 3
        assert time.monotonic() - started < 10


async def test_usage_rows_equal_the_requests_made(cluster: Cluster) -> None:
    engine = create_async_engine(cluster.database_url)
    try:
        async with engine.connect() as conn:
            before = (
                await conn.execute(
                    text("SELECT count(*) FROM usage_records WHERE model = 'oa-plain'")
                )
            ).scalar_one()
        async with _login(cluster.url) as session:
            body = {
                "model": "oa-plain",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            }
            answers = await asyncio.gather(
                *(session.post("/api/chat/completions", json=body) for _ in range(30))
            )
        assert [r.status_code for r in answers] == [200] * 30
        deadline = time.monotonic() + 15
        while True:
            async with engine.connect() as conn:
                rows = (
                    await conn.execute(
                        text("SELECT count(*) FROM usage_records WHERE model = 'oa-plain'")
                    )
                ).scalar_one()
            if rows - before >= 30 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert rows - before == 30
    finally:
        await engine.dispose()
