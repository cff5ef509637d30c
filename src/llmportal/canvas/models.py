from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.db import Base, IdMixin, TimestampMixin, utcnow


class CanvasDocument(IdMixin, TimestampMixin, Base):
    """One document per chat session: deleting the session deletes its canvas and versions."""

    __tablename__ = "canvas_documents"
    __table_args__ = (UniqueConstraint("session_id", name="uq_canvas_documents_session"),)

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("chat_sessions.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Ever-increasing snapshot counter: orders snapshots even when taken in the same instant.
    snapshot_seq: Mapped[int] = mapped_column(Integer, default=0)


class CanvasVersion(IdMixin, Base):
    __tablename__ = "canvas_versions"
    __table_args__ = (Index("ix_canvas_versions_document_seq", "document_id", "seq"),)

    document_id: Mapped[str] = mapped_column(ForeignKey("canvas_documents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
