"""The migrations build exactly the schema the SQLAlchemy models describe (SQLite, and
PostgreSQL in the scale half): a model changed without its migration, or the other way round,
fails here rather than on an operator's database."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from llmportal.models import Base
from llmportal.portal import Portal


def _include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    """migrations/env.py's filter (that module runs Alembic when imported): the library's
    dialect-specific search objects of 0002_library_fts have no model."""
    if type_ == "table" and name and name.startswith("content_items_fts"):
        return False
    return not (
        type_ in ("column", "index") and name in ("search_vector", "ix_content_items_search_vector")
    )


def _differences(conn: Connection) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "include_object": _include_object}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(portal: Portal) -> None:
    async with portal.engine.connect() as conn:
        assert await conn.run_sync(_differences) == []
