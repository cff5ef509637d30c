"""A real `python -m llmportal serve` process for the browser tests: a fresh SQLite database,
emails written to the outbox folder, models on the scripted fake upstream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.fixtures import upstreams
from tests.fixtures.outbox import Outbox
from tests.fixtures.portal_process import portal_env, stop, wait_http
from tests.fixtures.upstreams import FakeUpstream, free_port

fake_upstream = upstreams.fake_upstream

SRC = Path(__file__).resolve().parents[2] / "src"
CHROMIUM = os.environ.get("LLMPORTAL_TEST_CHROMIUM", "/usr/bin/chromium")


@dataclass
class WebServer:
    url: str
    outbox: Outbox
    log: Path
    env: dict[str, str]

    def cli(self, *args: str) -> None:
        done = subprocess.run(
            [sys.executable, "-m", "llmportal", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr


def browser_or_skip() -> str:
    """The Chromium binary; outside CI a missing browser skips the test, in CI it fails."""
    found = shutil.which(CHROMIUM) or (CHROMIUM if os.access(CHROMIUM, os.X_OK) else None)
    problem = None
    if not found:
        problem = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    else:
        try:
            import playwright  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install playwright)"
    if not (SRC / "llmportal" / "static" / "index.html").is_file():
        problem = "the web app is not built (cd web && npm ci && npm run build)"
    if problem:
        if os.environ.get("CI") == "true":
            pytest.fail(problem)
        pytest.skip(problem)
    assert found
    return found


def _config(fake_url: str) -> str:
    models = [("oa-plain", "plain"), ("oa-tool", "tool"), ("oa-drip", "drip")]
    text = 'default_model = "oa-plain"\n'
    text += (
        '[[plans]]\ntier = "UNLIMITED"\nname = "Unlimited"\nmonthly_tokens = 0\napi_keys = 100\n'
    )
    text += (
        f'[[providers]]\nid = "fake-openai"\ntype = "openai"\nbase_url = "{fake_url}/v1"\n'
        'api_key = "sk-fake-openai"\ntimeout_s = 5\n'
    )
    for mid, scenario in models:
        text += (
            f'[[models]]\nid = "{mid}"\nprovider = "fake-openai"\nupstream_model = "{scenario}"\n'
        )
    # $0.001 a token: an answer of the fake (11 + 6 tokens) costs $0.017, for the budget pages.
    text += (
        '[[models]]\nid = "oa-priced"\nprovider = "fake-openai"\nupstream_model = "plain"\n'
        "input_cost_per_mtok = 1000.0\noutput_cost_per_mtok = 1000.0\n"
    )
    return text


@pytest.fixture(scope="session")
def web_server(
    tmp_path_factory: pytest.TempPathFactory, fake_upstream: FakeUpstream
) -> Iterator[WebServer]:
    tmp = tmp_path_factory.mktemp("web")
    config = tmp / "portal.toml"
    config.write_text(_config(fake_upstream.url))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # Every browser test signs in from 127.0.0.1 against this one server.
    limits = '{"login": 1000, "register": 1000}'
    env = portal_env(tmp, f"sqlite+aiosqlite:///{tmp}/web.db", port, config, RATE_LIMITS=limits)
    log_path = tmp / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmportal", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_http(f"{url}/health/live", proc, log_path)
        yield WebServer(url=url, outbox=Outbox(tmp / "data" / "outbox"), log=log_path, env=env)
    finally:
        stop(proc)
        log.close()
