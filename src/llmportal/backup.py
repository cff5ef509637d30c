"""`llmportal backup FILE` / `llmportal restore FILE` for SQLite; PostgreSQL uses pg_dump.

The backup uses SQLite's online backup API: a consistent copy while the portal keeps serving.
A restore replaces the database (the portal must be stopped), keeps the replaced database beside
it as `<name>.before-restore`, then upgrades the restored schema to this version's migrations.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url

from llmportal.errors import PortalError

PG_BACKUP = (
    "PostgreSQL is backed up with its own tools: "
    "pg_dump --format=custom --file {file} '<DATABASE_URL without +asyncpg>' "
    "(see docs/operations.md)"
)
PG_RESTORE = (
    "PostgreSQL is restored with its own tools: "
    "pg_restore --clean --if-exists --no-owner --dbname '<DATABASE_URL without +asyncpg>' {file}"
    ", then llmportal migrate (see docs/operations.md)"
)


def sqlite_path(database_url: str) -> Path | None:
    """The database file of a SQLite URL; None for another database."""
    url = make_url(database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        raise PortalError(1, "An in-memory database cannot be backed up or restored")
    return Path(url.database)


def _copy(source: sqlite3.Connection, target: Path) -> None:
    dest = sqlite3.connect(target)
    try:
        source.backup(dest)
    finally:
        dest.close()


def _copy_file(source_path: Path, target: Path) -> None:
    source = sqlite3.connect(source_path, timeout=10)
    try:
        _copy(source, target)
    finally:
        source.close()


def backup(database_url: str, file: str) -> str:
    db = sqlite_path(database_url)
    if db is None:
        raise PortalError(1, PG_BACKUP.format(file=file))
    if not db.exists():
        raise PortalError(1, f"No database at {db}")
    target = Path(file)
    if target.exists():
        raise PortalError(1, f"{target} already exists; choose a new file")
    _copy_file(db, target)
    return f"backed up {db} to {target} ({target.stat().st_size} bytes)"


def _check_backup(path: Path) -> None:
    if not path.is_file():
        raise PortalError(1, f"No backup file at {path}")
    try:
        conn = sqlite3.connect(path)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise PortalError(1, f"{path} is not a SQLite database ({exc})") from exc
    if found is None:
        raise PortalError(1, f"{path} is not an llmportal database (no schema version)")


def restore(database_url: str, file: str) -> str:
    db = sqlite_path(database_url)
    if db is None:
        raise PortalError(1, PG_RESTORE.format(file=file))
    source_path = Path(file)
    _check_backup(source_path)
    if source_path.resolve() == db.resolve():
        raise PortalError(1, "The backup is the database itself")
    db.parent.mkdir(parents=True, exist_ok=True)
    kept = ""
    if db.exists():
        previous = db.with_name(db.name + ".before-restore")
        previous.unlink(missing_ok=True)
        _copy_file(db, previous)
        kept = f"; the replaced database is kept at {previous}"
    _copy_file(source_path, db)  # through SQLite, so the file's WAL stays coherent
    from llmportal.migrate import upgrade

    upgrade(database_url)
    return f"restored {db} from {source_path}{kept}"
