"""`llmportal serve --workers 2`: GET /metrics sums every worker's counts, whichever answers.

The directory is the operator's here (PROMETHEUS_MULTIPROC_DIR), so the test can see that both
workers counted; without it `serve` makes a temporary one (tests/ops/test_serve_metrics_dir.py).
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.metrics import Scrape, workers_that_counted
from tests.fixtures.portal_process import portal_env, stop, wait_http
from tests.fixtures.upstreams import free_port


@pytest.fixture
def two_workers(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    config = tmp_path / "portal.toml"
    dead = f"http://127.0.0.1:{free_port()}/v1"  # no local model: the workers start fast
    config.write_text(
        f'[[providers]]\nid = "up"\ntype = "openai"\nbase_url = "{dead}"\n'
        '[[models]]\nid = "m"\nprovider = "up"\n'
    )
    port = free_port()
    env = portal_env(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/e2e.db", port, config)
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmportal", "serve", "--workers", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health/ready", proc, tmp_path / "server.log")
        yield url, metrics_dir
    finally:
        stop(proc)
        log.close()


async def _many(url: str, n: int) -> None:
    """n requests at once, each on its own connection, so both workers take some."""
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        answers = await asyncio.gather(*(client.get(f"{url}/health/live") for _ in range(n)))
    assert {a.status_code for a in answers} == {200}


def test_counts_are_summed_across_workers(two_workers: tuple[str, Path]) -> None:
    url, metrics_dir = two_workers
    live = {"method": "GET", "route": "/health/live", "status": "200"}
    sent = 0
    for _ in range(10):
        asyncio.run(_many(url, 40))
        sent += 40
        if len(workers_that_counted(metrics_dir, "/health/live")) >= 2:
            break
    assert len(workers_that_counted(metrics_dir, "/health/live")) >= 2, (
        "the requests never reached both workers"
    )
    seen = set()
    for _ in range(8):
        r = httpx.get(f"{url}/metrics")
        assert r.status_code == 200
        seen.add(Scrape(r.text).value("llmportal_http_requests_total", **live))
    assert seen == {float(sent)}
