"""Payment methods live in Stripe; an account (a user, an org) sees and changes only its own
customer's cards."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from llmportal.billing.accounts import Account, customer_id_of
from llmportal.billing.gateway import Billing, StripeNotFound
from llmportal.billing.subscriptions import ensure_customer, live_subscription
from llmportal.errors import PortalError, bad_request

if TYPE_CHECKING:
    from llmportal.billing.stripe_client import StripeGateway

NOT_FOUND = "Payment method not found"


def method_out(pm: dict[str, Any], default_id: str | None) -> dict[str, Any]:
    card = pm.get("card") or {}
    return {
        "id": pm["id"],
        "type": pm.get("type", "card"),
        "brand": card.get("brand"),
        "last4": card.get("last4"),
        "expMonth": card.get("exp_month"),
        "expYear": card.get("exp_year"),
        "isDefault": pm["id"] == default_id,
    }


def _check_id(pm_id: Any, field: str = "paymentMethodId") -> str:
    if not isinstance(pm_id, str) or not pm_id.strip():
        raise bad_request(f"{field} is required")
    if not pm_id.startswith("pm_") or len(pm_id) > 255:
        raise bad_request(f"{field}: must be a Stripe payment method id (pm_...)")
    return pm_id


async def list_methods(
    db: AsyncSession, billing: Billing, account: Account
) -> list[dict[str, Any]]:
    if billing.stripe is None:
        return []
    customer = await customer_id_of(db, account)
    if customer is None:
        return []
    methods = await billing.stripe.list_payment_methods(customer)
    default = await billing.stripe.default_payment_method(customer)
    return [method_out(pm, default) for pm in methods]


async def _owned(stripe: StripeGateway, customer: str | None, pm_id: str) -> dict[str, Any]:
    """The payment method if it belongs to this customer; anyone else's is 404."""
    if customer is None:
        raise PortalError(404, NOT_FOUND)
    try:
        pm = await stripe.retrieve_payment_method(pm_id)
    except StripeNotFound as exc:
        raise PortalError(404, NOT_FOUND) from exc
    owner = pm.get("customer")
    owner_id = owner.get("id") if isinstance(owner, dict) else owner
    if owner_id != customer:
        raise PortalError(404, NOT_FOUND)
    return pm


async def add_method(
    db: AsyncSession, billing: Billing, account: Account, pm_id: Any, make_default: bool
) -> dict[str, Any]:
    pm_id = _check_id(pm_id)
    stripe = billing.require_stripe()
    customer = await ensure_customer(db, billing, account)
    try:
        pm = await stripe.retrieve_payment_method(pm_id)
    except StripeNotFound as exc:
        raise PortalError(404, NOT_FOUND) from exc
    owner = pm.get("customer")
    owner_id = owner.get("id") if isinstance(owner, dict) else owner
    if owner_id and owner_id != customer:
        raise PortalError(404, NOT_FOUND)
    # Test ids such as pm_card_visa become a new object: attach by the id Stripe gave it.
    if owner_id != customer:
        pm = await stripe.attach_payment_method(pm["id"], customer)
    default = await stripe.default_payment_method(customer)
    if make_default or default is None:
        await stripe.set_default_payment_method(customer, pm["id"])
        default = pm["id"]
    return method_out(pm, default)


async def set_default(
    db: AsyncSession, billing: Billing, account: Account, pm_id: str
) -> dict[str, Any]:
    stripe = billing.require_stripe()
    customer = await customer_id_of(db, account)
    pm = await _owned(stripe, customer, pm_id)
    assert customer is not None
    await stripe.set_default_payment_method(customer, pm["id"])
    return method_out(pm, pm["id"])


async def remove_method(db: AsyncSession, billing: Billing, account: Account, pm_id: str) -> None:
    stripe = billing.require_stripe()
    customer = await customer_id_of(db, account)
    pm = await _owned(stripe, customer, pm_id)
    assert customer is not None
    others = [m for m in await stripe.list_payment_methods(customer) if m["id"] != pm["id"]]
    sub = await live_subscription(db, account)
    if not others and sub is not None and not sub.cancel_at_period_end:
        raise bad_request(
            "Cannot remove the only payment method of an active subscription; "
            "add another one or cancel the subscription first"
        )
    default = await stripe.default_payment_method(customer)
    await stripe.detach_payment_method(pm["id"])
    if default == pm["id"] and others:
        await stripe.set_default_payment_method(customer, others[0]["id"])


async def ensure_default(
    db: AsyncSession, billing: Billing, account: Account, customer: str
) -> None:
    """A paid subscription needs a card to charge: the default, else the first one on file."""
    stripe = billing.require_stripe()
    if await stripe.default_payment_method(customer):
        return
    methods = await stripe.list_payment_methods(customer)
    if not methods:
        raise PortalError(402, "Add a payment method before choosing a paid plan")
    await stripe.set_default_payment_method(customer, methods[0]["id"])
