"""The schema the migrations build is the one the SQLAlchemy models describe, on the backend
the suite runs on: a column or index added to a model without its migration (or the other way
round) fails here, not in production."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from llmportal.migrations import include_object
from llmportal.models import Base
from llmportal.portal import Portal


def _differences(connection: Any) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_object": include_object}
    )
    return list(compare_metadata(context, Base.metadata))


async def test_migrated_schema_matches_the_models(portal: Portal) -> None:
    async with portal.engine.connect() as conn:
        differences = await conn.run_sync(_differences)
    assert differences == []
