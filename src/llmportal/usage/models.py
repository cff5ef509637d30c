from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.db import Base, IdMixin, utcnow


class UsageRecord(IdMixin, Base):
    """One completion, success or error. Money in integer micro-dollars (1e-6 USD)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_user_created", "user_id", "created_at"),
        Index("ix_usage_records_key_created", "api_key_id", "created_at"),
        Index("ix_usage_records_org_created", "org_id", "created_at"),
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # No foreign key: a deleted key's history stays in the user's usage.
    api_key_id: Mapped[str | None] = mapped_column(String(32))
    # Set for an organization key's usage (user_id is then the member who created the key); no
    # foreign key either: the history outlives the org.
    org_id: Mapped[str | None] = mapped_column(String(32))
    session_id: Mapped[str | None] = mapped_column(String(32))
    request_id: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    provider: Mapped[str | None] = mapped_column(String(100))
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    input_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    output_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    image_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    images: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # generated
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))  # success | error
    http_status: Mapped[int] = mapped_column(Integer, default=200)
    error: Mapped[str | None] = mapped_column(Text)
    stream: Mapped[bool] = mapped_column(Boolean, default=False)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_micros(self) -> int:
        return self.input_cost_micros + self.output_cost_micros + self.image_cost_micros


class UsageDaily(IdMixin, Base):
    """Per user, key, model, status and UTC day: what the summaries read instead of every request.

    Kept by `usage.rollup.add_to_rollup` in the same transaction as the records it folds in.
    `api_key_id` is '' for browser-session usage so the unique key has no NULLs.
    """

    __tablename__ = "usage_daily"
    __table_args__ = (
        UniqueConstraint("user_id", "api_key_id", "model", "status", "day"),
        Index("ix_usage_daily_user_day", "user_id", "day"),
        Index("ix_usage_daily_org_day", "org_id", "day"),
    )

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    api_key_id: Mapped[str] = mapped_column(String(32), default="")
    org_id: Mapped[str | None] = mapped_column(String(32))  # an org key's org (one for good)
    model: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    day: Mapped[date] = mapped_column(Date)
    requests: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    input_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    output_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    image_cost_micros: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_ms_sum: Mapped[int] = mapped_column(BigInteger, default=0)
