"""The container files, checked without a container engine: the entrypoint script (migrate,
then exec serve), compose.yaml's portal environment against `llmportal config check`, and the
Dockerfile's HEALTHCHECK against the app."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"
SRC = ROOT / "src"

# `llmportal` on PATH: migrate (and any other command but serve) runs the real CLI of this
# checkout; serve only records its pid and arguments, as the process the entrypoint exec'd.
FAKE_LLMPORTAL = """#!/bin/sh
echo "$$ $*" >> "$CALLS"
if [ "$1" = "serve" ]; then exit 0; fi
exec "$PYTHON" -m llmportal "$@"
"""


@pytest.fixture
def entry_env(tmp_path: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "llmportal"
    fake.write_text(FAKE_LLMPORTAL)
    fake.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORTAL_")}
    env.update(
        PATH=f"{bin_dir}:/usr/bin:/bin",
        PYTHON=sys.executable,
        PYTHONPATH=str(SRC),
        CALLS=str(tmp_path / "calls"),
        LLMPORTAL_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/portal.db",
        LLMPORTAL_DATA_DIR=str(tmp_path / "data"),
        LLMPORTAL_SECRET_KEY="entrypoint-secret-key-entrypoint-secret-key",
    )
    return env


def _calls(env: dict[str, str]) -> list[tuple[int, str]]:
    lines = Path(env["CALLS"]).read_text().splitlines()
    return [(int(pid), args) for pid, _, args in (line.partition(" ") for line in lines)]


def test_entrypoint_migrates_then_execs_serve(entry_env: dict[str, str], tmp_path: Path) -> None:
    entry_env["LLMPORTAL_PORT"] = "8123"
    proc = subprocess.Popen(["sh", str(ENTRYPOINT)], env=entry_env, cwd=tmp_path)
    assert proc.wait(timeout=120) == 0
    migrate, serve = _calls(entry_env)
    assert migrate[1] == "migrate"
    assert serve == (proc.pid, "serve --host 0.0.0.0 --port 8123")  # exec: the same process
    with sqlite3.connect(tmp_path / "portal.db") as db:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    assert {"alembic_version", "users"} <= tables


def test_entrypoint_runs_another_command_without_migrating(entry_env: dict[str, str]) -> None:
    done = subprocess.run(
        ["sh", str(ENTRYPOINT), "llmportal", "config", "check"],
        env=entry_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout
    assert [args for _, args in _calls(entry_env)] == ["config check"]


def test_entrypoint_stops_when_migration_fails(entry_env: dict[str, str]) -> None:
    entry_env["LLMPORTAL_DATABASE_URL"] = "mysql://nope"
    done = subprocess.run(
        ["sh", str(ENTRYPOINT)], env=entry_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert "DATABASE_URL" in done.stderr
    assert [args for _, args in _calls(entry_env)] == ["migrate"]  # never served


def _compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())
    return data


@pytest.mark.parametrize("service", ["portal1", "portal2"])
def test_compose_portal_environment_passes_config_check(service: str) -> None:
    svc = _compose()["services"][service]
    env = {k: str(v) for k, v in svc["environment"].items()}
    env.update(PATH=os.environ["PATH"], PYTHONPATH=str(SRC))
    done = subprocess.run(
        [sys.executable, "-m", "llmportal", "config", "check"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "configuration OK" in done.stdout
    assert "DATABASE_URL = 'postgresql+asyncpg://portal:****@postgres:5432/portal'" in done.stdout
    assert "REDIS_URL = 'redis://redis:6379/0'" in done.stdout
    assert "HOST = '0.0.0.0'" in done.stdout
    assert "change-me" not in done.stdout  # the secret key is masked


def test_compose_runs_two_portals_behind_nginx_on_shared_services() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"portal1", "portal2", "nginx", "postgres", "redis", "minio"} <= set(services)
    one, two = services["portal1"]["environment"], services["portal2"]["environment"]
    assert one == two  # same database, Redis, secret key and object store
    assert one["LLMPORTAL_STORAGE_URL"].startswith("s3://")
    assert one["LLMPORTAL_S3_ENDPOINT_URL"] == "http://minio:9000"
    nginx_conf = (ROOT / "deploy" / "nginx.conf").read_text()
    assert "server portal1:8000" in nginx_conf and "server portal2:8000" in nginx_conf
    for name in ("portal1", "portal2", "postgres", "redis", "minio"):
        [volume] = services[name]["volumes"]
        assert volume.split(":")[0] in compose["volumes"], name  # a named volume


async def test_dockerfile_healthcheck_path_is_the_readiness_probe(
    client: httpx.AsyncClient,
) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [path] = re.findall(r"HEALTHCHECK[^\n]*\\\n\s*CMD curl [^\n]*?/(health/[a-z]+)", dockerfile)
    assert path == "health/ready"
    answer = await client.get("/" + path)
    assert answer.status_code == 200
    assert answer.json()["checks"]["database"] == "ok"
    assert "USER portal" in dockerfile
    assert 'ENTRYPOINT ["llmportal-entrypoint"]' in dockerfile
    makefile = (ROOT / "Makefile").read_text()
    [pinned] = re.findall(r"LLAMA_CMAKE_ARGS \?= (-DGGML_NATIVE=OFF -DGGML_AVX=ON[^\n]*)", makefile)
    assert f'LLAMA_CMAKE_ARGS="{pinned}"' in dockerfile  # the same kernels as CI runs
