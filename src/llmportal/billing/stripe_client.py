"""The one module that imports `stripe`: every Stripe call goes through StripeGateway.

Results come back as plain dicts, and Stripe errors as PortalError (402 for a declined card, 502
when Stripe cannot be reached) or StripeNotFound, so the rest of billing never sees the SDK.

Prices: each paid plan and interval is a Stripe Plan object (plans and prices share one id space,
so a subscription item takes it as `plan` or `price`) with a deterministic id such as
`llmportal_PRO_month_2900`: looked up by id, created when missing. A changed price gives a new
id, so subscribers on the old price keep it until they change plan.
"""

from __future__ import annotations

import json
import logging
from typing import Any, cast

import stripe

from llmportal.billing.gateway import StripeNotFound
from llmportal.errors import PortalError

log = logging.getLogger("llmportal.billing")

SignatureError = stripe.SignatureVerificationError
# Requests happen inside a user's request (and at start-up): fail in seconds, not Stripe's 80.
REQUEST_TIMEOUT_S = 20.0


def _plain(obj: Any) -> dict[str, Any]:
    return cast(dict[str, Any], obj.to_dict())


class _HTTPXClient(stripe.HTTPXClient):
    """Sends the encoded form as `content=`: httpx deprecates raw text under `data=`."""

    def _get_request_args_kwargs(self, *args: Any, **kwargs: Any) -> Any:
        call_args, call_kwargs = super()._get_request_args_kwargs(*args, **kwargs)
        call_kwargs["content"] = call_kwargs.pop("data", None) or None
        return call_args, call_kwargs


def price_id(tier: str, interval: str, amount: int) -> str:
    return f"llmportal_{tier}_{interval}_{amount}"


class StripeGateway:
    def __init__(self, secret_key: str, api_base: str | None = None) -> None:
        self._http = _HTTPXClient(timeout=REQUEST_TIMEOUT_S)
        base = {"api": api_base.rstrip("/")} if api_base else None
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=cast(Any, base),
            http_client=self._http,
            max_network_retries=1,
        )

    async def close(self) -> None:
        await self._http.close_async()

    async def _call(self, coro: Any) -> dict[str, Any]:
        try:
            return _plain(await coro)
        except stripe.CardError as exc:
            raise PortalError(402, exc.user_message or "Your card was declined") from exc
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                raise StripeNotFound(str(exc)) from exc
            log.warning("stripe rejected a request: %s", exc)
            raise PortalError(502, "The payment provider rejected the request") from exc
        except stripe.StripeError as exc:
            log.warning("stripe error: %s", exc)
            raise PortalError(502, "The payment provider is unavailable") from exc

    # Catalog ----------------------------------------------------------------------------

    async def ensure_price(self, *, tier: str, name: str, interval: str, amount: int) -> str:
        v1 = self._client.v1
        product_id = f"llmportal_{tier}"
        try:
            await self._call(v1.products.retrieve_async(product_id))
        except StripeNotFound:
            params: Any = {"id": product_id, "name": f"LLM Portal {name}"}
            await self._call(v1.products.create_async(params))
        plan_id = price_id(tier, interval, amount)
        try:
            await self._call(v1.plans.retrieve_async(plan_id))
        except StripeNotFound:
            params = {
                "id": plan_id,
                "product": product_id,
                "amount": amount,
                "currency": "usd",
                "interval": interval,
                "metadata": {"tier": tier, "interval": interval},
            }
            await self._call(v1.plans.create_async(params))
        return plan_id

    # Customers and payment methods ---------------------------------------------------------

    async def create_customer(
        self, *, metadata: dict[str, str], email: str | None, name: str | None
    ) -> str:
        params: Any = {"metadata": metadata}
        if email:
            params["email"] = email
        if name:
            params["name"] = name
        customer = await self._call(self._client.v1.customers.create_async(params))
        return str(customer["id"])

    async def default_payment_method(self, customer_id: str) -> str | None:
        customer = await self._call(self._client.v1.customers.retrieve_async(customer_id))
        settings = customer.get("invoice_settings") or {}
        default = settings.get("default_payment_method")
        if isinstance(default, dict):
            default = default.get("id")
        return cast(str | None, default)

    async def set_default_payment_method(self, customer_id: str, pm_id: str) -> None:
        params: Any = {"invoice_settings": {"default_payment_method": pm_id}}
        await self._call(self._client.v1.customers.update_async(customer_id, params))

    async def list_payment_methods(self, customer_id: str) -> list[dict[str, Any]]:
        params: Any = {"customer": customer_id, "type": "card", "limit": 100}
        page = await self._call(self._client.v1.payment_methods.list_async(params))
        return list(page.get("data") or [])

    async def retrieve_payment_method(self, pm_id: str) -> dict[str, Any]:
        return await self._call(self._client.v1.payment_methods.retrieve_async(pm_id))

    async def attach_payment_method(self, pm_id: str, customer_id: str) -> dict[str, Any]:
        params: Any = {"customer": customer_id}
        return await self._call(self._client.v1.payment_methods.attach_async(pm_id, params))

    async def detach_payment_method(self, pm_id: str) -> None:
        await self._call(self._client.v1.payment_methods.detach_async(pm_id))

    # Subscriptions and invoices ---------------------------------------------------------

    async def create_subscription(
        self, *, customer_id: str, price: str, metadata: dict[str, str]
    ) -> dict[str, Any]:
        params: Any = {
            "customer": customer_id,
            "items": [{"plan": price}],
            "metadata": metadata,
            # A declined first payment fails the call instead of leaving an incomplete subscription.
            "payment_behavior": "error_if_incomplete",
        }
        return await self._call(self._client.v1.subscriptions.create_async(params))

    async def retrieve_subscription(self, subscription_id: str) -> dict[str, Any]:
        return await self._call(self._client.v1.subscriptions.retrieve_async(subscription_id))

    async def change_subscription_price(
        self, subscription_id: str, *, item_id: str, price: str, metadata: dict[str, str]
    ) -> dict[str, Any]:
        params: Any = {
            "items": [{"id": item_id, "plan": price}],
            "cancel_at_period_end": False,
            "metadata": metadata,
        }
        return await self._call(self._client.v1.subscriptions.update_async(subscription_id, params))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> dict[str, Any]:
        params: Any = {"cancel_at_period_end": cancel}
        return await self._call(self._client.v1.subscriptions.update_async(subscription_id, params))

    async def preview_invoice(
        self,
        *,
        customer_id: str,
        price: str,
        subscription_id: str | None = None,
        item_id: str | None = None,
        proration_date: int | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"plan": price}
        if item_id:
            item["id"] = item_id
        details: dict[str, Any] = {"items": [item]}
        if proration_date is not None:
            details["proration_date"] = proration_date
        params: Any = {"customer": customer_id, "subscription_details": details}
        if subscription_id:
            params["subscription"] = subscription_id
        return await self._call(self._client.v1.invoices.create_preview_async(params))

    async def list_invoices(self, customer_id: str, limit: int = 100) -> list[dict[str, Any]]:
        params: Any = {"customer": customer_id, "limit": limit}
        page = await self._call(self._client.v1.invoices.list_async(params))
        return list(page.get("data") or [])


def construct_event(payload: bytes, signature: str | None, secret: str) -> dict[str, Any]:
    """Verify a webhook's Stripe-Signature, then parse it; raises SignatureError or ValueError."""
    text = payload.decode("utf-8")
    stripe.WebhookSignature.verify_header(
        text, signature or "", secret, stripe.Webhook.DEFAULT_TOLERANCE
    )
    event = json.loads(text)
    if not isinstance(event, dict):
        raise ValueError("a webhook event is a JSON object")
    return event
