"""The migrations build exactly the schema the SQLAlchemy models describe, on either dialect."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from llmportal.migrate import include_object
from llmportal.models import Base
from llmportal.portal import Portal


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_database_matches_the_models(portal: Portal) -> None:
    # The session's database was upgraded to head by `alembic upgrade` (tests/conftest.py).
    async with portal.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
