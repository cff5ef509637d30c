"""library full-text search: FTS5 on SQLite, tsvector + GIN on PostgreSQL

Hand-written: autogenerate cannot express these dialect-specific objects, and
scripts/regen_initial_migration.py keeps this file when it rewrites 0001.

Revision ID: 0002_library_fts
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_library_fts"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# SQLite: a standalone FTS5 table whose rowid is the item's rowid, kept in sync by triggers.


def _fts_insert(row: str) -> str:
    return (
        "INSERT INTO content_items_fts(rowid, title, description, tags, content) SELECT "
        f"{row}.rowid, {row}.title, coalesce({row}.description, ''), "
        f"coalesce((SELECT group_concat(value, ' ') FROM json_each({row}.tags)), ''), "
        f"coalesce({row}.content, '')"
    )


_SQLITE_UP = [
    "CREATE VIRTUAL TABLE content_items_fts USING fts5("
    "title, description, tags, content, tokenize = 'porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER content_items_fts_insert AFTER INSERT ON content_items BEGIN "
    f"{_fts_insert('new')}; END",
    "CREATE TRIGGER content_items_fts_delete AFTER DELETE ON content_items BEGIN "
    "DELETE FROM content_items_fts WHERE rowid = old.rowid; END",
    "CREATE TRIGGER content_items_fts_update AFTER UPDATE OF title, description, tags, content "
    "ON content_items BEGIN DELETE FROM content_items_fts WHERE rowid = old.rowid; "
    f"{_fts_insert('new')}; END",
    f"{_fts_insert('content_items')} FROM content_items",
]
_SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS content_items_fts_update",
    "DROP TRIGGER IF EXISTS content_items_fts_delete",
    "DROP TRIGGER IF EXISTS content_items_fts_insert",
    "DROP TABLE IF EXISTS content_items_fts",
]

# PostgreSQL: a generated, weighted tsvector (title A, tags B, description C, content D).
# The content is capped so a huge note cannot exceed tsvector's 1 MB limit.
_PG_UP = [
    """
    ALTER TABLE content_items ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A')
        || setweight(json_to_tsvector('english'::regconfig, coalesce(tags, '[]'::json),
                                      '["string"]'::jsonb), 'B')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'C')
        || setweight(to_tsvector('english'::regconfig, left(coalesce(content, ''), 200000)), 'D')
    ) STORED
    """,
    "CREATE INDEX ix_content_items_search_vector ON content_items USING gin (search_vector)",
]
_PG_DOWN = [
    "DROP INDEX IF EXISTS ix_content_items_search_vector",
    "ALTER TABLE content_items DROP COLUMN IF EXISTS search_vector",
]


def upgrade() -> None:
    statements = _SQLITE_UP if op.get_bind().dialect.name == "sqlite" else _PG_UP
    for sql in statements:
        op.execute(sql)


def downgrade() -> None:
    statements = _SQLITE_DOWN if op.get_bind().dialect.name == "sqlite" else _PG_DOWN
    for sql in statements:
        op.execute(sql)
