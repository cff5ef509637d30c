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
from collections.abc import AsyncIterator, Iterator
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
from tests.fixtures.upstreams import FakeUpstream, free_port

SRC = Path(__file__).resolve().parents[2] / "src"
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


def _portal_config(fake_url: str) -> str:
    return (
        'default_model = "oa-plain"\n'
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
        f'[[providers]]\nid = "fake"\ntype = "openai"\nbase_url = "{fake_url}/v1"\n'
        'api_key = "sk-fake"\ntimeout_s = 30\n'
        '[[models]]\nid = "oa-plain"\nprovider = "fake"\nupstream_model = "plain"\n'
        '[[models]]\nid = "oa-drip"\nprovider = "fake"\nupstream_model = "drip"\n'
    )


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited:\n{log.read_text()}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer:\n{log.read_text()}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
    (tmp / "portal.toml").write_text(_portal_config(fake_upstream.url))
    nginx_port = free_port()
    prefix = f"llmportal-multi-{secrets.token_hex(4)}:"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORTAL_")}
    env.update(
        {
            "PYTHONPATH": str(SRC),
            "LLMPORTAL_DATABASE_URL": cluster_database,
            "LLMPORTAL_REDIS_URL": redis_url,
            "LLMPORTAL_REDIS_PREFIX": prefix,
            "LLMPORTAL_SECRET_KEY": "multi-secret-key-multi-secret-key-123456",
            "LLMPORTAL_PUBLIC_URL": f"http://127.0.0.1:{nginx_port}",
            "LLMPORTAL_TRUSTED_PROXIES": "127.0.0.1/32",
            "LLMPORTAL_DATA_DIR": str(tmp / "data"),
            "LLMPORTAL_STORAGE_DIR": str(tmp / "data" / "files"),
            "LLMPORTAL_CONFIG": str(tmp / "portal.toml"),
            "LLMPORTAL_LOG_FORMAT": "text",
        }
    )

    def cli(*args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "llmportal", *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr

    cli("migrate")
    cli("user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    cli("user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")

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
            _wait_http(f"{instances[-1]}/health/live", proc, log)
        servers = "\n".join(f"        server {u.removeprefix('http://')};" for u in instances)
        conf = tmp / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=nginx_port))
        with open(tmp / "nginx.out", "wb") as out:
            proxy = subprocess.Popen(
                [nginx, "-c", str(conf), "-p", str(tmp)], stdout=out, stderr=subprocess.STDOUT
            )
        procs.append(proxy)
        url = f"http://127.0.0.1:{nginx_port}"
        _wait_http(f"{url}/health/ready", proxy, tmp / "nginx.out")
        yield Cluster(url, instances, cluster_database, redis_url, prefix)
    finally:
        for proc in reversed(procs):
            _stop(proc)
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
