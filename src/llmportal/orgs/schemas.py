"""Request bodies and response shapes of /api/orgs (camelCase)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from llmportal.budgets.schemas import BudgetFields, BudgetOut
from llmportal.keys.models import ApiKey
from llmportal.keys.schemas import KeyOut
from llmportal.model_allowlist import MODELS_MAX, normalize_models
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.orgs.models import Organization, OrgInvitation, OrgMember
from llmportal.users.models import User
from llmportal.users.schemas import iso

NAME_MAX = 100
Role = Literal["OWNER", "ADMIN", "MEMBER"]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class OrgName(Body):
    name: str = Field(max_length=NAME_MAX)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("must not be empty")
        # The name goes into email subjects and page titles.
        if any(ord(c) < 32 or ord(c) == 127 for c in v):
            raise ValueError("must not contain control characters")
        return v.strip()


class RoleIn(Body):
    role: Role


class InvitationIn(Body):
    email: str = Field(max_length=320)
    role: Role = "MEMBER"


class InvitationToken(Body):
    token: str = Field(min_length=1, max_length=200)


class OrgOut(ResponseModel):
    id: str
    name: str
    role: Role = Field(description="the caller's role in the org")
    memberCount: int
    createdAt: Timestamp
    updatedAt: Timestamp


class OrgList(ResponseModel):
    orgs: list[OrgOut]


class UserRef(ResponseModel):
    id: str
    name: str | None
    email: str


class MemberOut(ResponseModel):
    userId: str
    name: str | None
    email: str
    role: Role
    joinedAt: Timestamp


class MemberList(ResponseModel):
    members: list[MemberOut]


class InvitationOut(ResponseModel):
    id: str
    email: str
    role: Role
    status: Literal["PENDING", "ACCEPTED", "REVOKED", "EXPIRED"]
    invitedBy: UserRef | None
    createdAt: Timestamp
    expiresAt: Timestamp


class InvitationList(ResponseModel):
    invitations: list[InvitationOut]


class OrgKeyOut(KeyOut):
    orgId: str
    createdBy: UserRef | None = Field(description="the member who created the key")


class OrgKeyWithSecret(OrgKeyOut):
    """Create and regenerate: the only answers that show the secret."""

    key: str


class OrgKeyList(ResponseModel):
    keys: list[OrgKeyOut]


class UsageTotals(ResponseModel):
    requests: int
    tokens: int
    cost: float = Field(description="USD")
    errors: int


class MemberUsage(UsageTotals):
    userId: str
    name: str | None
    email: str | None = Field(description="null once the account is gone")


class KeyUsageShare(UsageTotals):
    keyId: str
    name: str | None = Field(description="null once the key is deleted")


class OrgUsage(ResponseModel):
    days: int
    totals: UsageTotals
    byMember: list[MemberUsage]
    byKey: list[KeyUsageShare]


class OrgRequest(ResponseModel):
    id: str
    createdAt: Timestamp
    keyId: str | None
    userId: str = Field(description="the member who created the key")
    model: str
    promptTokens: int
    completionTokens: int
    totalTokens: int
    cost: float = Field(description="USD")
    latencyMs: int
    status: Literal["success", "error"]
    httpStatus: int


class OrgRequests(ResponseModel):
    requests: list[OrgRequest]
    total: int
    limit: int
    offset: int


def user_ref(user: User | None) -> dict[str, Any] | None:
    return None if user is None else {"id": user.id, "name": user.name, "email": user.email}


def org_out(org: Organization, role: str, member_count: int) -> dict[str, Any]:
    return {
        "id": org.id,
        "name": org.name,
        "role": role,
        "memberCount": member_count,
        "createdAt": iso(org.created_at),
        "updatedAt": iso(org.updated_at),
    }


def member_out(member: OrgMember, user: User) -> dict[str, Any]:
    return {
        "userId": user.id,
        "name": user.name,
        "email": user.email,
        "role": member.role,
        "joinedAt": iso(member.created_at),
    }


def invitation_out(invitation: OrgInvitation, inviter: User | None) -> dict[str, Any]:
    return {
        "id": invitation.id,
        "email": invitation.email,
        "role": invitation.role,
        "status": invitation.status(),
        "invitedBy": user_ref(inviter),
        "createdAt": iso(invitation.created_at),
        "expiresAt": iso(invitation.expires_at),
    }


def org_key_fields(key: ApiKey, creator: User | None) -> dict[str, Any]:
    """What an org key's JSON has besides a personal key's (keys/views.py)."""
    return {"orgId": key.org_id, "createdBy": user_ref(creator)}


class OrgLimits(BudgetFields):
    """The org's budget and model allow-list; absent fields stay as they are."""

    model_config = ConfigDict(extra="ignore")

    models: list[str] | None = Field(
        default=None,
        max_length=MODELS_MAX,
        description="model ids or glob patterns every org key is held to; null: every model",
    )

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str] | None) -> list[str] | None:
        return normalize_models(v) if v is not None else None


class OrgLimitsOut(BudgetOut):
    models: list[str] | None = Field(description="null: every model")
