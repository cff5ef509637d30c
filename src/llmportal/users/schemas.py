from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from llmportal.budgets.schemas import BudgetFields, BudgetOut
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.users.models import User


def iso(dt: datetime | None) -> str | None:
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ") if dt else None


def profile(user: User, budget: dict[str, Any]) -> dict[str, Any]:
    """`budget`: the budget fields with the spend (users.profile.profile_json adds them)."""
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
        **budget,
        "createdAt": iso(user.created_at),
    }


class Profile(BudgetOut, ResponseModel):
    id: str
    name: str | None
    email: str
    role: Literal["USER", "ADMIN"]
    status: Literal["ACTIVE", "SUSPENDED"]
    firstName: str | None
    lastName: str | None
    company: str | None
    phone: str | None
    timezone: str | None
    plan: str
    emailVerified: bool
    twoFactorEnabled: bool
    createdAt: Timestamp


class ProfilePatch(BudgetFields):
    """Fields a user may change; absent means unchanged, null or "" clears an optional field.
    The budget changes through a browser session only: a key must not lift its owner's cap."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    company: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=50)
    timezone: str | None = Field(default=None, max_length=64)
    first_name: str | None = Field(default=None, max_length=100, alias="firstName")
    last_name: str | None = Field(default=None, max_length=100, alias="lastName")


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    current_password: str = Field(alias="currentPassword", max_length=256)
    new_password: str = Field(alias="newPassword", max_length=256)
