"""Request bodies of the billing endpoints (responses are shaped in service.py)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChangePlanBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planId: str = Field(min_length=1, max_length=64)
    interval: str | None = None


class AddPaymentMethodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paymentMethodId: str = Field(min_length=1, max_length=255)
    setDefault: bool = False


class UpdatePaymentMethodBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    isDefault: bool
