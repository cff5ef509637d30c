"""Request and response bodies of the billing endpoints (responses are built in service.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import MISSING, BaseModel, ConfigDict, Field

from llmportal.openapi import Day, ResponseModel, Timestamp


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


class PlanName(ResponseModel):
    name: str
    tier: str


class Period(ResponseModel):
    start: Day | None
    end: Day | None


class SubscriptionOut(ResponseModel):
    """A Stripe subscription; for a user without one (id null), their tier over the month."""

    id: str | None
    status: str
    plan: PlanName
    interval: Literal["month", "year"] | None
    currentPeriod: Period
    cancelAtPeriodEnd: bool


class SubscriptionAnswer(ResponseModel):
    subscription: SubscriptionOut


class TokenUsage(ResponseModel):
    tokensUsed: int
    tokensLimit: int | None = Field(description="null: unlimited")
    percentUsed: float | None


class PaymentMethodOut(ResponseModel):
    id: str
    type: str
    brand: str | None
    last4: str | None
    expMonth: int | None
    expYear: int | None
    isDefault: bool


class PaymentMethodList(ResponseModel):
    paymentMethods: list[PaymentMethodOut]


class PaymentMethodAnswer(ResponseModel):
    paymentMethod: PaymentMethodOut


class InvoiceOut(ResponseModel):
    id: str
    number: str | None
    status: str
    amountDue: int = Field(description="cents")
    amountPaid: int = Field(description="cents")
    currency: str
    periodStart: Day | None
    periodEnd: Day | None
    hostedInvoiceUrl: str | None
    invoicePdf: str | None
    createdAt: Timestamp


class InvoiceList(ResponseModel):
    invoices: list[InvoiceOut]
    total: int
    limit: int
    offset: int


class Overview(ResponseModel):
    subscription: SubscriptionOut
    usage: TokenUsage
    paymentMethods: list[PaymentMethodOut]
    recentInvoices: list[InvoiceOut]


class PlanFeatures(ResponseModel):
    tokens: str
    apiKeys: int
    storage: str
    support: str | MISSING = MISSING


class PlanOut(ResponseModel):
    id: str
    name: str
    tier: str
    monthlyPrice: int = Field(description="cents")
    yearlyPrice: int | MISSING = Field(default=MISSING, description="cents")
    features: PlanFeatures


class FeatureRow(ResponseModel):
    name: str
    values: dict[str, str] = Field(description="plan tier -> what the plan gives")


class PlanList(ResponseModel):
    plans: list[PlanOut]
    currentPlanId: str | None
    features: list[FeatureRow]


class PlanRef(ResponseModel):
    id: str | None
    name: str
    tier: str
    interval: Literal["month", "year"] | None


class PreviewLine(ResponseModel):
    description: str | None
    amount: int = Field(description="cents")
    proration: bool


class ChangePreview(ResponseModel):
    currentPlan: PlanRef
    newPlan: PlanRef
    currency: str
    amountDue: int = Field(description="cents")
    prorationAmount: int = Field(description="cents")
    effectiveDate: Day | None
    lines: list[PreviewLine]


class WebhookReceived(ResponseModel):
    received: Literal[True]
    duplicate: bool = Field(description="true: this event id was already processed")


# The webhook reads its body itself: Stripe signs the exact bytes.
WEBHOOK_DOC: dict[str, Any] = {
    "parameters": [
        {
            "name": "Stripe-Signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
            "description": "Stripe's signature of the payload (whsec_ secret)",
        }
    ],
    "requestBody": {
        "required": True,
        "description": "A Stripe event, as Stripe sends it",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["id", "type", "data"],
                    "properties": {
                        "id": {"type": "string"},
                        "type": {"type": "string"},
                        "created": {"type": "integer"},
                        "data": {
                            "type": "object",
                            "properties": {"object": {"type": "object"}},
                        },
                    },
                }
            }
        },
    },
}
