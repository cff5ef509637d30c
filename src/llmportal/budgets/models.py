from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.db import Base, IdMixin, utcnow


class BudgetColumns:
    """A USD budget on a row (API keys, users; organizations next). No budget: no cost."""

    max_budget_micros: Mapped[int | None] = mapped_column(BigInteger)  # None: no budget
    budget_period: Mapped[str | None] = mapped_column(String(16))  # daily|weekly|monthly|None
    # When the budget was switched on or its period changed: its tallies are named after it, so
    # spend made while there was no budget (and so no tally) is never missed.
    budget_set_at: Mapped[datetime | None] = mapped_column()


class BudgetAlert(IdMixin, Base):
    """An alert email sent: a budget reached 80 % or 100 % in one of its periods. The unique
    row makes it once per period, scope and budget amount, whichever instance got there first."""

    __tablename__ = "budget_alerts"
    __table_args__ = (
        UniqueConstraint("scope", "owner_id", "period", "threshold", "max_budget_micros"),
    )

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    scope: Mapped[str] = mapped_column(String(8))  # key | user | org
    owner_id: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(40))  # e.g. "m:2026-01", "all"
    threshold: Mapped[int] = mapped_column(Integer)  # 80 | 100
    max_budget_micros: Mapped[int] = mapped_column(BigInteger)
    spend_micros: Mapped[int] = mapped_column(BigInteger)
