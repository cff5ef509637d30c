"""A real `python -m llmportal serve` process (temp SQLite), configured with models on the fake
upstream, on llm-katan and on the local model; a verified user logged in by cookie."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fixtures import katan as katan_fixtures
from tests.fixtures import upstreams
from tests.fixtures.factories import PASSWORD
from tests.fixtures.katan import Katan
from tests.fixtures.portal_process import cli, portal_env, stop, wait_http
from tests.fixtures.upstreams import FakeUpstream, free_port, gateway_toml

fake_upstream = upstreams.fake_upstream
katan = katan_fixtures.katan

SRC = Path(__file__).resolve().parents[2] / "src"
EMAIL = "e2e@example.com"


@dataclass
class PortalServer:
    url: str
    db_path: Path
    cookie: str  # "llmportal_session=..." for the SDKs' default_headers
    pid: int
    since: str = ""  # usage rows stamped before this belong to earlier tests

    def usage(self, n: int, within_s: float = 10.0) -> list[dict[str, Any]]:
        """The usage rows, once there are `n` (the writer flushes every ~150 ms)."""
        deadline = time.monotonic() + within_s
        while True:
            with sqlite3.connect(self.db_path) as conn:
                conn.row_factory = sqlite3.Row
                query = "SELECT * FROM usage_records WHERE created_at >= ? ORDER BY created_at"
                rows = [dict(r) for r in conn.execute(query, (self.since,))]
            if len(rows) >= n or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)

    def model_worker_pid(self) -> int:
        """The pid of the server's local-model worker process (a child running llama.cpp)."""
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                cmdline = (stat.parent / "cmdline").read_bytes()
            except (OSError, ValueError, IndexError):
                continue  # a process that ended while we looked
            if ppid == self.pid and b"llamacpp_worker" in cmdline:
                return int(stat.parent.name)
        raise AssertionError("the server has no local-model worker")

    def start_test(self) -> None:
        # Stored as naive UTC text by SQLite, so text comparison orders them.
        self.since = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ")


@pytest.fixture(scope="session")
def portal_server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream, katan: Katan
) -> Iterator[PortalServer]:
    tmp = tmp_path_factory.mktemp("e2e")
    config = tmp / "portal.toml"
    config.write_text(gateway_toml(fake_upstream.url, katan.url))
    port = free_port()
    env = portal_env(tmp, f"sqlite+aiosqlite:///{tmp}/e2e.db", port, config)
    cli(env, "user", "create", "--email", EMAIL, "--password", PASSWORD, "--verified")
    # Quotas are tested elsewhere; here the SDK user must never meet the Free plan's allowance.
    cli(env, "user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmportal", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/health/live", proc, tmp / "server.log")
        r = httpx.post(f"{url}/api/auth/login", json={"email": EMAIL, "password": PASSWORD})
        assert r.status_code == 200, r.text
        cookie = f"llmportal_session={r.cookies['llmportal_session']}"
        yield PortalServer(url=url, db_path=tmp / "e2e.db", cookie=cookie, pid=proc.pid)
    finally:
        stop(proc)
        log.close()


def strip(*headers: str) -> Callable[[Any], None]:
    """An SDK http client request hook that removes headers (the SDK's placeholder key)."""

    def hook(request: Any) -> None:
        for header in headers:
            request.headers.pop(header, None)

    return hook


@pytest.fixture
def server(portal_server: PortalServer) -> PortalServer:
    portal_server.start_test()
    return portal_server


@pytest.fixture
def openai_client(server: PortalServer) -> Iterator[openai.OpenAI]:
    """The openai SDK at the server's /v1. The session cookie authenticates (API keys are
    another domain's): the SDK's own Bearer header is taken off each request."""
    c = openai.OpenAI(
        base_url=f"{server.url}/v1",
        api_key="unused",
        default_headers={"Cookie": server.cookie},
        http_client=openai.DefaultHttpxClient(event_hooks={"request": [strip("authorization")]}),
        max_retries=0,
        timeout=60,
    )
    yield c
    c.close()


@pytest.fixture
def anthropic_client(server: PortalServer) -> Iterator[Any]:
    """The anthropic SDK at the server. The session cookie authenticates: the SDK's placeholder
    key is taken off (this SDK version sends it as a Bearer token, older ones as x-api-key)."""
    import anthropic

    c = anthropic.Anthropic(
        base_url=server.url,
        api_key="unused",
        default_headers={"Cookie": server.cookie},
        http_client=anthropic.DefaultHttpxClient(
            event_hooks={"request": [strip("x-api-key", "authorization")]}
        ),
        max_retries=0,
        timeout=60,
    )
    yield c
    c.close()
