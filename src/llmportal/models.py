"""Every table, imported in one place so Alembic and tests see the whole schema."""

from llmportal.auth.models import AuthSession
from llmportal.billing.models import BillingCustomer, Invoice, Plan, StripeEvent, Subscription
from llmportal.db import Base
from llmportal.usage.models import UsageDaily, UsageRecord
from llmportal.users.models import User

__all__ = [
    "AuthSession",
    "Base",
    "BillingCustomer",
    "Invoice",
    "Plan",
    "StripeEvent",
    "Subscription",
    "UsageDaily",
    "UsageRecord",
    "User",
]
