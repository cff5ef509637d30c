"""`llmportal backup` and `llmportal restore` as an operator runs them: real processes and files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.core.test_cli import run_cli
from tests.fixtures.factories import PASSWORD


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        "LLMPORTAL_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/data/portal.db",
        "LLMPORTAL_DATA_DIR": str(tmp_path / "data"),
        "LLMPORTAL_SECRET_KEY": "backup-test-secret-key-0123456789",
    }


def _emails(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {row[0] for row in conn.execute("SELECT email FROM users")}


def _create(email: str, tmp_path: Path) -> None:
    r = run_cli(
        "user", "create", "--email", email, "--password", PASSWORD, env=_env(tmp_path), cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr


def test_backup_then_restore_round_trips(tmp_path: Path) -> None:
    env = _env(tmp_path)
    db = tmp_path / "data" / "portal.db"
    _create("kept@example.com", tmp_path)
    backup = tmp_path / "backups" / "portal-1.db"
    backup.parent.mkdir()

    r = run_cli("backup", str(backup), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "backed up" in r.stdout
    assert _emails(backup) == {"kept@example.com"}

    _create("later@example.com", tmp_path)
    assert _emails(db) == {"kept@example.com", "later@example.com"}

    r = run_cli("restore", str(backup), env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert _emails(db) == {"kept@example.com"}
    # The replaced database is kept beside it, just in case.
    assert _emails(db.with_name("portal.db.before-restore")) == {
        "kept@example.com",
        "later@example.com",
    }
    # The restored database is usable: the portal migrates and writes to it.
    _create("after@example.com", tmp_path)
    assert _emails(db) == {"kept@example.com", "after@example.com"}


def test_backup_refuses_to_overwrite(tmp_path: Path) -> None:
    _create("a@example.com", tmp_path)
    target = tmp_path / "exists.db"
    target.write_bytes(b"precious")
    r = run_cli("backup", str(target), env=_env(tmp_path), cwd=tmp_path)
    assert r.returncode == 1
    assert "already exists" in r.stderr
    assert target.read_bytes() == b"precious"


def test_restore_refuses_what_is_not_a_portal_backup(tmp_path: Path) -> None:
    _create("a@example.com", tmp_path)
    env = _env(tmp_path)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    r = run_cli("restore", str(junk), env=env, cwd=tmp_path)
    assert r.returncode == 1 and "not a SQLite database" in r.stderr
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    r = run_cli("restore", str(other), env=env, cwd=tmp_path)
    assert r.returncode == 1 and "not an llmportal database" in r.stderr
    r = run_cli("restore", str(tmp_path / "absent.db"), env=env, cwd=tmp_path)
    assert r.returncode == 1 and "No backup file" in r.stderr
    assert _emails(tmp_path / "data" / "portal.db") == {"a@example.com"}
    assert "Traceback" not in r.stderr


def test_postgresql_gets_the_pg_dump_recipe(tmp_path: Path) -> None:
    env = {"LLMPORTAL_DATABASE_URL": "postgresql+asyncpg://portal@db.invalid/portal"}
    r = run_cli("backup", "portal.dump", env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert "pg_dump --format=custom --file portal.dump" in r.stderr
    r = run_cli("restore", "portal.dump", env=env, cwd=tmp_path)
    assert r.returncode == 1
    assert "pg_restore" in r.stderr
