"""`python -m bench.run --slow-streams N`: one portal worker holds N concurrent streams.

The fake upstream streams the model `bench-slow` at one chunk per second (upstream.SLOW_CHUNKS
chunks); N clients each open one such stream at once, through a real `llmportal serve` (one
worker, SQLite, no local model configured: the idle RSS is that of a worker without it). Prints
the worker's RSS idle, at its peak while the N streams are open and after they end, the growth,
and the streams that failed. Every stream holds three sockets on this machine (client, portal's
two sides) plus the upstream's: the soft open-files limit is raised to the hard one first.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import loadgen, procstat
from bench.run import SLOW_MODEL, body, start_portal, start_upstream
from bench.upstream import SLOW_CHUNKS, SLOW_INTERVAL_S

GROWTH_LIMIT_MB = 100.0


def raise_fd_limit(needed: int) -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit (the children inherit it): (before, after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(soft, needed)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    if target < needed:
        raise SystemExit(f"open files limit {target} < {needed} needed: raise `ulimit -Hn`")
    return soft, target


async def _hold(url: str, headers: dict[str, str], n: int, pid: int) -> tuple[Any, float]:
    """Open n streams at once and sample the worker's RSS until they end: (point, peak MB)."""
    peak = 0.0
    done = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, procstat.rss_mb(pid))
            await asyncio.sleep(0.25)

    sampler = asyncio.create_task(sample())
    seconds = SLOW_CHUNKS * SLOW_INTERVAL_S * 6 + 30
    try:
        point = await loadgen.run(
            url, body(True, SLOW_MODEL), headers, concurrency=n, requests=n, max_seconds=seconds
        )
    finally:
        done.set()
        await sampler
    return point, peak


def main(args: argparse.Namespace) -> int:
    n = args.slow_streams
    before, limit = raise_fd_limit(4 * n + 256)
    with tempfile.TemporaryDirectory(prefix="llmportal-bench-") as tmpdir:
        tmp = Path(tmpdir)
        upstream, _, up_stop = start_upstream(tmp)
        try:
            target = start_portal(tmp, upstream, {})
            try:
                pid = target.proc.pid if target.proc else 0
                # One ordinary request first: the key and quota caches are then warm.
                asyncio.run(
                    loadgen.run(
                        target.url,
                        body(False),
                        target.headers,
                        concurrency=1,
                        requests=1,
                        max_seconds=10,
                    )
                )
                time.sleep(1.0)
                idle = procstat.rss_mb(pid)
                started = time.perf_counter()
                point, peak = asyncio.run(_hold(target.url, target.headers, n, pid))
                wall = time.perf_counter() - started
                time.sleep(1.0)
                after = procstat.rss_mb(pid)
            finally:
                target.stop()
        finally:
            up_stop()
    growth = peak - idle
    failed = n - point.count
    ok = growth < GROWTH_LIMIT_MB and failed == 0
    lines = [
        f"Slow streams: {n} concurrent, {SLOW_CHUNKS} chunks at one per "
        f"{SLOW_INTERVAL_S:g} s, one portal worker (SQLite, no local model)",
        f"open files limit: {before} -> {limit}",
        f"streams completed: {point.count} / {n}, failed: {failed}"
        + (f" (first: {point.first_error})" if point.first_error else ""),
        f"stream duration p50 {point.pct(0.5):.2f} s, p99 {point.pct(0.99):.2f} s, "
        f"time to first byte p50 {point.pct(0.5, ttfb=True) * 1000:.1f} ms, all in {wall:.1f} s",
        f"worker RSS: idle {idle:.0f} MB, peak {peak:.0f} MB, after {after:.0f} MB",
        f"growth while holding the streams: {growth:.0f} MB (goal < {GROWTH_LIMIT_MB:.0f} MB): "
        + ("goal met" if ok else "GOAL NOT MET"),
    ]
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"{stamp}-slow.json").write_text(
        json.dumps(
            {
                "streams": n,
                "completed": point.count,
                "failed": failed,
                "statuses": dict(point.statuses),
                "rss_idle": idle,
                "rss_peak": peak,
                "rss_after": after,
                "fd_limit": [before, limit],
            },
            indent=1,
        )
    )
    return 0 if ok else 1
