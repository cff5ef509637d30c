"""PostgreSQL restarted under load, for real: a `llmportal serve` process on a private cluster
(tests/resilience/pg_cluster.py) answers logins, profile reads, completions and key creations
without pause while the cluster is stopped (`pg_ctl stop -m fast`) and started again.

During the outage every answer is fast: 503 {"error": "Database unavailable"} (or a success
that needed no database); after the restart the same process answers 200 again within seconds;
nothing acknowledged is lost (every key created with 201 exists, every completion answered 200
has its usage row). Runs in the PostgreSQL half of the suite (LLMPORTAL_TEST_DATABASE_URL set),
once; it never touches that server, only its own cluster.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from tests.fixtures.backends import scale_database_url
from tests.fixtures.factories import PASSWORD
from tests.fixtures.portal_process import Served, cli, fake_portal_toml, portal_env
from tests.fixtures.upstreams import FakeUpstream, free_port
from tests.fixtures.upstreams import fake_upstream as fake_upstream  # the session fixture
from tests.resilience.pg_cluster import PgCluster

pytestmark = pytest.mark.skipif(
    scale_database_url() is None,
    reason="runs in the PostgreSQL half of the suite (LLMPORTAL_TEST_DATABASE_URL)",
)

EMAIL = "restart@example.com"
DOWN = {"error": "Database unavailable"}
OUTAGE_S = 3.0
FAST_S = 3.0  # the slowest answer allowed while the database is away
RECOVERY_S = 5.0  # the latest a request may still fail after the start command
WORKERS = 6
# A login costs a password hash (CPU): one in six requests.
OPS = ("profile", "completion", "key", "profile", "completion", "login")


@dataclass
class PrivatePortal:
    served: Served
    cluster: PgCluster


@pytest.fixture
def portal_on_private_pg(tmp_path: Path, fake_upstream: FakeUpstream) -> Iterator[PrivatePortal]:
    cluster = PgCluster()
    served: Served | None = None
    try:
        cluster.init()
        cluster.start()
        config = tmp_path / "portal.toml"
        config.write_text(fake_portal_toml(fake_upstream.url, "plain"))
        env = portal_env(
            tmp_path, cluster.url, free_port(), config, RATE_LIMITS=json.dumps({"login": 10**6})
        )
        cli(env, "migrate")
        cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
        cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
        served = Served(env, tmp_path / "server.log")
        served.start()
        yield PrivatePortal(served, cluster)
    finally:
        if served is not None:
            served.stop()
        cluster.destroy()


@dataclass
class Sample:
    op: str
    started: float
    ended: float
    status: int  # 0: no answer (a timeout or a dropped connection)
    body: Any
    retry_after: str | None

    @property
    def latency(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status in (200, 201)


class Load:
    """WORKERS loops of requests, each taking the next kind in turn, until stopped."""

    def __init__(self, url: str, cookie: str, secret: str) -> None:
        self.url = url
        self.cookie = {"Cookie": f"llmportal_session={cookie}"}
        self.bearer = {"Authorization": f"Bearer {secret}"}
        self.samples: list[Sample] = []
        self.keys_created: list[str] = []
        self.stopped = asyncio.Event()
        self._seq = itertools.count()

    async def _request(self, c: httpx.AsyncClient, op: str) -> httpx.Response:
        if op == "profile":
            return await c.get("/api/user/profile", headers=self.cookie)
        if op == "completion":
            body = {
                "model": "oa-plain",
                "max_tokens": 20,
                "messages": [{"role": "user", "content": "hi"}],
            }
            return await c.post("/api/chat/completions", json=body, headers=self.bearer)
        if op == "key":
            name = f"restart-{next(self._seq)}"
            return await c.post("/api/keys", json={"name": name}, headers=self.cookie)
        r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        c.cookies.clear()  # each request says who it is, the jar keeps nothing
        return r

    async def _worker(self, first: int) -> None:
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as c:
            for n in itertools.count(first):
                if self.stopped.is_set():
                    return
                op = OPS[n % len(OPS)]
                started = time.monotonic()
                try:
                    r = await self._request(c, op)
                    status, body, retry = r.status_code, r.json(), r.headers.get("retry-after")
                except (httpx.HTTPError, ValueError) as exc:
                    status, body, retry = 0, repr(exc), None
                self.samples.append(Sample(op, started, time.monotonic(), status, body, retry))
                if op == "key" and status == 201:
                    self.keys_created.append(body["id"])

    async def run(self) -> None:
        await asyncio.gather(*(self._worker(i) for i in range(WORKERS)))

    def first_success(self, since: float) -> dict[str, float]:
        """Per kind of request, when the first one started after `since` succeeded."""
        firsts: dict[str, float] = {}
        for s in self.samples:
            if s.started >= since and s.ok:
                firsts[s.op] = min(firsts.get(s.op, s.ended), s.ended)
        return firsts

    def recovered(self, since: float) -> bool:
        """Every kind of request has succeeded again, started after `since`."""
        return len(self.first_success(since)) == len(set(OPS))


def _errors(log: Path) -> str:
    """The server's tracebacks and errors, for a failure message."""
    lines = log.read_text(errors="replace").splitlines()
    marks = [i for i, line in enumerate(lines) if "Traceback" in line or " ERROR " in line]
    return "\n".join(line for i in marks[:4] for line in lines[i : i + 40])[:8000]


async def _usage_rows(cluster: PgCluster, key_id: str, want: int) -> int:
    """Successful usage rows of the key, once there are `want` (the writer batches)."""
    conn = await asyncpg.connect(cluster.url.replace("+asyncpg", ""))
    try:
        deadline = time.monotonic() + 15
        while True:
            rows = await conn.fetchval(
                "SELECT count(*) FROM usage_records WHERE api_key_id = $1 AND status = 'success'",
                key_id,
            )
            if rows >= want or time.monotonic() > deadline:
                return int(rows)
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def test_postgresql_restart_under_load(portal_on_private_pg: PrivatePortal) -> None:
    served, cluster = portal_on_private_pg.served, portal_on_private_pg.cluster
    async with httpx.AsyncClient(base_url=served.url, timeout=10) as c:
        r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = r.cookies["llmportal_session"]
        r = await c.post("/api/keys", json={"name": "completions"})
        assert r.status_code == 201, r.text
        key_id, secret = r.json()["id"], r.json()["key"]

    load = Load(served.url, cookie, secret)
    running = asyncio.create_task(load.run())
    await asyncio.sleep(1.5)
    down_at = time.monotonic()
    await asyncio.to_thread(cluster.stop, "fast")
    down = time.monotonic()
    await asyncio.sleep(OUTAGE_S)
    up_at = time.monotonic()
    await asyncio.to_thread(cluster.start)
    up = time.monotonic()
    for _ in range(int(RECOVERY_S + 5) * 10):
        if load.recovered(up):
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # more load: every answer must be a success
    load.stopped.set()
    await running

    samples = load.samples
    during = [s for s in samples if down <= s.started <= up_at]
    unavailable = [s for s in samples if s.status == 503]
    # Recovery: from the start command to the last request that still failed.
    recovery = max(0.0, max(s.started for s in unavailable) - up_at) if unavailable else 0.0
    firsts = load.first_success(up)
    again = ", ".join(f"{op} {t - up:.2f} s" for op, t in firsts.items())
    print(
        f"\nPostgreSQL restart under load: {len(samples)} requests by {WORKERS} clients, "
        f"stop took {down - down_at:.2f} s, outage {up_at - down:.1f} s, start took "
        f"{up - up_at:.2f} s; {len(during)} requests during the outage, "
        f"{sum(s.status == 503 for s in during)} of them 503, max latency during the outage "
        f"{max((s.latency for s in during), default=0):.3f} s; 503s in all {len(unavailable)}; "
        f"the last failed request started {recovery:.2f} s after the start command; "
        f"first successes after the start: {again}; "
        f"{len(load.keys_created)} keys created with 201"
    )
    odd = [s for s in samples if s.status not in (200, 201, 503)]
    if odd:
        print(f"server errors:\n{_errors(served.log)}")
    assert not odd, [(s.op, s.status, s.body) for s in odd[:5]]
    assert all(s.body == DOWN and s.retry_after == "2" for s in unavailable)
    assert during and sum(s.status == 503 for s in during) > 0, "the outage was never seen"
    slow = [s for s in during if s.latency > FAST_S]
    assert not slow, [(s.op, round(s.latency, 2)) for s in slow]
    assert len(firsts) == len(set(OPS)), f"no recovery without a restart: {firsts}"
    assert recovery < RECOVERY_S
    assert served.proc is not None and served.proc.poll() is None  # the same process

    async with httpx.AsyncClient(base_url=served.url, timeout=10) as c:
        listed = (await c.get("/api/keys", headers=load.cookie)).json()["keys"]
    assert set(load.keys_created) <= {k["id"] for k in listed}
    answered = sum(s.op == "completion" and s.status == 200 for s in samples)
    assert await _usage_rows(cluster, key_id, answered) == answered
