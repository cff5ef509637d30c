"""Run Alembic programmatically against the configured database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from llmportal.db import create_engine

_SCRIPT_LOCATION = str(Path(__file__).parent / "migrations")


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", _SCRIPT_LOCATION)
    cfg.set_main_option("sqlalchemy.url", url)
    return cfg


async def upgrade_async(url: str, revision: str = "head") -> None:
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
    cfg = alembic_config(url)
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    command.revision(cfg, message=message, autogenerate=True)
