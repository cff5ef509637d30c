"""USD budgets. The gateway calls, around every upstream call that has budgets in scope:

    hold, output_tokens = await budgets.reserve(scopes, base, unit, wanted)  # 429 naming one
    ...
    await budgets.settle(hold, cost_micros)   # the real cost replaces the worst case
    await budgets.release(hold)               # failure: give it all back

`base` is the worst-case cost that does not depend on the reply (the prompt, images), `unit`
the price of one output token: the reply gets the output tokens that every budget still has
room for, up to `wanted`. A caller without any budget is never here (scopes() is []).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.budgets.alerts import BudgetAlerts
from llmportal.budgets.money import usd, usd_text
from llmportal.budgets.periods import period_bounds, period_label, period_words
from llmportal.budgets.schemas import budget_view
from llmportal.budgets.scopes import Scope, ScopeKind, scope_of, scopes_for
from llmportal.budgets.store import (
    FallbackTallyStore,
    MemoryTallyStore,
    RedisTallyStore,
    Reserved,
    Tally,
    TallyStore,
)
from llmportal.db import utcnow
from llmportal.deps import Principal
from llmportal.email.mailer import mailer_for
from llmportal.errors import PortalError
from llmportal.portal import Portal
from llmportal.usage.models import UsageRecord
from llmportal.users.schemas import iso

_COST = (
    UsageRecord.input_cost_micros + UsageRecord.output_cost_micros + UsageRecord.image_cost_micros
)


@dataclass(slots=True)
class Hold:
    tallies: tuple[Tally, ...]
    amount: int
    done: bool = field(default=False)


def tally_key(scope: Scope, start: datetime | None) -> str:
    stamp = int(scope.set_at.timestamp() * 1000) if scope.set_at else 0
    label = period_label(scope.period, start)
    return f"{{{scope.tag}}}:{scope.kind}:{scope.owner_id}:{stamp}:{label}"


class BudgetService:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: TallyStore,
        alerts: BudgetAlerts | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.store = store
        self.alerts = alerts
        self.clock = clock
        store.on_spent = self._spent

    def _spent(self, tallies: Sequence[Tally], spends: Sequence[int | None]) -> None:
        if self.alerts is not None:
            self.alerts.check(tallies, spends)

    def scopes(self, principal: Principal) -> list[Scope]:
        return scopes_for(principal)

    def tally(self, scope: Scope, now: datetime | None = None) -> Tally:
        start, end = period_bounds(scope.period, now or self.clock())
        return Tally(tally_key(scope, start), scope, start, end)

    async def _recorded(self, tally: Tally) -> int:
        """What the database holds as spent by the tally's owner in its period."""
        column = getattr(UsageRecord, tally.scope.column)
        stmt = select(func.coalesce(func.sum(_COST), 0)).where(column == tally.scope.owner_id)
        if tally.start is not None and tally.end is not None:
            stmt = stmt.where(UsageRecord.created_at >= tally.start)
            stmt = stmt.where(UsageRecord.created_at < tally.end)
        async with self.sessionmaker() as db:
            return int(await db.scalar(stmt) or 0)

    async def reserve(
        self, scopes: list[Scope], base: float, unit: float, units: int, *, final: bool = True
    ) -> tuple[Hold, int]:
        """`final` False: the caller retries a refusal with an exact count (no alert yet)."""
        now = self.clock()
        tallies = tuple(self.tally(s, now) for s in scopes)
        reserved = await self.store.reserve(tallies, base, unit, units, self._recorded)
        if reserved.refused is not None:
            tally = tallies[reserved.refused]
            if self.alerts is not None and final:
                self.alerts.refused(tally, reserved.spent)
            raise self._refusal(tally, reserved, now)
        return Hold(tallies, reserved.amount), reserved.units

    async def settle(self, hold: Hold, cost_micros: int) -> None:
        if hold.done:
            return
        hold.done = True
        await self.store.settle(hold.tallies, hold.amount, max(0, int(cost_micros)))

    async def release(self, hold: Hold) -> None:
        await self.settle(hold, 0)

    async def spend(self, scope: Scope) -> int:
        """The settled spend of the scope's budget in its current period (micro-dollars)."""
        return await self.store.spent(self.tally(scope), self._recorded)

    async def view(self, kind: ScopeKind, row: Any, tag: str) -> dict[str, Any]:
        """The budget fields of a key's or user's JSON, its spend included."""
        scope = scope_of(kind, row, tag)
        spend = await self.spend(scope) if scope is not None else None
        return budget_view(row, spend, self.clock())

    def _refusal(self, tally: Tally, reserved: Reserved, now: datetime) -> PortalError:
        scope = tally.scope
        budget = f"{usd_text(scope.limit)} {period_words(scope.period)} budget"
        used = reserved.spent + reserved.held
        if used >= scope.limit:
            spent = usd_text(reserved.spent)
            message = f"Budget reached for {scope.name}: {spent} of its {budget} spent"
        else:
            left = usd_text(scope.limit - used)
            message = (
                f"This request could cost more than the {left} left of the {budget} of {scope.name}"
            )
        if reserved.held:
            message += f" ({usd_text(reserved.held)} held by requests in progress)"
        headers = None
        if tally.end is not None:
            retry = max(1, math.ceil((tally.end - now).total_seconds()))
            headers = {"Retry-After": str(retry)}
        detail: dict[str, Any] = {
            "scope": scope.kind,
            "id": scope.owner_id,
            "maxBudget": usd(scope.limit),
            "budgetPeriod": scope.period,
            "spend": usd(reserved.spent),
            "resetsAt": iso(tally.end),
        }
        return PortalError(429, message, headers=headers, budget=detail)


async def budget_json(portal: Portal, kind: ScopeKind, row: Any, tag: str) -> dict[str, Any]:
    budgets: BudgetService | None = portal.services.get("budgets")
    if budgets is None:
        return budget_view(row, None, utcnow())
    return await budgets.view(kind, row, tag)


def build_budgets(portal: Portal) -> BudgetService:
    store: TallyStore = MemoryTallyStore()
    if portal.redis is not None:
        redis_store = RedisTallyStore(portal.redis, portal.settings.redis_prefix + "budget:")
        outage = portal.redis_outage
        store = FallbackTallyStore(redis_store, outage) if outage is not None else redis_store
    public_url = portal.settings.public_url
    alerts = BudgetAlerts(portal.sessionmaker, lambda: mailer_for(portal), public_url)
    return BudgetService(portal.sessionmaker, store, alerts)


async def startup(portal: Portal) -> None:
    portal.services["budgets"] = build_budgets(portal)


async def shutdown(portal: Portal) -> None:
    budgets: BudgetService | None = portal.services.get("budgets")
    if budgets is None:
        return
    close = getattr(budgets.store, "close", None)
    if close is not None:
        await close()  # the batched settlements
    if budgets.alerts is not None:
        await budgets.alerts.drain()


__all__ = ["BudgetService", "Hold", "budget_json", "build_budgets"]
