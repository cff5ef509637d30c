"""Every table, imported in one place so Alembic and tests see the whole schema."""

from llmportal.auth.models import AuthSession
from llmportal.db import Base
from llmportal.keys.models import ApiKey
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User

__all__ = ["ApiKey", "AuthSession", "Base", "UsageRecord", "User"]
