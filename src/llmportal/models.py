"""Every table, imported in one place so Alembic and tests see the whole schema."""

# ruff: noqa: F401
from llmportal.admin.models import AuditEntry
from llmportal.auth.models import AuthSession, AuthToken, BackupCode
from llmportal.billing.models import (
    BillingCustomer,
    Invoice,
    OrgBillingCustomer,
    Plan,
    StripeEvent,
    Subscription,
)
from llmportal.budgets.models import BudgetAlert
from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.chat.models import ChatAttachment, ChatMessage, ChatSession
from llmportal.db import Base
from llmportal.files.models import StoredFile
from llmportal.keys.models import ApiKey
from llmportal.library.models import Collection, CollectionItem, ContentItem
from llmportal.orgs.models import Organization, OrgInvitation, OrgMember
from llmportal.usage.models import UsageDaily, UsageRecord
from llmportal.users.models import User
