"""Every table, imported in one place so Alembic and tests see the whole schema."""

from llmportal.auth.models import AuthSession
from llmportal.canvas.models import CanvasDocument, CanvasVersion
from llmportal.db import Base
from llmportal.library.models import Collection, CollectionItem, ContentItem
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User

__all__ = [
    "AuthSession",
    "Base",
    "CanvasDocument",
    "CanvasVersion",
    "Collection",
    "CollectionItem",
    "ContentItem",
    "UsageRecord",
    "User",
]
