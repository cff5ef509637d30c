"""Every table, imported in one place so Alembic and tests see the whole schema."""

from llmportal.auth.models import AuthSession
from llmportal.chat.models import ChatAttachment, ChatMessage, ChatSession
from llmportal.db import Base
from llmportal.files.models import StoredFile
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User

__all__ = [
    "AuthSession",
    "Base",
    "ChatAttachment",
    "ChatMessage",
    "ChatSession",
    "StoredFile",
    "UsageRecord",
    "User",
]
