from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, ConfigDict, Field

from llmportal.admin.models import AuditEntry
from llmportal.budgets.schemas import BudgetFields
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.users.models import User
from llmportal.users.schemas import Profile, iso, profile


class UserPatch(BudgetFields):
    model_config = ConfigDict(extra="forbid")

    status: Literal["ACTIVE", "SUSPENDED"] | None = None
    role: Literal["USER", "ADMIN"] | None = None
    plan: str | None = Field(default=None, min_length=1, max_length=32)


class AdminUser(Profile):
    updatedAt: Timestamp


class UserList(ResponseModel):
    users: list[AdminUser]
    total: int
    page: int
    limit: int


class UserAnswer(ResponseModel):
    user: AdminUser


class TwoFactorReset(UserAnswer):
    success: Literal[True]


class ProviderHealth(ResponseModel):
    status: Literal["ok", "error", "idle"]
    checkedAt: Timestamp
    latencyMs: int | MISSING = MISSING
    error: str | MISSING = MISSING


class AdminModel(ResponseModel):
    id: str
    provider: str
    providerType: str
    upstreamModel: str
    ownedBy: str
    default: bool
    health: ProviderHealth


class AdminModelList(ResponseModel):
    models: list[AdminModel]


class DeploymentOut(ResponseModel):
    id: str
    provider: str
    upstreamModel: str
    weight: float
    rpm: int | None
    tpm: int | None
    inFlight: int = Field(description="requests under way in this instance")
    latencyMs: float | None = Field(
        description="moving average of the time to the answer or first event, this instance"
    )
    requests: int = Field(description="attempts finished in this instance since start")
    failures: int
    errorRate: float = Field(description="failed share of this instance's last 100 attempts")
    coolingDown: bool = Field(description="skipped after a failure, by every instance")
    cooldownRemainingS: float


class ModelDeployments(ResponseModel):
    id: str
    routing: str
    cooldownS: float
    deployments: list[DeploymentOut]


class DeploymentList(ResponseModel):
    models: list[ModelDeployments]


class ModelsReloaded(ResponseModel):
    success: Literal[True]
    models: list[str]
    otherProcessesNotified: int = Field(description="processes told through Redis (0 without)")


class AuditEntryOut(ResponseModel):
    id: str
    createdAt: Timestamp
    actorId: str | None
    actorEmail: str
    action: str
    targetType: str | None
    targetId: str | None
    details: dict[str, Any]
    ip: str | None


class AuditList(ResponseModel):
    entries: list[AuditEntryOut]
    total: int
    limit: int
    offset: int


def admin_user(user: User, budget: dict[str, Any]) -> dict[str, Any]:
    return {**profile(user, budget), "updatedAt": iso(user.updated_at)}


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
