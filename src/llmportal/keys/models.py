from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.budgets.models import BudgetColumns
from llmportal.db import Base, IdMixin, TimestampMixin, utcnow


class ApiKey(IdMixin, TimestampMixin, BudgetColumns, Base):
    """A user's API key, or an organization's (`org_id` set; `user_id` is then the member who
    created it). The secret itself is never stored: only its keyed hash and a prefix."""

    __tablename__ = "api_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    prefix: Mapped[str] = mapped_column(String(32))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[list[str] | None] = mapped_column(JSON)  # None: every permission
    ip_whitelist: Mapped[list[str] | None] = mapped_column(JSON)  # None or []: any address
    models: Mapped[list[str] | None] = mapped_column(JSON)  # None: every model; ids and globs
    daily_limit: Mapped[int | None] = mapped_column(BigInteger)  # tokens per UTC day
    monthly_limit: Mapped[int | None] = mapped_column(BigInteger)  # tokens per calendar month
    rpm_limit: Mapped[int | None] = mapped_column(Integer)
    expires_at: Mapped[datetime | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default="ACTIVE")  # ACTIVE | REVOKED
    revoked_at: Mapped[datetime | None] = mapped_column()
    revoked_reason: Mapped[str | None] = mapped_column(String(500))
    tier: Mapped[str] = mapped_column(String(32))
    last_used_at: Mapped[datetime | None] = mapped_column()

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or utcnow())

    def effective_status(self, now: datetime | None = None) -> str:
        if self.status == "REVOKED":
            return "REVOKED"
        return "EXPIRED" if self.is_expired(now) else self.status
