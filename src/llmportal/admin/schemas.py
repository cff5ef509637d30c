from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmportal.admin.models import AuditEntry
from llmportal.users.models import User
from llmportal.users.schemas import iso, profile


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ACTIVE", "SUSPENDED"] | None = None
    role: Literal["USER", "ADMIN"] | None = None
    plan: str | None = Field(default=None, min_length=1, max_length=32)


def admin_user(user: User) -> dict[str, Any]:
    return {**profile(user), "updatedAt": iso(user.updated_at)}


def audit_entry(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "createdAt": iso(entry.created_at),
        "actorId": entry.actor_id,
        "actorEmail": entry.actor_email,
        "action": entry.action,
        "targetType": entry.target_type,
        "targetId": entry.target_id,
        "details": entry.details or {},
        "ip": entry.ip,
    }
