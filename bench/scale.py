"""`python -m bench.run --scale`: `llmportal serve --workers 1` on SQLite (in-process limits), then
`--workers 1` and `--workers 2` on PostgreSQL and Redis, against the fast fake upstream.

For each worker count: a database of its own (created, then dropped) and a Redis key prefix of
its own (its keys deleted at the end); the same load as the main bench (`--concurrency`, default
16 and 64 here); then the limits check: a new key with `rpmLimit` LIMIT_RPM gets 3 x LIMIT_RPM
requests at once, and exactly LIMIT_RPM must succeed (the others 429), whichever worker answers;
then, the portal stopped (which drains the usage writer), the usage check: as many usage rows as
completions answered 200. Prints one table, the CPU per request of PostgreSQL + Redis against
SQLite's (one worker each, same run) and the gain of two workers over one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

from bench import loadgen
from bench.report import Row
from bench.run import Target, body, create_key, measure, start_portal, start_upstream

LIMIT_RPM = 100


@dataclass
class Outcome:
    workers: int
    backend: str  # "sqlite" or "pg+redis"
    target: Target
    limit_answers: dict[int, int]  # HTTP status -> count, for the 3 x LIMIT_RPM requests
    usage_rows: int
    completions: int  # 200 answers to completion requests, all runs

    @property
    def limits_exact(self) -> bool:
        return self.limit_answers == {200: LIMIT_RPM, 429: 2 * LIMIT_RPM}

    @property
    def usage_complete(self) -> bool:
        return self.usage_rows == self.completions


def _database(admin: str, name: str) -> str:
    parts = urlsplit(admin)
    return urlunsplit(("postgresql+asyncpg", parts.netloc, f"/{name}", "", ""))


async def _admin(admin: str, sql: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _usage_rows(admin: str, name: str) -> int:
    parts = urlsplit(admin)
    conn = await asyncpg.connect(urlunsplit((parts.scheme, parts.netloc, f"/{name}", "", "")))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM usage_records"))
    finally:
        await conn.close()


async def _forget_redis(url: str, prefix: str) -> None:
    redis = Redis.from_url(url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


def _limits(target: Target) -> dict[int, int]:
    base = target.url.rsplit("/v1/", 1)[0]
    key = create_key(base, name="rpm-check", rpmLimit=LIMIT_RPM)
    point = asyncio.run(
        loadgen.run(
            target.url,
            body(False),
            {"Authorization": f"Bearer {key}"},
            concurrency=32,
            requests=3 * LIMIT_RPM,
            max_seconds=50,  # well inside the minute the limit counts
        )
    )
    target.answered += point.count
    return dict(sorted(point.statuses.items()))


def _sqlite(tmp: Path, upstream: str, args: argparse.Namespace) -> Outcome:
    sub = tmp / "sqlite"
    sub.mkdir()
    target = start_portal(sub, upstream, {}, ("--workers", "1"))
    target.name = "1 worker (SQLite)"
    try:
        time.sleep(1.0)
        measure(target, args)
        answers = _limits(target)
    finally:
        target.stop()
    rows = asyncio.run(_sqlite_usage_rows(sub / "bench.db"))
    return Outcome(1, "sqlite", target, answers, rows, target.answered)


async def _sqlite_usage_rows(path: Path) -> int:
    import aiosqlite

    async with aiosqlite.connect(path) as db, db.execute("SELECT count(*) FROM usage_records") as c:
        row = await c.fetchone()
        return int(row[0]) if row else 0


def _one(tmp: Path, upstream: str, workers: int, args: argparse.Namespace) -> Outcome:
    name = f"llmportal_bench_{os.getpid()}_{workers}"
    prefix = f"llmportal-bench-{os.getpid()}-{workers}:"
    asyncio.run(_admin(args.pg, f'CREATE DATABASE "{name}"'))
    try:
        env = {
            "LLMPORTAL_DATABASE_URL": _database(args.pg, name),
            "LLMPORTAL_REDIS_URL": args.redis,
            "LLMPORTAL_REDIS_PREFIX": prefix,
        }
        sub = tmp / f"workers-{workers}"
        sub.mkdir()
        target = start_portal(sub, upstream, env, ("--workers", str(workers)))
        target.name = f"{workers} worker" + ("s" if workers > 1 else "")
        try:
            time.sleep(1.0)
            measure(target, args)
            answers = _limits(target)
        finally:
            target.stop()
        rows = asyncio.run(_usage_rows(args.pg, name))
    finally:
        asyncio.run(_admin(args.pg, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        asyncio.run(_forget_redis(args.redis, prefix))
    return Outcome(workers, "pg+redis", target, answers, rows, target.answered)


def render(outcomes: list[Outcome]) -> str:
    lines = [
        "| backend | workers | mode | clients | req/s | p50 ms | p99 ms | CPU ms/req | errors |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for o in outcomes:
        for r in o.target.rows:
            lines.append(
                f"| {o.backend} | {o.workers} | {r.mode} | {r.concurrency} | {r.rps:.0f} "
                f"| {r.p50:.2f} | {r.p99:.2f} | {r.cpu_ms:.2f} | {r.errors} |"
            )
    lines += [
        "",
        "| backend | workers | RSS idle MB | RSS after MB | rpm limit check | usage check |",
    ]
    lines.append("|---|---:|---:|---:|---|---|")
    for o in outcomes:
        limit = f"{LIMIT_RPM} allowed: {o.limit_answers} " + (
            "exact" if o.limits_exact else "NOT EXACT"
        )
        usage = f"{o.usage_rows} rows / {o.completions} answered " + (
            "complete" if o.usage_complete else "MISMATCH"
        )
        lines.append(
            f"| {o.backend} | {o.workers} | {o.target.rss_idle:.0f} | {o.target.rss_after:.0f} "
            f"| {limit} | {usage} |"
        )
    by = {(o.backend, o.workers): o for o in outcomes}
    lite, pg1, pg2 = by.get(("sqlite", 1)), by.get(("pg+redis", 1)), by.get(("pg+redis", 2))
    if lite is not None and pg1 is not None:
        lines += ["", "CPU ms per request, PostgreSQL + Redis / SQLite (one worker each):"]
        base_rows = {(r.mode, r.concurrency): r for r in lite.target.rows}
        for r in pg1.target.rows:
            b = base_rows.get((r.mode, r.concurrency))
            if b is not None and b.cpu_ms:
                lines.append(
                    f"- {r.mode} at {r.concurrency} clients: {r.cpu_ms:.2f} / {b.cpu_ms:.2f}"
                    f" = {r.cpu_ms / b.cpu_ms:.2f}x"
                )
    if pg1 is not None and pg2 is not None:
        lines += ["", "req/s, 2 workers / 1 worker (PostgreSQL + Redis):"]
        one = {(r.mode, r.concurrency): r for r in pg1.target.rows}
        for r in pg2.target.rows:
            base: Row | None = one.get((r.mode, r.concurrency))
            if base is not None and base.rps:
                lines.append(f"- {r.mode} at {r.concurrency} clients: {r.rps / base.rps:.2f}x")
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.concurrency == [1, 16, 64]:  # the main bench's default: one client shows no gain
        args.concurrency = [16, 64]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="llmportal-bench-") as tmpdir:
        tmp = Path(tmpdir)
        upstream, _, up_stop = start_upstream(tmp)
        try:
            print("== --workers 1 (SQLite, limits in the process)", flush=True)
            outcomes.append(_sqlite(tmp, upstream, args))
            for workers in [int(w) for w in args.scale_workers.split(",")]:
                print(f"== --workers {workers} (PostgreSQL + Redis)", flush=True)
                outcomes.append(_one(tmp, upstream, workers, args))
        finally:
            up_stop()
    table = render(outcomes)
    print()
    print(table)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}-scale.md").write_text(table + "\n")
    (out / f"{stamp}-scale.json").write_text(
        json.dumps(
            [
                {
                    "workers": o.workers,
                    "backend": o.backend,
                    "rows": [r.__dict__ for r in o.target.rows],
                    "limit_answers": o.limit_answers,
                    "usage_rows": o.usage_rows,
                    "completions": o.completions,
                    "rss": [o.target.rss_idle, o.target.rss_after],
                }
                for o in outcomes
            ],
            indent=1,
        )
    )
    ok = all(o.limits_exact and o.usage_complete for o in outcomes)
    return 0 if ok else 1
