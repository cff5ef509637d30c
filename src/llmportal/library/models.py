from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.db import Base, IdMixin, TimestampMixin, utcnow

ITEM_TYPES = ("IMAGE", "VIDEO", "FILE", "CODE", "CONVERSATION", "NOTE")


class ContentItem(IdMixin, TimestampMixin, Base):
    """One thing in a user's library. Uploaded bytes live in storage under `storage_name`.

    Full-text search objects are dialect-specific and live in migration 0002_library_fts:
    an FTS5 table kept in sync by triggers on SQLite, a generated tsvector column with a GIN
    index on PostgreSQL. Neither is mapped here.
    """

    __tablename__ = "content_items"
    __table_args__ = (
        Index("ix_content_items_user_created", "user_id", "created_at"),
        Index("ix_content_items_user_type", "user_id", "type"),
        Index("ix_content_items_user_storage", "user_id", "storage_name"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text)
    content: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(String(2048))
    file_name: Mapped[str | None] = mapped_column(String(255))
    mime_type: Mapped[str | None] = mapped_column(String(255))
    # Bytes this item stores: the uploaded file, or the UTF-8 text of its content.
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    storage_name: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str | None] = mapped_column(String(64))
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    source: Mapped[str] = mapped_column(String(50), default="manual")
    favorite: Mapped[bool] = mapped_column(Boolean, default=False)
    archived: Mapped[bool] = mapped_column(Boolean, default=False)


class Collection(IdMixin, TimestampMixin, Base):
    __tablename__ = "collections"
    __table_args__ = (
        UniqueConstraint("user_id", "name", name="uq_collections_user_name"),
        # At most one default collection per user, even when two first requests race.
        Index(
            "uq_collections_user_default",
            "user_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    color: Mapped[str | None] = mapped_column(String(7))
    icon: Mapped[str | None] = mapped_column(String(50))
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)


class CollectionItem(Base):
    __tablename__ = "collection_items"

    collection_id: Mapped[str] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[str] = mapped_column(
        ForeignKey("content_items.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


def tag_list(value: Any) -> list[str]:
    return [str(t) for t in value] if isinstance(value, list) else []
