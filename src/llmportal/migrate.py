"""Run Alembic programmatically against the configured database.

Alembic is imported only when migrating: `serve` migrates in a child process (server.upgrade),
so it never weighs on the serving process's memory.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import text

from llmportal.db import create_engine

if TYPE_CHECKING:
    from alembic.config import Config

_SCRIPT_LOCATION = str(Path(__file__).parent / "migrations")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    """Keep hand-written, dialect-specific objects (0002_library_fts) out of autogenerate and
    out of the models-versus-migrations comparison."""
    if type_ == "table" and name and name.startswith("content_items_fts"):
        return False
    return not (
        type_ in ("column", "index") and name in ("search_vector", "ix_content_items_search_vector")
    )


def alembic_config(url: str) -> Config:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", _SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade_async(url: str, revision: str = "head") -> None:
    from alembic import command

    cfg = alembic_config(url)
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # Several instances may start at once: one migrates, the others wait.
                await conn.execute(text("SELECT pg_advisory_xact_lock(7406021105)"))

            def _upgrade(sync_conn: object) -> None:
                cfg.attributes["connection"] = sync_conn
                command.upgrade(cfg, revision)

            await conn.run_sync(_upgrade)
    finally:
        await engine.dispose()


def upgrade(url: str, revision: str = "head") -> None:
    asyncio.run(upgrade_async(url, revision))


def autogenerate(url: str, message: str) -> None:
    """Developer tool: write a new revision from the models' difference to `url`."""
    from alembic import command

    cfg = alembic_config(url)
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    command.revision(cfg, message=message, autogenerate=True)


URL_ENV = "LLMPORTAL_MIGRATE_URL"  # not on the command line, where `ps` would show a password


def main() -> int:
    """`python -m llmportal.migrate`: upgrade the database named by $LLMPORTAL_MIGRATE_URL."""
    try:
        upgrade(os.environ[URL_ENV])
    except Exception as exc:
        print(f"llmportal: database migration failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
