"""Token quotas: the plan's monthly allowance per user (per org for an org key: its tokens
count toward the org's plan, not its creator's), and each key's daily and monthly limits.

The completions gateway calls, around every upstream call:

    reservation = await quota.reserve(principal, estimated_tokens)   # 429 when it does not fit
    ...
    await quota.settle(reservation, actual_tokens)   # success: the real count replaces the guess
    await quota.release(reservation)                 # failure: give the reservation back
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from llmportal.config import Settings
from llmportal.db import utcnow
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.orgs.models import Organization
from llmportal.portal import Portal
from llmportal.quota.plans import plan_for
from llmportal.quota.store import (
    Counter,
    CounterStore,
    FallbackCounterStore,
    MemoryCounterStore,
    RedisCounterStore,
)
from llmportal.usage.models import UsageRecord
from llmportal.users.models import User

# Counters are kept even without a limit (this ceiling), so a limit set mid-period starts from
# the period's real usage rather than from a counter that stopped counting.
UNLIMITED = 2**62
COUNTERS_CACHED = 10_000

PLAN_MONTHLY = "Monthly token limit reached"
ORG_MONTHLY = "Monthly token limit of the organization's plan reached"
KEY_DAILY = "Daily token limit reached"
KEY_MONTHLY = "Monthly token limit reached for this API key"


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def month_bounds(now: datetime) -> tuple[datetime, datetime]:
    start = datetime(now.year, now.month, 1, tzinfo=UTC)
    end = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    return start, end


@dataclass(slots=True)
class Reservation:
    user_id: str
    api_key_id: str | None
    tokens: int
    counters: tuple[Counter, ...]
    done: bool = field(default=False)


class QuotaService:
    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        store: CounterStore,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.store = store
        self.clock = clock
        self._counters: dict[tuple[Any, ...], tuple[Counter, ...]] = {}
        self._catalog = settings.catalog

    def counters_for(
        self, principal: Principal, now: datetime | None = None
    ) -> tuple[Counter, ...]:
        """The caller's counters today: the same from one request to the next, so they are
        made once per day and limits (building them costs more than using them)."""
        now = (now or self.clock()).astimezone(UTC)
        user, key, org = principal.user, principal.api_key, principal.org
        if self.settings.catalog is not self._catalog:  # plans reloaded
            self._counters.clear()
            self._catalog = self.settings.catalog
        # An org key's plan is the org's (the auth layer's snapshot of the org row, no query).
        owner, tier = (user.id, user.plan_tier) if org is None else (org.id, org.plan_tier)
        cache_key = (
            now.date(),
            org is not None,
            owner,
            tier,
            key.id if key is not None else None,
            key.daily_limit if key is not None else None,
            key.monthly_limit if key is not None else None,
        )
        found = self._counters.get(cache_key)
        if found is None:
            if len(self._counters) >= COUNTERS_CACHED:
                self._counters.clear()
            found = self._counters[cache_key] = tuple(self._make_counters(principal, now))
        return found

    def _make_counters(self, principal: Principal, now: datetime) -> list[Counter]:
        m_start, m_end = month_bounds(now)
        month = f"{now:%Y-%m}"
        # All of a reservation's counters share one hash tag (one Redis Cluster slot): the
        # plan's owner's, a user's or, for an org key, the org's.
        plan_owner: User | Organization = principal.org or principal.user
        kind, message = ("user", PLAN_MONTHLY) if principal.org is None else ("org", ORG_MONTHLY)
        tag = "{" + plan_owner.id + "}"
        plan_tokens = plan_for(self.settings, plan_owner.plan_tier).monthly_tokens
        plan = Counter(
            f"{tag}:{kind}:m:{month}",
            plan_tokens or UNLIMITED,
            m_start,
            m_end,
            kind,
            plan_owner.id,
            message,
        )
        counters = [plan]
        key = principal.api_key
        if key is not None:
            d_start, d_end = day_bounds(now)
            counters.append(
                Counter(
                    f"{tag}:key:{key.id}:d:{now:%Y-%m-%d}",
                    key.daily_limit or UNLIMITED,
                    d_start,
                    d_end,
                    "key",
                    key.id,
                    KEY_DAILY,
                )
            )
            counters.append(
                Counter(
                    f"{tag}:key:{key.id}:m:{month}",
                    key.monthly_limit or UNLIMITED,
                    m_start,
                    m_end,
                    "key",
                    key.id,
                    KEY_MONTHLY,
                )
            )
        return counters

    async def _recorded(self, counter: Counter) -> int:
        """Tokens the database already holds for this counter's owner and period."""
        owner: ColumnElement[bool]
        if counter.owner == "user":  # personal use: the org keys a user made count for the org
            owner = (UsageRecord.user_id == counter.owner_id) & UsageRecord.org_id.is_(None)
        elif counter.owner == "org":
            owner = UsageRecord.org_id == counter.owner_id
        else:
            owner = UsageRecord.api_key_id == counter.owner_id
        stmt = select(
            func.coalesce(func.sum(UsageRecord.prompt_tokens + UsageRecord.completion_tokens), 0)
        ).where(
            owner,
            UsageRecord.created_at >= counter.period_start,
            UsageRecord.created_at < counter.resets_at,
        )
        async with self.sessionmaker() as db:
            return int(await db.scalar(stmt) or 0)

    def _retry_after(self, counter: Counter) -> int:
        return max(1, math.ceil((counter.resets_at - self.clock()).total_seconds()))

    async def reserve(self, principal: Principal, estimated_tokens: int) -> Reservation:
        amount = max(0, int(estimated_tokens))
        counters = self.counters_for(principal)
        refused = await self.store.try_reserve(counters, amount, self._recorded)
        if refused is not None:
            raise PortalError(
                429, refused.message, headers={"Retry-After": str(self._retry_after(refused))}
            )
        key = principal.api_key
        return Reservation(principal.user.id, key.id if key else None, amount, counters)

    async def try_reserve(self, principal: Principal, estimated_tokens: int) -> Reservation | None:
        """The reservation, or None where a limit has no room for it (nothing reserved)."""
        try:
            return await self.reserve(principal, estimated_tokens)
        except PortalError as exc:
            if exc.status == 429:
                return None
            raise

    def limited(self, principal: Principal) -> bool:
        """Whether any limit applies to this caller (else `remaining` is None)."""
        return any(c.limit != UNLIMITED for c in self.counters_for(principal))

    async def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        if reservation.done:
            return
        reservation.done = True
        delta = max(0, int(actual_tokens)) - reservation.tokens
        await self.store.adjust(reservation.counters, delta)

    async def release(self, reservation: Reservation) -> None:
        if reservation.done:
            return
        reservation.done = True
        await self.store.adjust(reservation.counters, -reservation.tokens)

    async def remaining(self, principal: Principal) -> int | None:
        """Tokens left under the tightest limit now, or None when nothing limits this caller."""
        left: int | None = None
        for c in self.counters_for(principal):
            if c.limit == UNLIMITED:
                continue
            free = max(0, c.limit - await self.store.used(c, self._recorded))
            left = free if left is None else min(left, free)
        return left


def build_quota(portal: Portal) -> QuotaService:
    store: CounterStore = MemoryCounterStore()
    if portal.redis is not None:
        redis_store = RedisCounterStore(portal.redis, portal.settings.redis_prefix + "quota:")
        outage = portal.redis_outage
        store = FallbackCounterStore(redis_store, outage) if outage is not None else redis_store
    return QuotaService(portal.settings, portal.sessionmaker, store)


async def startup(portal: Portal) -> None:
    portal.services["quota"] = build_quota(portal)


async def shutdown(portal: Portal) -> None:
    quota: QuotaService | None = portal.services.get("quota")
    if quota is not None:
        await quota.store.close()


__all__ = ["QuotaService", "Reservation", "build_quota"]
