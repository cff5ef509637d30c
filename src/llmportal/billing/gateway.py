"""The billing service object kept in portal.services["billing"]: Stripe (if configured) and
the map between plans and their Stripe prices.

The Stripe SDK (and the HTTP libraries it pulls in, ~11 MB per process) is imported only when
Stripe is configured: stripe_client is imported here lazily.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmportal.billing.models import Plan
from llmportal.billing.plans import INTERVALS, price_of
from llmportal.config import Settings
from llmportal.errors import PortalError

log = logging.getLogger("llmportal.billing")

if TYPE_CHECKING:
    from llmportal.billing.stripe_client import StripeGateway

NOT_CONFIGURED = "Billing is not configured"


class StripeNotFound(Exception):
    """Stripe answered 404 for the object asked for."""


class Billing:
    def __init__(self, settings: Settings) -> None:
        self.stripe: StripeGateway | None = None
        if settings.stripe_secret_key:
            from llmportal.billing.stripe_client import StripeGateway

            self.stripe = StripeGateway(settings.stripe_secret_key, settings.stripe_api_base)
        self.webhook_secret = settings.stripe_webhook_secret
        self._prices: dict[tuple[str, str], str] = {}  # (tier, interval) -> Stripe price id
        self._tiers: dict[str, tuple[str, str]] = {}  # Stripe price id -> (tier, interval)

    async def close(self) -> None:
        if self.stripe is not None:
            await self.stripe.close()

    def require_stripe(self) -> StripeGateway:
        if self.stripe is None:
            raise PortalError(503, NOT_CONFIGURED)
        return self.stripe

    async def sync_prices(self, plans: Sequence[Plan]) -> None:
        """Create or look up the Stripe price of every paid plan; a failure is retried later."""
        if self.stripe is None:
            return
        for plan in plans:
            for interval in INTERVALS:
                try:
                    await self.price_for(plan, interval)
                except PortalError as exc:
                    log.warning("stripe price for %s/%s not ready: %s", plan.tier, interval, exc)

    async def price_for(self, plan: Plan, interval: str) -> str | None:
        amount = price_of(plan, interval)
        if not amount:
            return None
        known = self._prices.get((plan.tier, interval))
        if known is not None and known.endswith(f"_{amount}"):
            return known
        stripe = self.require_stripe()
        pid = await stripe.ensure_price(
            tier=plan.tier, name=plan.name, interval=interval, amount=amount
        )
        self._prices[(plan.tier, interval)] = pid
        self._tiers[pid] = (plan.tier, interval)
        return pid

    def tier_of(self, price: dict[str, Any] | None) -> tuple[str, str] | None:
        """(tier, interval) of a Stripe price/plan object, from our map or its metadata."""
        if not price:
            return None
        pid = price.get("id")
        if isinstance(pid, str) and pid in self._tiers:
            return self._tiers[pid]
        meta = price.get("metadata") or {}
        interval = (price.get("recurring") or {}).get("interval") or price.get("interval")
        if meta.get("tier"):
            return str(meta["tier"]).upper(), str(meta.get("interval") or interval or "month")
        if isinstance(pid, str) and pid.startswith("llmportal_"):
            parts = pid.split("_")
            if len(parts) >= 4 and parts[-2] in INTERVALS:
                return "_".join(parts[1:-2]), parts[-2]
        return None
