"""Request bodies and response shapes of /api/keys (camelCase, as the API reference writes them)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from llmportal.budgets.schemas import BudgetFields, BudgetOut
from llmportal.deps import PERMISSIONS
from llmportal.keys.models import ApiKey
from llmportal.model_allowlist import MODELS_MAX, normalize_models
from llmportal.openapi import ResponseModel, Timestamp
from llmportal.usage.schemas import UsageDay
from llmportal.users.schemas import iso

NAME_MAX = 100
DESCRIPTION_MAX = 1000
REASON_MAX = 500
WHITELIST_MAX = 100
EXPIRES_MAX_DAYS = 3650
TOKEN_LIMIT_MAX = 10**15
RPM_LIMIT_MAX = 1_000_000


def normalize_networks(entries: list[str]) -> list[str]:
    """Addresses and CIDRs, normalised ('203.0.113.7/24' -> '203.0.113.0/24'); names a bad one."""
    out: list[str] = []
    for raw in entries:
        entry = raw.strip() if isinstance(raw, str) else ""
        try:
            net = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"'{raw}' is not an IP address or CIDR") from None
        text = str(net.network_address) if net.num_addresses == 1 else str(net)
        if text not in out:
            out.append(text)
    return out


def normalize_permissions(perms: list[str]) -> list[str]:
    out: list[str] = []
    for p in perms:
        if p not in PERMISSIONS:
            raise ValueError(f"unknown permission '{p}' (known: {', '.join(PERMISSIONS)})")
        if p not in out:
            out.append(p)
    return out


TokenLimit = Field(default=None, ge=0, le=TOKEN_LIMIT_MAX, strict=True)


class KeyFields(BudgetFields):
    """Fields shared by create and update. A token limit of 0 means no limit, like null."""

    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=NAME_MAX)
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX)
    permissions: list[str] | None = Field(default=None, max_length=len(PERMISSIONS) * 4)
    ipWhitelist: list[str] | None = Field(default=None, max_length=WHITELIST_MAX)
    models: list[str] | None = Field(default=None, max_length=MODELS_MAX)
    dailyLimit: int | None = TokenLimit
    monthlyLimit: int | None = TokenLimit
    rpmLimit: int | None = Field(default=None, ge=0, le=RPM_LIMIT_MAX, strict=True)
    expiresInDays: int | None = Field(default=None, ge=1, le=EXPIRES_MAX_DAYS, strict=True)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("must not be empty")
        return v.strip() if v is not None else None

    @field_validator("description")
    @classmethod
    def _description(cls, v: str | None) -> str | None:
        return (v.strip() or None) if v is not None else None

    @field_validator("permissions")
    @classmethod
    def _permissions(cls, v: list[str] | None) -> list[str] | None:
        return normalize_permissions(v) if v is not None else None

    @field_validator("ipWhitelist")
    @classmethod
    def _whitelist(cls, v: list[str] | None) -> list[str] | None:
        return normalize_networks(v) if v is not None else None

    @field_validator("models")
    @classmethod
    def _models(cls, v: list[str] | None) -> list[str] | None:
        return normalize_models(v) if v is not None else None

    @field_validator("dailyLimit", "monthlyLimit", "rpmLimit")
    @classmethod
    def _zero_is_unlimited(cls, v: int | None) -> int | None:
        return v or None


class KeyCreate(KeyFields):
    name: str = Field(max_length=NAME_MAX)


class KeyUpdate(KeyFields):
    @model_validator(mode="after")
    def _name_not_null(self) -> KeyUpdate:
        if "name" in self.model_fields_set and self.name is None:
            raise ValueError("name: must not be empty")
        return self


class KeyRevoke(BaseModel):
    model_config = ConfigDict(extra="ignore")

    reason: str | None = Field(default=None, max_length=REASON_MAX)


class KeyOut(BudgetOut, ResponseModel):
    id: str
    name: str
    description: str | None
    prefix: str = Field(description="the first characters of the secret, then an ellipsis")
    status: Literal["ACTIVE", "REVOKED", "EXPIRED"]
    tier: str
    permissions: list[str] | None = Field(description="null: every permission")
    ipWhitelist: list[str]
    models: list[str] | None = Field(
        description="null: every model; otherwise the model ids and fnmatch-style patterns "
        "(`gpt-4o*`, `local/*`) this key may use"
    )
    dailyLimit: int | None
    monthlyLimit: int | None
    rpmLimit: int | None
    expiresAt: Timestamp | None
    lastUsedAt: Timestamp | None
    revokedAt: Timestamp | None
    revokedReason: str | None
    createdAt: Timestamp
    updatedAt: Timestamp


class KeyWithSecret(KeyOut):
    """Create and regenerate: the only answers that show the secret."""

    key: str


class KeyList(ResponseModel):
    keys: list[KeyOut]


class KeyTotals(ResponseModel):
    id: str
    name: str
    totalTokensUsed: int


class KeyStats(ResponseModel):
    totalRequests: int
    totalTokens: int
    avgResponseTime: int = Field(description="milliseconds")


class KeyUsage(ResponseModel):
    apiKey: KeyTotals
    dailyUsage: list[UsageDay]
    stats: KeyStats


class KeyRequestDay(UsageDay):
    promptTokens: int
    completionTokens: int
    avgResponseTime: int = Field(description="milliseconds")


class KeyRequests(ResponseModel):
    requests: list[KeyRequestDay]
    limit: int


def key_out(
    key: ApiKey, budget: dict[str, Any], *, last_used_at: datetime | None = None
) -> dict[str, Any]:
    """`budget`: the budget fields with the spend (budgets.service.budget_json)."""
    return {
        "id": key.id,
        "name": key.name,
        "description": key.description,
        "prefix": key.prefix + "…",
        "status": key.effective_status(),
        "tier": key.tier,
        "permissions": key.permissions,
        "ipWhitelist": key.ip_whitelist or [],
        "models": key.models,
        "dailyLimit": key.daily_limit,
        "monthlyLimit": key.monthly_limit,
        "rpmLimit": key.rpm_limit,
        **budget,
        "expiresAt": iso(key.expires_at),
        "lastUsedAt": iso(last_used_at or key.last_used_at),
        "revokedAt": iso(key.revoked_at),
        "revokedReason": key.revoked_reason,
        "createdAt": iso(key.created_at),
        "updatedAt": iso(key.updated_at),
    }
