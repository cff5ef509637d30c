"""The bench's load generator against its fake upstream, a handful of requests, and the table."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from bench.report import Row, render
from bench.run import BENCH, Target, body, free_port

from bench import loadgen, procstat


@pytest.fixture
def upstream() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "upstream.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
        yield f"http://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("stream", [False, True])
async def test_loadgen_against_fake_upstream_and_table(
    upstream: tuple[str, subprocess.Popen[bytes]], stream: bool
) -> None:
    url, proc = upstream
    before = procstat.cpu_seconds(proc.pid)
    point = await loadgen.run(
        f"{url}/v1/chat/completions", body(stream), {}, concurrency=2, requests=20, max_seconds=5
    )
    assert point.errors == 0, point.first_error
    assert point.count >= 20
    assert all(t <= total for t, total in zip(point.ttfb, point.latencies, strict=True))
    cpu = procstat.cpu_seconds(proc.pid) - before
    assert procstat.rss_mb(proc.pid) > 0

    rows = [Row.from_point(name, stream, 2, point, cpu) for name in ("direct", "portal", "litellm")]
    targets = [
        Target(name, url, {}, rows=[row], rss_idle=10, rss_after=12)
        for name, row in zip(("direct", "portal", "litellm"), rows, strict=True)
    ]
    table = render(targets)
    mode = "stream" if stream else "non-stream"
    assert f"| portal | {mode} | 2 |" in table
    assert "portal / LiteLLM" in table
    assert "| RSS idle MB |" in table


async def test_fake_upstream_answers_404_elsewhere(
    upstream: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = upstream
    point = await loadgen.run(
        f"{url}/v1/nothing", body(False), {}, concurrency=1, requests=2, max_seconds=2
    )
    assert point.count == 0
    assert point.errors == 2 and point.first_error == "HTTP 404"
