"""/api/orgs/{org_id}/billing: an organization's plan, billed to its own Stripe customer.

The routes of /api/billing for the org's account: every member reads (overview, preview,
invoices, payment methods); only an OWNER changes the plan, cancels or manages payment methods.
Browser sessions only, like every org route; non-members get 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from llmportal.billing import payment_methods, service
from llmportal.billing.accounts import Account, org_account
from llmportal.billing.endpoints import STRIPE_ERRORS, BillingDep, page_params
from llmportal.billing.schemas import (
    AddPaymentMethodBody,
    ChangePlanBody,
    ChangePreview,
    InvoiceList,
    Overview,
    PaymentMethodAnswer,
    PaymentMethodList,
    SubscriptionAnswer,
    UpdatePaymentMethodBody,
)
from llmportal.deps import DbSession
from llmportal.errors import bad_request
from llmportal.openapi import Success, errors
from llmportal.orgs.deps import OrgMembership
from llmportal.orgs.service import Membership, require_role

router = APIRouter(prefix="/api/orgs/{org_id}/billing", tags=["orgs"])


def _account(mine: Membership) -> Account:
    return org_account(mine.org)


def _owner(mine: Membership) -> Account:
    require_role(mine, "OWNER")
    return _account(mine)


@router.get("", response_model=Overview)
async def org_billing_overview(
    mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    """The org's subscription, its keys' tokens this month against its plan, its payment
    methods and latest invoices."""
    return await service.overview(db, billing, _account(mine))


@router.get("/change-plan", response_model=ChangePreview, responses=STRIPE_ERRORS)
async def preview_org_change_plan(
    mine: OrgMembership,
    db: DbSession,
    billing: BillingDep,
    plan_id: Annotated[str | None, Query(alias="planId")] = None,
    interval: str | None = None,
) -> dict[str, Any]:
    return await service.preview_change(db, billing, _account(mine), plan_id, interval)


@router.post(
    "/change-plan", response_model=SubscriptionAnswer, responses={**STRIPE_ERRORS, **errors(402)}
)
async def change_org_plan(
    body: ChangePlanBody, mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    """Owners only; a paid plan needs a payment method on the org's customer (402 without)."""
    return await service.change_plan(db, billing, _owner(mine), body.planId, body.interval)


@router.post(
    "/cancel", response_model=SubscriptionAnswer, responses={**STRIPE_ERRORS, **errors(400)}
)
async def cancel_org_subscription(
    mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    return await service.cancel(db, billing, _owner(mine))


@router.get("/invoices", response_model=InvoiceList)
async def list_org_invoices(
    mine: OrgMembership, db: DbSession, limit: str = "20", offset: str = "0"
) -> dict[str, Any]:
    return await service.list_invoices(db, _account(mine), *page_params(limit, offset))


@router.get("/payment-methods", response_model=PaymentMethodList, responses=errors(502))
async def list_org_payment_methods(
    mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    return {"paymentMethods": await payment_methods.list_methods(db, billing, _account(mine))}


@router.post(
    "/payment-methods",
    status_code=201,
    response_model=PaymentMethodAnswer,
    responses=STRIPE_ERRORS,
)
async def add_org_payment_method(
    body: AddPaymentMethodBody, mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    method = await payment_methods.add_method(
        db, billing, _owner(mine), body.paymentMethodId, body.setDefault
    )
    return {"paymentMethod": method}


@router.patch(
    "/payment-methods/{pm_id}", response_model=PaymentMethodAnswer, responses=STRIPE_ERRORS
)
async def update_org_payment_method(
    pm_id: str,
    body: UpdatePaymentMethodBody,
    mine: OrgMembership,
    db: DbSession,
    billing: BillingDep,
) -> dict[str, Any]:
    account = _owner(mine)
    if not body.isDefault:
        raise bad_request("isDefault: only true is supported; make another method the default")
    return {"paymentMethod": await payment_methods.set_default(db, billing, account, pm_id)}


@router.delete("/payment-methods/{pm_id}", response_model=Success, responses=STRIPE_ERRORS)
async def delete_org_payment_method(
    pm_id: str, mine: OrgMembership, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    await payment_methods.remove_method(db, billing, _owner(mine), pm_id)
    return {"success": True}
