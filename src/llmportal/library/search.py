"""Full-text search over content items, one implementation per dialect.

The index objects come from migration 0002_library_fts: the FTS5 table `content_items_fts`
(rowid = the item's rowid) on SQLite, the generated column `search_vector` on PostgreSQL.
Both match every word of the query as a prefix, stemmed, and rank title over tags over
description over content.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Select, column, func, literal_column, table, text

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 12
_FTS = table("content_items_fts", column("rowid"))


def search_terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


@dataclass(frozen=True, slots=True)
class SearchClause:
    """Joins/filters to apply to a select of content_items, and the rank to order by."""

    dialect: str
    terms: list[str]

    def apply(self, stmt: Select[tuple[object, ...]]) -> Select[tuple[object, ...]]:
        if self.dialect == "sqlite":
            return stmt.join(_FTS, _FTS.c.rowid == literal_column("content_items.rowid")).where(
                text("content_items_fts MATCH :fts_query").bindparams(fts_query=self._fts5())
            )
        return stmt.where(literal_column("content_items.search_vector").op("@@")(self._tsquery()))

    def rank(self) -> ColumnElement[float]:
        """Best match first when ordered ascending."""
        if self.dialect == "sqlite":
            # bm25 is lower for better matches; weights: title, description, tags, content.
            return func.bm25(literal_column("content_items_fts"), 10.0, 3.0, 5.0, 1.0)
        return -func.ts_rank(literal_column("content_items.search_vector"), self._tsquery())

    def _fts5(self) -> str:
        return " AND ".join(f'"{t}"*' for t in self.terms)

    def _tsquery(self) -> ColumnElement[object]:
        query = " & ".join(f"{t}:*" for t in self.terms)
        return func.to_tsquery(literal_column("'english'::regconfig"), query)
