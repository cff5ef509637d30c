from __future__ import annotations

from datetime import datetime
from typing import Any

from llmportal.users.models import User


def iso(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def profile(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "status": user.status,
        "firstName": user.first_name,
        "lastName": user.last_name,
        "company": user.company,
        "phone": user.phone,
        "timezone": user.timezone,
        "plan": user.plan_tier,
        "emailVerified": user.email_verified,
        "twoFactorEnabled": user.totp_enabled,
        "createdAt": iso(user.created_at),
    }
