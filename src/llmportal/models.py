"""Every table, imported in one place so Alembic and tests see the whole schema."""

from llmportal.auth.models import AuthSession, AuthToken, BackupCode
from llmportal.db import Base
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User

__all__ = ["AuthSession", "AuthToken", "BackupCode", "Base", "UsageRecord", "User"]
