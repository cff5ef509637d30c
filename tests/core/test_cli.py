"""The CLI as an operator runs it: a real process, a real database file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.backends import scale_database_url


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LLMPORTAL_")}
    full_env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2] / "src")
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "llmportal", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=120,
    )


def test_bad_setting_is_one_clear_line(tmp_path: Path) -> None:
    r = run_cli("config", "check", env={"LLMPORTAL_PORT": "eighty"}, cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "llmportal: invalid setting LLMPORTAL_PORT: Input should be a valid integer, "
        "unable to parse string as an integer"
    ]
    assert "Traceback" not in r.stderr


def test_bad_database_url_named(tmp_path: Path) -> None:
    r = run_cli("migrate", env={"LLMPORTAL_DATABASE_URL": "mysql://x"}, cwd=tmp_path)
    assert r.returncode == 2
    assert "LLMPORTAL_DATABASE_URL" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_config_file_errors_are_named(tmp_path: Path) -> None:
    cfg = tmp_path / "portal.toml"
    cfg.write_text('[[models]]\nid = "m"\nprovider = "nope"\n')
    r = run_cli("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert "models.m.provider: unknown provider 'nope'" in r.stderr
    missing = run_cli("--config", str(tmp_path / "absent.toml"), "config", "check", cwd=tmp_path)
    assert missing.returncode == 2
    assert "config file not found" in missing.stderr


def test_config_check_masks_secrets_and_env_wins(tmp_path: Path) -> None:
    cfg = tmp_path / "portal.toml"
    cfg.write_text('port = 9001\nsecret_key = "supersecretvalue123"\n')
    r = run_cli(
        "--config",
        str(cfg),
        "config",
        "check",
        env={"LLMPORTAL_PORT": "9002", "LLMPORTAL_SMTP_URL": "smtp://bob:hunter2@mail:587"},
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stderr
    assert "PORT = 9002" in r.stdout
    assert "supersecretvalue123" not in r.stdout
    assert "hunter2" not in r.stdout
    assert "model SmolLM2-135M-Instruct: provider=local" in r.stdout


@pytest.mark.skipif(scale_database_url() is not None, reason="CLI file-database flow is SQLite")
def test_migrate_is_idempotent_and_user_create(tmp_path: Path) -> None:
    env = {"LLMPORTAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/p.db"}
    assert run_cli("migrate", env=env, cwd=tmp_path).returncode == 0
    again = run_cli("migrate", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    created = run_cli(
        "user",
        "create",
        "--email",
        "Admin@Example.com",
        "--password",
        "Very-Strong-Pass-1",
        "--admin",
        "--verified",
        env=env,
        cwd=tmp_path,
    )
    assert created.returncode == 0, created.stderr
    assert "role ADMIN" in created.stdout
    dup = run_cli(
        "user",
        "create",
        "--email",
        "admin@example.com",
        "--password",
        "Very-Strong-Pass-1",
        env=env,
        cwd=tmp_path,
    )
    assert dup.returncode == 1
    assert "already exists" in dup.stderr
    weak = run_cli(
        "user", "create", "--email", "b@example.com", "--password", "short", env=env, cwd=tmp_path
    )
    assert weak.returncode == 1
    assert "at least 12 characters" in weak.stderr
    plan = run_cli(
        "user", "set-plan", "--email", "admin@example.com", "--plan", "pro", env=env, cwd=tmp_path
    )
    assert plan.returncode == 0, plan.stderr
    assert "plan PRO" in plan.stdout
    bad_plan = run_cli(
        "user", "set-plan", "--email", "admin@example.com", "--plan", "GOLD", env=env, cwd=tmp_path
    )
    assert bad_plan.returncode == 1
    assert "unknown tier 'GOLD'" in bad_plan.stderr


def test_a_mode_the_provider_cannot_serve_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "portal.toml"
    cfg.write_text(
        '[[providers]]\nid = "an"\ntype = "anthropic"\nbase_url = "http://127.0.0.1:9"\n'
        '[[models]]\nid = "m"\nprovider = "an"\nmodes = ["chat", "embeddings"]\n'
    )
    r = run_cli("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert "models.m.modes: a anthropic provider cannot serve embeddings" in r.stderr
    cfg.write_text(
        '[[providers]]\nid = "up"\ntype = "openai"\nbase_url = "http://127.0.0.1:9"\n'
        '[[models]]\nid = "m"\nprovider = "up"\nmodes = ["poetry"]\n'
    )
    r = run_cli("--config", str(cfg), "config", "check", cwd=tmp_path)
    assert r.returncode == 2
    assert "modes" in r.stderr and "Traceback" not in r.stderr
