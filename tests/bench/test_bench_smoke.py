"""The bench's load generator against its fake upstream, a handful of requests, and the table."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from bench.report import Row, render
from bench.run import BENCH, SLOW_MODEL, Target, body, free_port
from bench.scale import LIMIT_RPM, Outcome
from bench.scale import render as render_scale
from bench.slow import raise_fd_limit
from bench.upstream import SLOW_CHUNKS

from bench import loadgen, procstat

SLOW_TEST_INTERVAL_S = 0.05


@pytest.fixture
def upstream() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(BENCH / "upstream.py"), "--port", str(port)]
        + ["--slow-interval", str(SLOW_TEST_INTERVAL_S)],
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


async def test_slow_streams_from_the_fake_upstream(
    upstream: tuple[str, subprocess.Popen[bytes]],
) -> None:
    """What `--slow-streams` holds through the portal: here straight from the upstream."""
    url, _ = upstream
    point = await loadgen.run(
        f"{url}/v1/chat/completions",
        body(True, SLOW_MODEL),
        {},
        concurrency=5,
        requests=5,
        max_seconds=30,
    )
    assert (point.count, point.errors, point.sent) == (5, 0, 5)
    assert min(point.latencies) >= SLOW_CHUNKS * SLOW_TEST_INTERVAL_S * 0.9
    assert max(point.ttfb) < SLOW_TEST_INTERVAL_S  # the first chunk comes at once


def test_fd_limit_is_raised_as_far_as_allowed() -> None:
    before, after = raise_fd_limit(64)
    assert after >= before and after >= 64


def test_scale_table_says_whether_limits_and_usage_held() -> None:
    point = loadgen.Point(latencies=[0.01] * 10, elapsed=0.1)
    outcomes = []
    for backend, workers, rps_scale, cpu_s, answers in (
        ("sqlite", 1, 1, 0.001, {200: LIMIT_RPM, 429: 2 * LIMIT_RPM}),
        ("pg+redis", 1, 1, 0.0015, {200: LIMIT_RPM, 429: 2 * LIMIT_RPM}),
        ("pg+redis", 2, 2, 0.0015, {200: LIMIT_RPM + 1, 429: 2 * LIMIT_RPM - 1}),
    ):
        target = Target(
            f"{workers}", "http://x/v1/chat/completions", {}, rss_idle=100, rss_after=110
        )
        row = Row.from_point("portal", False, 16, point, cpu_s * point.count)
        row.rps *= rps_scale
        target.rows = [row]
        outcomes.append(
            Outcome(workers, backend, target, answers, usage_rows=10, completions=9 + workers)
        )
    table = render_scale(outcomes)
    assert "| sqlite | 1 | 100 | 110 | 100 allowed" in table
    assert "exact | 10 rows / 10 answered complete" in table
    assert "NOT EXACT" in table and "MISMATCH" in table
    assert "- non-stream at 16 clients: 1.50 / 1.00 = 1.50x" in table
    assert "- non-stream at 16 clients: 2.00x" in table


async def test_embeddings_from_the_fake_upstream_and_the_api_rows(
    upstream: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, _ = upstream
    point = await loadgen.run(
        f"{url}/v1/embeddings",
        body(False, api="embeddings"),
        {},
        concurrency=2,
        requests=10,
        max_seconds=5,
    )
    assert (point.count, point.errors) == (10, 0)
    rows = [
        Row.from_point("portal", stream, 2, point, 0.01 * cpu, api)
        for api, stream, cpu in (
            ("chat", True, 1),
            ("responses", True, 1.2),
            ("embeddings", False, 1),
        )
    ]
    table = render([Target("portal", url, {}, rows=rows, rss_idle=10, rss_after=12)])
    assert "| portal | responses stream | 2 |" in table
    assert "| portal | embeddings non-stream | 2 |" in table
    assert "| responses stream | 2 | 1.20 |" in table  # its CPU against the chat stream's
