"""Alembic migrations (versions/) and what autogenerate leaves to hand-written revisions."""

from __future__ import annotations


def include_object(obj: object, name: str | None, type_: str, reflected: bool, _: object) -> bool:
    """Keep hand-written, dialect-specific objects (0002_library_fts) out of autogenerate (and
    out of the models-versus-migrations comparison in tests/core)."""
    if type_ == "table" and name and name.startswith("content_items_fts"):
        return False
    return not (
        type_ in ("column", "index") and name in ("search_vector", "ix_content_items_search_vector")
    )
