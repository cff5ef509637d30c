from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from llmportal.config import Catalog, PlanConfig, Settings
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.ids import new_id
from llmportal.keys.models import ApiKey
from llmportal.portal import Portal
from llmportal.quota import store as store_module
from llmportal.quota.service import QuotaService, Reservation, day_bounds, month_bounds
from llmportal.quota.store import (
    CounterStore,
    FallbackCounterStore,
    MemoryCounterStore,
    RedisCounterStore,
)
from llmportal.ratelimit import RedisOutage
from tests.fixtures.upstreams import free_port
from tests.keys.test_usage import add_usage

StoreFactory = Callable[[], CounterStore]


@pytest.fixture(params=["memory", "redis"])
def new_store(request: pytest.FixtureRequest, portal: Portal) -> StoreFactory:
    """Fresh counter stores of one kind; Redis ones share the portal's Redis (like instances)."""
    if request.param == "redis":
        redis = portal.redis
        if redis is None:
            pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
        return lambda: RedisCounterStore(redis, portal.settings.redis_prefix + "quota:")
    return MemoryCounterStore


def service(
    portal: Portal,
    store: CounterStore,
    settings: Settings | None = None,
    clock: Callable[[], datetime] | None = None,
) -> QuotaService:
    svc = QuotaService(settings or portal.settings, portal.sessionmaker, store)
    if clock is not None:
        svc.clock = clock
    return svc


def key(daily: int | None = None, monthly: int | None = None) -> ApiKey:
    return ApiKey(id=new_id(), daily_limit=daily, monthly_limit=monthly)


async def refused(coro: Any) -> PortalError:
    with pytest.raises(PortalError) as info:
        await coro
    assert info.value.status == 429
    return info.value


async def test_portal_installs_the_quota_service(portal: Portal) -> None:
    quota = portal.services["quota"]
    assert isinstance(quota, QuotaService)
    if portal.redis is None:
        assert isinstance(quota.store, MemoryCounterStore)
    else:  # Redis, with the in-process fallback for a Redis outage
        assert isinstance(quota.store, FallbackCounterStore)
        assert isinstance(quota.store.primary, RedisCounterStore)


async def test_plan_monthly_allowance(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    quota = service(portal, new_store())
    who = Principal(user=await make_user())  # FREE: 1,000 tokens a month
    first = await quota.reserve(who, 600)
    err = await refused(quota.reserve(who, 401))
    assert err.message == "Monthly token limit reached"
    _, month_end = month_bounds(datetime.now(UTC))
    expected = (month_end - datetime.now(UTC)).total_seconds()
    assert abs(int(err.headers["Retry-After"]) - expected) < 60  # type: ignore[index]
    await quota.reserve(who, 400)  # exactly fits
    await refused(quota.reserve(who, 0))  # nothing left, even for a zero estimate
    await quota.release(first)
    await quota.reserve(who, 600)


async def test_settle_replaces_the_estimate(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    quota = service(portal, new_store())
    who = Principal(user=await make_user())
    r = await quota.reserve(who, 600)
    await quota.settle(r, 100)
    await quota.settle(r, 100)  # a second settle changes nothing
    await quota.release(r)  # nor does a release after settling
    assert await quota.remaining(who) == 900
    await quota.reserve(who, 900)
    await refused(quota.reserve(who, 1))


async def test_settle_above_the_estimate_counts_the_real_usage(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    quota = service(portal, new_store())
    who = Principal(user=await make_user())
    r = await quota.reserve(who, 100)
    await quota.settle(r, 1200)
    assert await quota.remaining(who) == 0
    await refused(quota.reserve(who, 1))


async def test_counters_start_from_recorded_usage(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    user = await make_user()
    other = await make_user()
    now = datetime.now(UTC)
    month_start, _ = month_bounds(now)
    await add_usage(
        portal,
        user.id,
        None,
        this_month=(now, 500, 450, 0, 1, "success"),
        last_month=(month_start - timedelta(seconds=1), 5000, 5000, 0, 1, "success"),
    )
    await add_usage(portal, other.id, None, theirs=(now, 900, 0, 0, 1, "success"))
    # A new service (a restarted process, or a new Redis counter) remembers the 950 tokens.
    quota = service(portal, new_store())
    who = Principal(user=user)
    assert await quota.remaining(who) == 50
    await refused(quota.reserve(who, 51))
    await quota.reserve(who, 50)
    assert await service(portal, new_store()).remaining(Principal(user=other)) == 100


async def test_key_daily_and_monthly_limits(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    user = await make_user(plan="PRO")  # 50,000 a month: not the limit here
    quota = service(portal, new_store())
    daily = Principal(user=user, api_key=key(daily=100))
    await quota.reserve(daily, 80)
    err = await refused(quota.reserve(daily, 30))
    assert err.message == "Daily token limit reached"
    _, day_end = day_bounds(datetime.now(UTC))
    expected = (day_end - datetime.now(UTC)).total_seconds()
    assert abs(int(err.headers["Retry-After"]) - expected) < 60  # type: ignore[index]

    monthly = Principal(user=user, api_key=key(daily=1000, monthly=150))
    await quota.reserve(monthly, 100)
    err = await refused(quota.reserve(monthly, 100))
    assert err.message == "Monthly token limit reached for this API key"

    # Another key of the same user has its own limits but shares the plan allowance.
    await quota.reserve(Principal(user=user, api_key=key(daily=100)), 100)
    assert await quota.remaining(Principal(user=user)) == 50_000 - 80 - 100 - 100


async def test_key_counters_start_from_the_keys_recorded_usage(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    user = await make_user(plan="PRO")
    k = key(daily=100, monthly=1000)
    now = datetime.now(UTC)
    day_start, _ = day_bounds(now)
    await add_usage(
        portal,
        user.id,
        k.id,
        today=(now, 60, 30, 0, 1, "success"),
        earlier=(day_start - timedelta(seconds=1), 400, 400, 0, 1, "success"),
    )
    quota = service(portal, new_store())
    who = Principal(user=user, api_key=k)
    err = await refused(quota.reserve(who, 11))
    assert err.message == "Daily token limit reached"
    assert await quota.remaining(who) == 10
    # The same key's monthly counter holds today's 90 plus yesterday's 800 (same month).
    same_key_monthly_only = ApiKey(id=k.id, daily_limit=None, monthly_limit=1000)
    in_month = 90 + (800 if day_start.day != 1 else 0)
    monthly = Principal(user=user, api_key=same_key_monthly_only)
    assert await quota.remaining(monthly) == 1000 - in_month


async def test_unlimited_plan(portal: Portal, make_user: Any, new_store: StoreFactory) -> None:
    catalog = Catalog(
        plans=[PlanConfig(tier="TEAM", name="Team", monthly_tokens=0, api_keys=100)]
    ).with_defaults()
    settings = portal.settings.model_copy()
    settings.catalog = catalog
    quota = service(portal, new_store(), settings=settings)
    who = Principal(user=await make_user(plan="TEAM"))
    await quota.reserve(who, 10_000_000)
    await quota.reserve(who, 10_000_000)
    assert await quota.remaining(who) is None


async def test_retry_after_is_the_time_to_the_period_reset(portal: Portal, make_user: Any) -> None:
    def clock() -> datetime:
        return datetime(2026, 12, 31, 22, 30, tzinfo=UTC)

    quota = service(portal, MemoryCounterStore(), clock=clock)
    user = await make_user()
    err = await refused(quota.reserve(Principal(user=user), 1001))
    assert err.headers == {"Retry-After": str(90 * 60)}
    daily = Principal(user=user, api_key=key(daily=10))
    err = await refused(quota.reserve(daily, 11))
    assert err.headers == {"Retry-After": str(90 * 60)}


def test_period_bounds() -> None:
    now = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert month_bounds(now) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert day_bounds(now) == (datetime(2026, 12, 31, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    feb = datetime(2028, 2, 29, 12, tzinfo=UTC)
    assert month_bounds(feb) == (datetime(2028, 2, 1, tzinfo=UTC), datetime(2028, 3, 1, tzinfo=UTC))


async def _race(quota_for: Callable[[int], QuotaService], who: Principal, n: int, each: int) -> int:
    async def attempt(i: int) -> Reservation | None:
        try:
            return await quota_for(i).reserve(who, each)
        except PortalError as exc:
            assert exc.status == 429
            return None

    results = await asyncio.gather(*(attempt(i) for i in range(n)))
    return sum(r is not None for r in results)


async def test_concurrent_reservations_admit_exactly_what_fits(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    quota = service(portal, new_store())
    who = Principal(user=await make_user())  # 1,000 tokens
    assert await _race(lambda _: quota, who, n=25, each=150) == 6


async def test_concurrent_reservations_on_a_key_limit(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    quota = service(portal, new_store())
    who = Principal(user=await make_user(plan="PRO"), api_key=key(daily=1000))
    assert await _race(lambda _: quota, who, n=30, each=70) == 14


async def test_instances_sharing_redis_share_the_limit(portal: Portal, make_user: Any) -> None:
    redis = portal.redis
    if redis is None:
        pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
    prefix = portal.settings.redis_prefix + "quota:"
    instances = [service(portal, RedisCounterStore(redis, prefix)) for _ in range(3)]
    who = Principal(user=await make_user())
    assert await _race(lambda i: instances[i % 3], who, n=30, each=100) == 10


def _redis_or_skip(portal: Portal) -> Any:
    if portal.redis is None:
        pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
    return portal.redis


async def test_a_refund_waiting_in_the_settlement_batch_is_sent_before_refusing(
    portal: Portal, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = _redis_or_skip(portal)
    monkeypatch.setattr(store_module, "SETTLE_BATCH_S", 3600.0)  # the batch would wait an hour
    quota = service(portal, RedisCounterStore(redis, portal.settings.redis_prefix + "quota:"))
    who = Principal(user=await make_user())  # 1,000 tokens
    r = await quota.reserve(who, 900)
    await quota.settle(r, 100)  # 800 to give back, still in the batch
    await quota.reserve(who, 800)  # fits only with them
    await refused(quota.reserve(who, 101))


async def test_shutdown_sends_the_settlements_still_batched(
    portal: Portal, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = _redis_or_skip(portal)
    monkeypatch.setattr(store_module, "SETTLE_BATCH_S", 3600.0)
    prefix = portal.settings.redis_prefix + "quota:"
    a = service(portal, RedisCounterStore(redis, prefix))
    b = service(portal, RedisCounterStore(redis, prefix))  # another instance
    who = Principal(user=await make_user())
    r = await a.reserve(who, 900)
    await a.settle(r, 100)
    assert await b.remaining(who) == 100  # the other instance still sees the reservation
    await a.store.close()
    assert await b.remaining(who) == 900


async def test_settlements_redis_missed_reload_from_the_database(
    portal: Portal, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = _redis_or_skip(portal)
    monkeypatch.setattr(store_module, "SETTLE_BATCH_S", 3600.0)
    primary = RedisCounterStore(redis, portal.settings.redis_prefix + "quota:")
    store = FallbackCounterStore(primary, RedisOutage(retry_after_s=0))
    quota = service(portal, store)
    user = await make_user()
    who = Principal(user=user)
    r = await quota.reserve(who, 900)
    await quota.settle(r, 100)
    await add_usage(portal, user.id, None, done=(datetime.now(UTC), 60, 40, 0, 1, "success"))
    down = Redis(host="127.0.0.1", port=free_port(), socket_connect_timeout=0.5)
    monkeypatch.setattr(primary, "_redis", down)
    await primary.flush()  # Redis is gone: the settlement is lost there
    assert store.outage.is_down
    monkeypatch.setattr(primary, "_redis", redis)
    # Back: the counter is dropped and reloaded from what the database recorded (100 tokens),
    # not left at the 900 reserved.
    assert await quota.remaining(who) == 900
    assert not store.outage.is_down
    await down.aclose()


class BusyCounterStore(RedisCounterStore):
    """Other requests settle while each flush is on its way, as under load."""

    async def flush(self) -> None:
        await super().flush()
        self._batch.pending["{busy}:other"] = 1


async def test_a_refusal_while_settlements_keep_arriving_is_a_429(
    portal: Portal, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = _redis_or_skip(portal)
    monkeypatch.setattr(store_module, "SETTLE_BATCH_S", 3600.0)
    quota = service(portal, BusyCounterStore(redis, portal.settings.redis_prefix + "quota:"))
    who = Principal(user=await make_user())  # 1,000 tokens
    r = await quota.reserve(who, 900)
    await quota.settle(r, 850)  # 50 to give back, in the batch
    await refused(quota.reserve(who, 200))  # refused once the batch is in, not a 500
