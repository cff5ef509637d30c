from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.budgets.models import BudgetColumns
from llmportal.db import Base, IdMixin, TimestampMixin, utcnow

ROLES = ("OWNER", "ADMIN", "MEMBER")
RANK = {"MEMBER": 1, "ADMIN": 2, "OWNER": 3}


class Organization(IdMixin, TimestampMixin, BudgetColumns, Base):
    """A team that owns API keys, with a USD budget and a model allow-list over all of them,
    and a plan of its own (billed to its own Stripe customer) whose token allowance its keys
    share."""

    __tablename__ = "organizations"

    name: Mapped[str] = mapped_column(String(100))
    plan_tier: Mapped[str] = mapped_column(String(32), default="FREE", server_default="FREE")
    models: Mapped[list[str] | None] = mapped_column(JSON)  # None: every model


class OrgMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "org_members"
    __table_args__ = (UniqueConstraint("org_id", "user_id"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # OWNER | ADMIN | MEMBER


class OrgInvitation(IdMixin, Base):
    """An emailed invitation. Only the keyed hash of the link's token is stored; the row stays
    after it is accepted or revoked, so a second use of the link is told which."""

    __tablename__ = "org_invitations"
    __table_args__ = (Index("ix_org_invitations_org_email", "org_id", "email"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    accepted_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    revoked_at: Mapped[datetime | None] = mapped_column()

    def status(self, now: datetime | None = None) -> str:
        if self.accepted_at is not None:
            return "ACCEPTED"
        if self.revoked_at is not None:
            return "REVOKED"
        return "EXPIRED" if self.expires_at <= (now or utcnow()) else "PENDING"
