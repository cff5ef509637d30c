"""A real `python -m llmportal serve` process for the browser tests: a fresh SQLite database,
emails written to the outbox folder, models on the scripted fake upstream."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.fixtures import upstreams
from tests.fixtures.outbox import Outbox
from tests.fixtures.portal_process import stop
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
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORTAL_")}
    env.update(
        {
            "PYTHONPATH": str(SRC),
            "LLMPORTAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/web.db",
            "LLMPORTAL_DATA_DIR": str(tmp / "data"),
            "LLMPORTAL_STORAGE_DIR": str(tmp / "data" / "files"),
            "LLMPORTAL_SECRET_KEY": "web-secret-key-web-secret-key-1234567",
            "LLMPORTAL_PUBLIC_URL": url,
            "LLMPORTAL_PORT": str(port),
            "LLMPORTAL_CONFIG": str(config),
            # Every browser test signs in from 127.0.0.1 against this one server.
            "LLMPORTAL_RATE_LIMITS": '{"login": 1000, "register": 1000}',
        }
    )
    log_path = tmp / "server.log"
    log = open(log_path, "wb")  # noqa: SIM115 - the child writes to it
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmportal", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llmportal serve exited:\n{log_path.read_text()}")
            try:
                if httpx.get(f"{url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llmportal serve did not start:\n{log_path.read_text()}")
            time.sleep(0.1)
        yield WebServer(url=url, outbox=Outbox(tmp / "data" / "outbox"), log=log_path, env=env)
    finally:
        stop(proc)
        log.close()
