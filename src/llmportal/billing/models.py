from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from llmportal.db import Base, IdMixin, TimestampMixin, utcnow


class Plan(IdMixin, TimestampMixin, Base):
    """A subscription plan, synced at start-up from the configuration (prices in cents)."""

    __tablename__ = "plans"

    tier: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    monthly_price: Mapped[int] = mapped_column(Integer, default=0)
    yearly_price: Mapped[int | None] = mapped_column(Integer)
    monthly_tokens: Mapped[int] = mapped_column(BigInteger, default=0)  # 0 = unlimited
    api_keys: Mapped[int] = mapped_column(Integer, default=1)
    storage_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    support: Mapped[str | None] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # Plans dropped from the configuration stay (subscriptions refer to them) but are not offered.
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    @property
    def is_paid(self) -> bool:
        return self.monthly_price > 0 or bool(self.yearly_price)


class BillingCustomer(TimestampMixin, Base):
    """The Stripe customer of a user, created the first time billing needs one."""

    __tablename__ = "billing_customers"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class OrgBillingCustomer(TimestampMixin, Base):
    """The Stripe customer of an organization (its own, never an owner's)."""

    __tablename__ = "org_billing_customers"

    org_id: Mapped[str] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    stripe_customer_id: Mapped[str] = mapped_column(String(255), unique=True)


class Subscription(IdMixin, TimestampMixin, Base):
    """Local mirror of a Stripe subscription; webhooks and plan changes keep it current.

    A user's (`user_id`) or an organization's (`org_id`): exactly one of the two is set."""

    __tablename__ = "subscriptions"

    user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    org_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    stripe_subscription_id: Mapped[str] = mapped_column(String(255), unique=True)
    plan_id: Mapped[str | None] = mapped_column(ForeignKey("plans.id", ondelete="SET NULL"))
    tier: Mapped[str] = mapped_column(String(32))
    interval: Mapped[str] = mapped_column(String(8), default="month")
    # ACTIVE | TRIALING | PAST_DUE | INCOMPLETE | INCOMPLETE_EXPIRED | UNPAID | PAUSED | CANCELED
    status: Mapped[str] = mapped_column(String(32))
    current_period_start: Mapped[datetime | None] = mapped_column()
    current_period_end: Mapped[datetime | None] = mapped_column()
    cancel_at_period_end: Mapped[bool] = mapped_column(Boolean, default=False)
    canceled_at: Mapped[datetime | None] = mapped_column()
    # The `created` time of the newest Stripe event applied: older redeliveries are ignored.
    stripe_event_at: Mapped[int] = mapped_column(BigInteger, default=0)


class Invoice(IdMixin, Base):
    """Local mirror of a Stripe invoice (amounts in cents), a user's or an organization's."""

    __tablename__ = "invoices"
    __table_args__ = (
        Index("ix_invoices_user_created", "user_id", "created_at"),
        Index("ix_invoices_org_created", "org_id", "created_at"),
    )

    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    org_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    stripe_invoice_id: Mapped[str] = mapped_column(String(255), unique=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255))
    number: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(32))
    amount_due: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_paid: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(8), default="usd")
    period_start: Mapped[datetime | None] = mapped_column()
    period_end: Mapped[datetime | None] = mapped_column()
    hosted_invoice_url: Mapped[str | None] = mapped_column(Text)
    invoice_pdf: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StripeEvent(Base):
    """Every webhook event applied, by Stripe's id: a redelivery is acknowledged, not re-applied."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
