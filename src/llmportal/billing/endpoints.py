"""Billing: overview, plans, plan changes, invoices, payment methods, the Stripe webhook.

Reads accept a session or an API key; changes (POST/PATCH/DELETE) need a browser session.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from llmportal.billing import payment_methods, service, webhooks
from llmportal.billing.accounts import user_account
from llmportal.billing.gateway import Billing
from llmportal.billing.plans import active_plans, sync_plans
from llmportal.billing.schemas import (
    WEBHOOK_DOC,
    AddPaymentMethodBody,
    ChangePlanBody,
    ChangePreview,
    InvoiceList,
    Overview,
    PaymentMethodAnswer,
    PaymentMethodList,
    PlanList,
    SubscriptionAnswer,
    UpdatePaymentMethodBody,
    WebhookReceived,
)
from llmportal.db import transaction
from llmportal.deps import BrowserPrincipal, CurrentUser, DbSession, PortalDep
from llmportal.errors import PortalError, bad_request
from llmportal.jsonio import FastJSONResponse
from llmportal.openapi import Success, errors
from llmportal.portal import Portal

router = APIRouter(prefix="/api/billing", tags=["billing"])


def get_billing(portal: PortalDep) -> Billing:
    billing: Billing = portal.services["billing"]
    return billing


BillingDep = Annotated[Billing, Depends(get_billing)]

# Calls to Stripe: a plan or card that is not there, Stripe failing, billing not configured.
STRIPE_ERRORS = errors(404, 502, 503)


async def startup(portal: Portal) -> None:
    billing = Billing(portal.settings)
    portal.services["billing"] = billing
    async with transaction(portal.sessionmaker) as db:
        await sync_plans(db, portal.settings.catalog.plans)
        plans = await active_plans(db)
    await billing.sync_prices(plans)


async def shutdown(portal: Portal) -> None:
    billing: Billing | None = portal.services.pop("billing", None)
    if billing is not None:
        await billing.close()


@router.get("", response_model=Overview)
async def billing_overview(user: CurrentUser, db: DbSession, billing: BillingDep) -> dict[str, Any]:
    return await service.overview(db, billing, user_account(user))


@router.get("/plans", response_model=PlanList)
async def list_plans(user: CurrentUser, db: DbSession) -> dict[str, Any]:
    return await service.list_plans(db, user)


@router.get("/change-plan", response_model=ChangePreview, responses=STRIPE_ERRORS)
async def preview_change_plan(
    user: CurrentUser,
    db: DbSession,
    billing: BillingDep,
    plan_id: Annotated[str | None, Query(alias="planId")] = None,
    interval: str | None = None,
) -> dict[str, Any]:
    return await service.preview_change(db, billing, user_account(user), plan_id, interval)


@router.post(
    "/change-plan", response_model=SubscriptionAnswer, responses={**STRIPE_ERRORS, **errors(402)}
)
async def change_plan(
    body: ChangePlanBody, principal: BrowserPrincipal, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    account = user_account(principal.user)
    return await service.change_plan(db, billing, account, body.planId, body.interval)


@router.post(
    "/cancel", response_model=SubscriptionAnswer, responses={**STRIPE_ERRORS, **errors(400)}
)
async def cancel_subscription(
    principal: BrowserPrincipal, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    return await service.cancel(db, billing, user_account(principal.user))


@router.get("/invoices", response_model=InvoiceList)
async def list_invoices(
    user: CurrentUser, db: DbSession, limit: str = "20", offset: str = "0"
) -> dict[str, Any]:
    return await service.list_invoices(db, user_account(user), *page_params(limit, offset))


def page_params(limit: str, offset: str) -> tuple[int, int]:
    return _int_param("limit", limit, 1, 100), _int_param("offset", offset, 0, 10**9)


def _int_param(name: str, raw: str, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError as exc:
        raise bad_request(f"{name}: must be an integer") from exc
    if not low <= value <= high:
        raise bad_request(f"{name}: must be between {low} and {high}")
    return value


@router.get("/payment-methods", response_model=PaymentMethodList, responses=errors(502))
async def list_payment_methods(
    user: CurrentUser, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    return {"paymentMethods": await payment_methods.list_methods(db, billing, user_account(user))}


@router.post(
    "/payment-methods",
    status_code=201,
    response_model=PaymentMethodAnswer,
    responses=STRIPE_ERRORS,
)
async def add_payment_method(
    body: AddPaymentMethodBody, principal: BrowserPrincipal, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    method = await payment_methods.add_method(
        db, billing, user_account(principal.user), body.paymentMethodId, body.setDefault
    )
    return {"paymentMethod": method}


@router.patch(
    "/payment-methods/{pm_id}", response_model=PaymentMethodAnswer, responses=STRIPE_ERRORS
)
async def update_payment_method(
    pm_id: str,
    body: UpdatePaymentMethodBody,
    principal: BrowserPrincipal,
    db: DbSession,
    billing: BillingDep,
) -> dict[str, Any]:
    if not body.isDefault:
        raise bad_request("isDefault: only true is supported; make another method the default")
    method = await payment_methods.set_default(db, billing, user_account(principal.user), pm_id)
    return {"paymentMethod": method}


@router.delete("/payment-methods/{pm_id}", response_model=Success, responses=STRIPE_ERRORS)
async def delete_payment_method(
    pm_id: str, principal: BrowserPrincipal, db: DbSession, billing: BillingDep
) -> dict[str, Any]:
    await payment_methods.remove_method(db, billing, user_account(principal.user), pm_id)
    return {"success": True}


@router.post(
    "/webhook",
    response_model=WebhookReceived,
    responses=errors(413),
    openapi_extra=WEBHOOK_DOC,
)
async def stripe_webhook(request: Request, db: DbSession, billing: BillingDep) -> FastJSONResponse:
    payload = await request.body()
    if len(payload) > 1024 * 1024:
        raise PortalError(413, "Webhook payload too large")
    event = webhooks.verify(billing, payload, request.headers.get("stripe-signature"))
    applied = await webhooks.handle(db, billing, event)
    return FastJSONResponse({"received": True, "duplicate": not applied})
