"""A storm of upstream and client faults against the real app, served by uvicorn in this
process: 1,000 faulted requests (refused connections, 500s, timeouts, answers cut mid-way,
clients that hang up mid-stream or before the first byte) among healthy ones. Afterwards the
process holds no more file descriptors, TCP connections or tasks than before, every request
has exactly one usage row with the status its fault deserves, and the quota counters hold
exactly the tokens those rows record (no reservation left behind).

The fake upstreams answer with `Connection: close`, so any connection left to them at the end
is a leak, not a pooled keep-alive.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from sqlalchemy import select

from llmportal.app import create_app
from llmportal.deps import Principal
from llmportal.keys.models import ApiKey
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User
from tests.conftest import make_settings
from tests.fixtures import factories
from tests.fixtures.api_keys import IssuedKey, issue_key
from tests.fixtures.backends import scale_database_url
from tests.fixtures.in_loop_server import served_in_loop
from tests.fixtures.upstreams import FakeUpstream, free_port
from tests.resilience import census
from tests.resilience.census import Census

pytestmark = pytest.mark.skipif(not census.available(), reason="counts resources in /proc")

CONCURRENCY = 40
TIMEOUT_S = 0.4  # the hanging upstream's provider gives up after this
GIVE_UP_S = 0.3  # a client that leaves before the first byte waits this long
GONE = "gone"  # the client left before any answer
UNREAD = ("", False, "error", 499)  # the row of a client gone before its body was read


@dataclass(frozen=True)
class Fault:
    label: str
    model: str  # model id prefix: "{model}-oa" on an OpenAI provider, "{model}-an" on Anthropic
    streams: tuple[bool, ...]
    count: int
    client: str  # "read" the answer, "drop-mid" after two events, "drop-early" before any byte
    answers: tuple[int | str, int | str]  # what the client gets (non-stream, stream)
    row: tuple[str, int]  # the usage row's status and HTTP status
    error: str | None  # in the row's error message


FAULTS = [
    Fault(
        "refused", "refused", (False, True), 160, "read", (502, 502), ("error", 502), "unreachable"
    ),
    Fault("500", "e500", (False, True), 160, "read", (502, 502), ("error", 502), "answered 500"),
    Fault("timeout", "hang", (False, True), 160, "read", (504, 504), ("error", 504), "timed out"),
    Fault("cut", "cut", (False, True), 160, "read", (502, "200+error"), ("error", 502), "Upstream"),
    Fault(
        "gone-mid-stream",
        "drip",
        (True,),
        180,
        "drop-mid",
        (200, 200),
        ("error", 499),
        "Client disconnected",
    ),
    Fault(
        "gone-before-first-byte",
        "late",
        (False, True),
        180,
        "drop-early",
        (GONE, GONE),
        ("error", 499),
        "Client disconnected",
    ),
]
HEALTHY = Fault("healthy", "ok", (False, True), 100, "read", (200, 200), ("success", 200), None)
SCENARIO = {"refused": "plain", "e500": "error500", "hang": "slow", "cut": "cut", "drip": "drip"}
# "late": the upstream answers only after 3 s, so a client that leaves at GIVE_UP_S is gone
# long before the first byte even when this loop (which runs the clients too) lags.
SCENARIO |= {"late": "slow", "ok": "plain"}


@dataclass(frozen=True)
class Job:
    fault: Fault
    model: str
    stream: bool
    path: str  # the client's API: /v1/chat/completions or /v1/messages


def jobs(scale: float, seed: int) -> list[Job]:
    out: list[Job] = []
    for fault in [*FAULTS, HEALTHY]:
        for i in range(max(1, round(fault.count * scale))):
            api = ("oa", "an")[i % 2]
            stream = fault.streams[(i // 2) % len(fault.streams)]
            path = ("/v1/chat/completions", "/v1/messages")[(i // 4) % 2]
            out.append(Job(fault, f"{fault.model}-{api}", stream, path))
    random.Random(seed).shuffle(out)
    return out


def storm_toml(fake_url: str, refused_url: str) -> str:
    def provider(pid: str, kind: str, url: str, timeout_s: float) -> str:
        base = f"{url}/v1" if kind == "openai" else url
        return (
            f'[[providers]]\nid = "{pid}"\ntype = "{kind}"\nbase_url = "{base}"\n'
            f'api_key = "sk-{pid}"\ntimeout_s = {timeout_s}\nmax_retries = 1\n'
            # Every fault class must reach its upstream: no circuit breaker in between.
            "breaker_threshold = 0\n"
        )

    lines = [
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 10\n'
    ]
    for api, kind in (("oa", "openai"), ("an", "anthropic")):
        lines.append(provider(f"refused-{api}", kind, refused_url, 5))
        lines.append(provider(f"fake-{api}", kind, fake_url, 5))
        lines.append(provider(f"slow-{api}", kind, fake_url, TIMEOUT_S))
        for model, scenario in SCENARIO.items():
            pid = {"refused": "refused", "hang": "slow"}.get(model, "fake")
            lines.append(
                f'[[models]]\nid = "{model}-{api}"\nprovider = "{pid}-{api}"\n'
                f'upstream_model = "{scenario}"\n'
            )
    return "\n".join(lines)


@pytest.fixture(scope="module")
def storm_upstream() -> Iterator[FakeUpstream]:
    upstream = FakeUpstream(close_connections=True)
    upstream.start()
    yield upstream
    upstream.stop()


@pytest.fixture(scope="module")
def refused_port() -> int:
    return free_port()  # nothing listens there


@pytest.fixture(scope="module")
async def storm_app(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    storm_upstream: FakeUpstream,
    refused_port: int,
) -> AsyncIterator[FastAPI]:
    data = tmp_path_factory.mktemp("storm")
    config = data / "portal.toml"
    config.write_text(storm_toml(storm_upstream.url, f"http://127.0.0.1:{refused_port}"))
    application = create_app(make_settings(database_url, data, config=str(config)))
    async with LifespanManager(application, startup_timeout=30, shutdown_timeout=30):
        yield application


@pytest.fixture(scope="module")
async def served(storm_app: FastAPI) -> AsyncIterator[int]:
    async with served_in_loop(storm_app) as port:
        yield port


async def send(client: httpx.AsyncClient, key: IssuedKey, job: Job) -> int | str:
    """One request as its fault's client makes it; what that client got."""
    body = {
        "model": job.model,
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 50,
        "stream": job.stream,
    }
    if job.fault.client == "drop-early":
        try:
            timeout = httpx.Timeout(30, read=GIVE_UP_S)
            r = await client.post(job.path, json=body, headers=key.headers, timeout=timeout)
        except httpx.ReadTimeout:
            return GONE
        return r.status_code
    async with client.stream("POST", job.path, json=body, headers=key.headers) as r:
        if job.fault.client == "drop-mid":
            events = 0
            async for line in r.aiter_lines():
                events += line.startswith("data:")
                if events == 2:
                    break  # and hang up
            return r.status_code
        text = (await r.aread()).decode()
    if job.stream and r.status_code == 200 and '"error"' in text:
        return "200+error"
    return r.status_code


async def run(port: int, key: IssuedKey, todo: list[Job]) -> list[tuple[Job, int | str]]:
    queue = list(reversed(todo))
    results: list[tuple[Job, int | str]] = []
    limits = httpx.Limits(max_connections=CONCURRENCY)
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:

        async def worker() -> None:
            while queue:
                job = queue.pop()
                results.append((job, await send(client, key, job)))

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return results


def expected_answer(job: Job) -> int | str:
    return job.fault.answers[job.stream]


async def key_rows(portal: Portal, key: IssuedKey) -> list[UsageRecord]:
    await portal.services["usage_writer"].flush()
    async with portal.sessionmaker() as db:
        rows = await db.execute(select(UsageRecord).where(UsageRecord.api_key_id == key.id))
        return list(rows.scalars())


async def settle(
    portal: Portal, groups: dict[str, set[int]], done: Any, within_s: float = 30.0
) -> Census:
    """The census once `done(census)` holds (or the deadline passed): the writer flushed,
    connections closed, tasks ended."""
    deadline = time.monotonic() + within_s
    while True:
        await portal.services["usage_writer"].flush()
        now = census.take(groups)
        if (await done(now) and portal.engine.pool.checkedout() == 0) or (
            time.monotonic() > deadline
        ):
            return now
        await asyncio.sleep(0.1)


async def quota_drift(portal: Portal, key: IssuedKey, rows: list[UsageRecord]) -> dict[str, int]:
    """Per quota counter of the storm's user and key: what it holds minus what the usage rows
    record. Zero when every reservation was settled or released."""
    quota = portal.services["quota"]
    async with portal.sessionmaker() as db:
        api_key = await db.get(ApiKey, key.id)
        assert api_key is not None
        user = await db.get(User, api_key.user_id)
    recorded = sum(r.total_tokens for r in rows)

    async def unloaded(counter: Any) -> int:
        raise AssertionError(f"quota counter {counter.key} was never touched")

    drift = {}
    for counter in quota.counters_for(Principal(user=user, api_key=api_key)):
        drift[counter.key] = await quota.store.used(counter, unloaded) - recorded
    return drift


async def test_a_thousand_faulted_requests_leave_nothing_behind(
    storm_app: FastAPI,
    served: int,
    storm_upstream: FakeUpstream,
    refused_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    portal: Portal = storm_app.state.portal
    groups = {"clients": {served}, "upstreams": {storm_upstream.port, refused_port}}

    async def quiet(now: Census) -> bool:
        return now.tcp["clients"] == 0 and now.tcp["upstreams"] == 0

    # Warm up with the same mix (pools, threads and caches reach their working size), then
    # take the baseline.
    warm_user = await factories.create_user(portal, plan="UNLIMITED")
    await run(served, await issue_key(portal, warm_user), jobs(0.1, seed=1))
    baseline = await settle(portal, groups, quiet)

    user = await factories.create_user(portal, plan="UNLIMITED")
    key = await issue_key(portal, user)
    todo = jobs(1.0, seed=2)
    started = time.monotonic()
    results = await run(served, key, todo)
    took = time.monotonic() - started

    async def recovered(now: Census) -> bool:
        return (
            now.within(baseline)
            and await quiet(now)
            and len(await key_rows(portal, key)) >= len(todo)
        )

    after = await settle(portal, groups, recovered)
    rows = await key_rows(portal, key)

    by_fault = Counter(job.fault.label for job in todo)
    statuses = Counter(f"{r.status}/{r.http_status}" for r in rows)
    backend = "PostgreSQL+Redis" if scale_database_url() else "SQLite"
    faulted = sum(n for label, n in by_fault.items() if label != HEALTHY.label)
    with capsys.disabled():
        print(
            f"\nupstream faults on {backend}: {len(todo)} requests ({faulted} faulted) in "
            f"{took:.1f} s at concurrency {CONCURRENCY}; by class "
            + ", ".join(f"{label} {n}" for label, n in by_fault.items())
            + "; usage rows "
            + ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
            + f" ({sum(1 for r in rows if not r.model)} of the 499s before the body was read)"
            + f"\n  before: {baseline}\n  after:  {after}"
        )

    # Every client got what its fault deserves...
    wrong = Counter(
        (job.fault.label, job.stream, got) for job, got in results if got != expected_answer(job)
    )
    assert not wrong, wrong
    # ...and every request has exactly one usage row, with the status its fault deserves.
    # A client gone before the portal read its body is recorded without the model and stream
    # it asked for: the server drops an unread body.
    assert len(rows) == len(todo)
    expected_rows = Counter((job.model, job.stream, *job.fault.row) for job in todo)
    got_rows = Counter((r.model, r.stream, r.status, r.http_status) for r in rows)
    unread = got_rows.pop(UNREAD, 0)
    assert not got_rows - expected_rows, got_rows - expected_rows
    missing = expected_rows - got_rows
    assert {m for m, *_ in missing} <= {"late-oa", "late-an"}, missing
    assert missing.total() == unread
    faults = {f.model: f for f in [*FAULTS, HEALTHY]}
    for row in rows:
        fault = faults[row.model.rsplit("-", 1)[0] or "late"]
        assert (fault.error or "") in (row.error or ""), (row.model, row.error)
        assert fault.error is not None or row.error is None
    # Every quota reservation was settled with the tokens recorded, or given back.
    assert set((await quota_drift(portal, key, rows)).values()) == {0}
    # Nothing left open: no connection to the clients or the upstreams, no more descriptors,
    # TCP connections or tasks than before the storm, no database connection checked out.
    assert after.tcp["clients"] == 0 and after.tcp["upstreams"] == 0, after
    assert after.within(baseline), f"before: {baseline}; after: {after}"
    assert portal.engine.pool.checkedout() == 0
