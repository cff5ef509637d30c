"""`kill -9` of a `llmportal serve` process in the middle of 200 concurrent writes (chat
exchanges through completions, chat messages, API keys, canvas saves and snapshots past the
50-version cap), then a restart on the same database: everything acknowledged is there, nothing
is half-written, the canvas keeps at most 50 versions and the usage rollup equals its rows.

On a fresh SQLite file, or on a fresh PostgreSQL database when LLMPORTAL_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.chat.models import ChatMessage
from llmportal.db import make_sessionmaker
from llmportal.keys.models import ApiKey
from llmportal.usage.models import UsageDaily, UsageRecord
from llmportal.usage.rollup import utc_day
from tests.fixtures.backends import fresh_database
from tests.fixtures.factories import PASSWORD
from tests.fixtures.portal_process import Served, cli, fake_portal_toml, portal_env
from tests.fixtures.upstreams import FakeUpstream, free_port

EMAIL = "kill9@example.com"
SESSIONS = 4
SEED_SNAPSHOTS = 48  # before the burst: its snapshots cross the 50-version cap
BURST = {"completion": 60, "message": 40, "key": 50, "canvas_put": 25, "snapshot": 25}
# The SIGKILL comes once every kind has had some answers (completions take longest), mid-way.
KILL_WHEN_EACH = 5
KILL_AFTER = 150
ACKED = {"completion": 200, "message": 201, "key": 201, "canvas_put": 200, "snapshot": 201}


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_database(tmp_path) as url:
        yield url


@pytest.fixture
def served(tmp_path: Path, fake_upstream: FakeUpstream, database: str) -> Iterator[Served]:
    config = tmp_path / "portal.toml"
    config.write_text(fake_portal_toml(fake_upstream.url, "plain"))
    env = portal_env(tmp_path, database, free_port(), config)
    cli(env, "migrate")
    cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
    server = Served(env, tmp_path / "server.log")
    try:
        server.start()
        yield server
    finally:
        server.stop()


@dataclass
class Burst:
    """What was sent, and what the server acknowledged before it died."""

    answers: Counter[str] = field(default_factory=Counter)  # "op status" -> n
    unknown: Counter[str] = field(default_factory=Counter)  # no answer: applied or not
    acked: Counter[str] = field(default_factory=Counter)
    keys: dict[str, str] = field(default_factory=dict)  # id -> secret
    messages: set[str] = field(default_factory=set)  # contents
    completions: Counter[str] = field(default_factory=Counter)  # session id -> n
    received: Counter[str] = field(default_factory=Counter)
    killed_after: int = 0

    def time_to_kill(self) -> bool:
        each = all(self.received[op] >= KILL_WHEN_EACH for op in BURST)
        return each or sum(self.received.values()) >= KILL_AFTER


async def _setup(c: httpx.AsyncClient) -> tuple[list[str], str]:
    sessions = []
    for i in range(SESSIONS):
        r = await c.post("/api/chat/sessions", json={"title": f"kill {i}"})
        assert r.status_code == 201, r.text
        sessions.append(r.json()["id"])
    canvas = sessions[0]
    r = await c.put(f"/api/canvas/{canvas}", json={"title": "Doc", "content": "seed"})
    assert r.status_code == 201, r.text
    for _ in range(SEED_SNAPSHOTS):
        assert (await c.post(f"/api/canvas/{canvas}/versions")).status_code == 201
    return sessions, canvas


def _requests(sessions: list[str], canvas: str) -> list[tuple[str, str, str, Any]]:
    """(op, method, path, body) for the burst, the kinds interleaved."""
    made: dict[str, list[tuple[str, str, str, Any]]] = {op: [] for op in BURST}
    for i in range(BURST["completion"]):
        body = {
            "model": "oa-plain",
            "session_id": sessions[i % SESSIONS],
            "max_tokens": 20,
            "messages": [{"role": "user", "content": f"exchange {i}"}],
        }
        made["completion"].append(("completion", "POST", "/api/chat/completions", body))
    for i in range(BURST["message"]):
        body = {"sessionId": sessions[i % SESSIONS], "role": "user", "content": f"message {i}"}
        made["message"].append(("message", "POST", "/api/chat/messages", body))
    for i in range(BURST["key"]):
        made["key"].append(("key", "POST", "/api/keys", {"name": f"kill-{i}"}))
    for i in range(BURST["canvas_put"]):
        body = {"title": "Doc", "content": f"revision {i}"}
        made["canvas_put"].append(("canvas_put", "PUT", f"/api/canvas/{canvas}", body))
    for _ in range(BURST["snapshot"]):
        made["snapshot"].append(("snapshot", "POST", f"/api/canvas/{canvas}/versions", None))
    mixed = itertools.zip_longest(*made.values())
    return [r for group in mixed for r in group if r is not None]


async def _fire(c: httpx.AsyncClient, served: Served, burst: Burst, sessions: list[str]) -> None:
    canvas = sessions[0]
    killed = asyncio.Event()

    async def one(op: str, method: str, path: str, body: Any) -> None:
        try:
            r = await c.request(method, path, json=body)
        except httpx.HTTPError:
            burst.unknown[op] += 1
            return
        finally:
            burst.received[op] += 1
            if burst.time_to_kill() and not killed.is_set():
                killed.set()
                burst.killed_after = sum(burst.received.values())
                served.kill()
        burst.answers[f"{op} {r.status_code}"] += 1
        if r.status_code != ACKED[op]:
            return
        burst.acked[op] += 1
        if op == "key":
            burst.keys[r.json()["id"]] = r.json()["key"]
        elif op == "message":
            burst.messages.add(body["content"])
        elif op == "completion":
            burst.completions[body["session_id"]] += 1

    await asyncio.gather(*(one(*req) for req in _requests(sessions, canvas)))
    assert killed.is_set()


async def _rows(database: str) -> dict[str, list[Any]]:
    engine = create_async_engine(database)
    try:
        async with make_sessionmaker(engine)() as db:
            return {
                "messages": list(await db.scalars(select(ChatMessage))),
                "keys": list(await db.scalars(select(ApiKey))),
                "docs": list(await db.scalars(select(CanvasDocument))),
                "versions": list(await db.scalars(select(CanvasVersion))),
                "usage": list(await db.scalars(select(UsageRecord))),
                "daily": list(await db.scalars(select(UsageDaily))),
            }
    finally:
        await engine.dispose()


def _check_chat(messages: list[ChatMessage], burst: Burst) -> int:
    """Positions 1..n in each session; each exchange a user message right before its reply."""
    by_session: dict[str, list[ChatMessage]] = defaultdict(list)
    for m in messages:
        by_session[m.session_id].append(m)
    exchanges = 0
    for session_id, rows in by_session.items():
        rows.sort(key=lambda m: m.position)
        assert [m.position for m in rows] == list(range(1, len(rows) + 1)), session_id
        for i, m in enumerate(rows):
            if m.role == "assistant":
                before = rows[i - 1] if i else None
                assert before is not None and before.role == "user", (session_id, m.position)
                assert before.prompt_tokens is not None and m.completion_tokens is not None
                assert before.content.startswith("exchange ")
                exchanges += 1
            elif m.prompt_tokens is not None:  # a completion's user message: its reply follows
                assert i + 1 < len(rows) and rows[i + 1].role == "assistant", (session_id, i)
        stored = sum(m.role == "assistant" for m in rows)
        assert stored >= burst.completions[session_id], session_id
    contents = {m.content for m in messages if m.prompt_tokens is None and m.role == "user"}
    assert burst.messages <= contents
    assert exchanges <= burst.acked["completion"] + burst.unknown["completion"]
    return exchanges


def _check_canvas(docs: list[CanvasDocument], versions: list[CanvasVersion], burst: Burst) -> None:
    assert len(docs) == 1
    doc = docs[0]
    seqs = sorted(v.seq for v in versions)
    assert len(seqs) == min(doc.snapshot_seq, 50)
    assert seqs == list(range(doc.snapshot_seq - len(seqs) + 1, doc.snapshot_seq + 1))
    assert all(v.version <= doc.version for v in versions)
    snapshots = SEED_SNAPSHOTS + burst.acked["snapshot"]
    assert snapshots <= doc.snapshot_seq <= snapshots + burst.unknown["snapshot"]
    puts = 1 + burst.acked["canvas_put"]  # the first PUT created version 1
    assert puts <= doc.version <= puts + burst.unknown["canvas_put"]


def _check_rollup(usage: list[UsageRecord], daily: list[UsageDaily]) -> None:
    summed: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for r in usage:
        key = (r.user_id, r.api_key_id or "", r.model, r.status, utc_day(r.created_at))
        for i, n in enumerate(
            (1, r.prompt_tokens, r.completion_tokens, r.output_cost_micros, r.latency_ms)
        ):
            summed[key][i] += n
    rolled = {
        (d.user_id, d.api_key_id, d.model, d.status, d.day): [
            d.requests,
            d.prompt_tokens,
            d.completion_tokens,
            d.output_cost_micros,
            d.latency_ms_sum,
        ]
        for d in daily
    }
    assert rolled == dict(summed)


async def test_kill_9_during_concurrent_writes_leaves_a_consistent_database(
    served: Served, database: str
) -> None:
    limits = httpx.Limits(max_connections=250)
    async with httpx.AsyncClient(base_url=served.url, timeout=30, limits=limits) as c:
        r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        sessions, canvas = await _setup(c)
        burst = Burst()
        await _fire(c, served, burst, sessions)

    served.start()  # the same database, a new process
    rows = await _rows(database)
    if database.startswith("sqlite"):
        with sqlite3.connect(database.split("///", 1)[1]) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
    exchanges = _check_chat(rows["messages"], burst)
    keys = {k.id: k for k in rows["keys"]}
    assert set(burst.keys) <= set(keys)
    assert all(
        k.secret_hash and k.prefix and k.tier and k.status == "ACTIVE" for k in keys.values()
    )
    _check_canvas(rows["docs"], rows["versions"], burst)
    _check_rollup(rows["usage"], rows["daily"])
    usage_ok = sum(r.status == "success" for r in rows["usage"])
    assert usage_ok <= burst.acked["completion"] + burst.unknown["completion"]

    async with httpx.AsyncClient(base_url=served.url, timeout=30) as c:
        for key_id, secret in burst.keys.items():
            r = await c.get("/api/user/profile", headers={"Authorization": f"Bearer {secret}"})
            assert r.status_code == 200, (key_id, r.text)
        r = await c.post("/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200
        assert (await c.post(f"/api/canvas/{canvas}/versions")).status_code == 201
        listed = (await c.get(f"/api/canvas/{canvas}/versions")).json()["versions"]
        assert len(listed) == min(rows["docs"][0].snapshot_seq + 1, 50)
        doc = (await c.get(f"/api/canvas/{canvas}")).json()["document"]
        assert doc["version"] == rows["docs"][0].version

    print(
        f"\nkill -9 during {sum(BURST.values())} concurrent writes "
        f"({database.split(':', 1)[0]}): killed after {burst.killed_after} answers; answers "
        f"{dict(sorted(burst.answers.items()))}; no answer {dict(burst.unknown)}; after restart "
        f"{exchanges} complete chat exchanges ({burst.acked['completion']} acknowledged), "
        f"{len(keys)} keys ({len(burst.keys)} acknowledged), canvas version {doc['version']} "
        f"with {len(rows['versions'])} snapshots of {rows['docs'][0].snapshot_seq} taken; "
        f"{usage_ok} successful usage rows (a completion's row is queued when the model has "
        f"answered, written within ~150 ms; the queue dies with the process); rollup = rows"
    )
