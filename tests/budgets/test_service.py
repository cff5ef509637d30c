"""The budget service over both tally stores: holds lowered to what is left, refusals naming
the budget, settlement refunding the difference, tallies loaded from recorded spend, period
rollover (the clock moved, never slept) and exact concurrency, one process or several on Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from llmportal.budgets import store as store_module
from llmportal.budgets.periods import period_bounds, week_bounds
from llmportal.budgets.scopes import scopes_for
from llmportal.budgets.service import BudgetService, Hold
from llmportal.budgets.store import Change, MemoryTallyStore, RedisTallyStore, Tally, TallyStore
from llmportal.deps import Principal
from llmportal.errors import PortalError
from llmportal.ids import new_id
from llmportal.keys.models import ApiKey
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.keys.test_usage import add_usage

StoreFactory = Callable[[], TallyStore]
SET_AT = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(params=["memory", "redis"])
def new_store(request: pytest.FixtureRequest, portal: Portal) -> StoreFactory:
    """Fresh tally stores of one kind; Redis ones share the portal's Redis (like instances)."""
    if request.param == "redis":
        redis = portal.redis
        if redis is None:
            pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
        return lambda: RedisTallyStore(redis, portal.settings.redis_prefix + "budget:")
    return MemoryTallyStore


class Clock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def service(portal: Portal, store: TallyStore, clock: Clock | None = None) -> BudgetService:
    return BudgetService(portal.sessionmaker, store, clock=clock or Clock())


def budgeted_key(usd: float | None, period: str | None = None, name: str = "ci") -> ApiKey:
    micros = round(usd * 1_000_000) if usd is not None else None
    return ApiKey(
        id=new_id(), name=name, max_budget_micros=micros, budget_period=period, budget_set_at=SET_AT
    )


def with_user_budget(user: Any, usd: float, period: str | None = None) -> Any:
    user.max_budget_micros = round(usd * 1_000_000)
    user.budget_period = period
    user.budget_set_at = SET_AT
    return user


async def refused(coro: Any) -> PortalError:
    with pytest.raises(PortalError) as info:
        await coro
    assert info.value.status == 429
    return info.value


def test_no_budget_anywhere_means_no_scopes() -> None:
    user = User(id=new_id(), email="x@example.com")
    assert scopes_for(Principal(user=user, api_key=budgeted_key(None))) == []
    assert scopes_for(Principal(user=user)) == []


async def test_hold_lowers_the_reply_to_what_is_left_and_settling_refunds(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    budgets = service(portal, new_store())
    who = Principal(user=await make_user(), api_key=budgeted_key(1.0, "daily", "Production"))
    scopes = budgets.scopes(who)
    # $0.10 of prompt, $0.001 per output token, 2,000 wanted: only 900 fit in $1.
    hold, granted = await budgets.reserve(scopes, 100_000, 1_000, 2_000)
    assert granted == 900 and hold.amount == 1_000_000
    err = await refused(budgets.reserve(scopes, 1, 1_000, 10))
    assert err.message == (
        "Budget reached for API key 'Production': $0.00 of its $1.00 daily budget spent "
        "($1.00 held by requests in progress)"
    )
    # The reply cost $0.30: the other $0.70 is free again.
    await budgets.settle(hold, 300_000)
    await budgets.settle(hold, 300_000)  # a second settle changes nothing
    await budgets.release(hold)  # nor does a release after it
    assert await budgets.spend(scopes[0]) == 300_000
    hold, granted = await budgets.reserve(scopes, 100_000, 1_000, 2_000)
    assert granted == 600
    await budgets.release(hold)
    assert await budgets.spend(scopes[0]) == 300_000


async def test_a_request_without_an_output_price_is_held_whole_or_refused(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    budgets = service(portal, new_store())
    who = Principal(user=await make_user(), api_key=budgeted_key(0.5))
    scopes = budgets.scopes(who)
    hold, granted = await budgets.reserve(scopes, 400_000, 0, 0)
    assert (granted, hold.amount) == (0, 400_000)
    err = await refused(budgets.reserve(scopes, 200_000, 0, 0))
    assert err.message == (
        "This request could cost more than the $0.10 left of the $0.50 lifetime budget of "
        "API key 'ci' ($0.40 held by requests in progress)"
    )
    assert err.headers is None  # a lifetime budget never resets
    assert err.extra["budget"] == {
        "scope": "key",
        "id": who.api_key.id,  # type: ignore[union-attr]
        "maxBudget": 0.5,
        "budgetPeriod": None,
        "spend": 0.0,
        "resetsAt": None,
    }


async def test_the_strictest_budget_refuses_and_is_named(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    budgets = service(portal, new_store(), clock)
    user = with_user_budget(await make_user(), 0.002, "monthly")
    who = Principal(user=user, api_key=budgeted_key(5, "daily"))
    assert [s.kind for s in budgets.scopes(who)] == ["key", "user"]
    hold, _ = await budgets.reserve(budgets.scopes(who), 2_000, 0, 0)
    await budgets.settle(hold, 2_000)
    err = await refused(budgets.reserve(budgets.scopes(who), 1, 0, 0))
    assert err.message == (
        "Budget reached for your account: $0.002 of its $0.002 monthly budget spent"
    )
    _, month_end = period_bounds("monthly", clock.now)
    assert err.headers == {"Retry-After": str(int((month_end - clock.now).total_seconds()))}
    assert err.extra["budget"]["scope"] == "user"
    assert err.extra["budget"]["resetsAt"] == month_end.strftime("%Y-%m-%dT%H:%M:%SZ")
    # A key budget tighter than the user's is the one named.
    tight = Principal(user=await make_user(), api_key=budgeted_key(0.001, "weekly", "tight"))
    hold, _ = await budgets.reserve(budgets.scopes(tight), 1_000, 0, 0)
    err = await refused(budgets.reserve(budgets.scopes(tight), 1, 0, 0))
    assert "API key 'tight'" in err.message and "$0.001 weekly budget" in err.message


async def test_tallies_start_from_the_spend_recorded_in_their_period(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    clock = Clock()
    user = await make_user()
    monthly = budgeted_key(1.0, "monthly")
    month_start, _ = period_bounds("monthly", clock.now)
    await add_usage(
        portal,
        user.id,
        monthly.id,
        now=(clock.now, 10, 10, 250_000, 1, "success"),
        failed=(clock.now, 10, 0, 5_000, 1, "error"),  # an error that still cost is spend
        last_month=(month_start - timedelta(seconds=1), 10, 10, 700_000, 1, "success"),
    )
    budgets = service(portal, new_store(), clock)
    scope = budgets.scopes(Principal(user=user, api_key=monthly))[0]
    assert await budgets.spend(scope) == 255_000
    # The same key with a lifetime budget counts everything it ever spent.
    lifetime = ApiKey(id=monthly.id, name="ci", max_budget_micros=1_000_000, budget_set_at=SET_AT)
    scope = budgets.scopes(Principal(user=user, api_key=lifetime))[0]
    assert await budgets.spend(scope) == 955_000
    err = await refused(budgets.reserve([scope], 50_000, 0, 0))
    assert "$0.045 left" in err.message


async def test_each_new_period_opens_the_budget_again(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    clock = Clock()
    user = await make_user()
    for period in ("daily", "weekly", "monthly"):
        budgets = service(portal, new_store(), clock)
        who = Principal(user=user, api_key=budgeted_key(0.01, period))
        hold, _ = await budgets.reserve(budgets.scopes(who), 10_000, 0, 0)
        await budgets.settle(hold, 10_000)
        err = await refused(budgets.reserve(budgets.scopes(who), 1, 0, 0))
        _, end = period_bounds(period, clock.now)
        retry = int(err.headers["Retry-After"])  # type: ignore[index]
        assert abs(retry - (end - clock.now).total_seconds()) <= 1
        before = clock.now
        clock.now = end + timedelta(seconds=1)  # the period is over
        hold, _ = await budgets.reserve(budgets.scopes(who), 10_000, 0, 0)
        await budgets.release(hold)
        clock.now = before


def test_period_bounds() -> None:
    sunday = datetime(2027, 1, 3, 23, 59, tzinfo=UTC)
    monday = datetime(2027, 1, 4, tzinfo=UTC)
    assert week_bounds(sunday) == (datetime(2026, 12, 28, tzinfo=UTC), monday)
    assert week_bounds(monday)[0] == monday
    assert period_bounds("daily", sunday) == (
        datetime(2027, 1, 3, tzinfo=UTC),
        datetime(2027, 1, 4, tzinfo=UTC),
    )
    assert period_bounds("monthly", sunday)[1] == datetime(2027, 2, 1, tzinfo=UTC)
    assert period_bounds(None, sunday) == (None, None)


async def test_a_budget_switched_on_again_starts_from_the_database(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    """Spend made while a budget was off reached no tally: a budget set again reads it."""
    clock = Clock()
    store = new_store()
    user = await make_user()
    key = budgeted_key(1.0, "monthly")
    budgets = service(portal, store, clock)
    assert await budgets.spend(budgets.scopes(Principal(user=user, api_key=key))[0]) == 0
    await add_usage(portal, user.id, key.id, off=(clock.now, 1, 1, 400_000, 1, "success"))
    key.budget_set_at = SET_AT + timedelta(days=1)
    assert await budgets.spend(budgets.scopes(Principal(user=user, api_key=key))[0]) == 400_000


async def _race(budgets_for: Callable[[int], BudgetService], who: Principal, n: int) -> int:
    async def attempt(i: int) -> Hold | None:
        budgets = budgets_for(i)
        try:
            hold, _ = await budgets.reserve(budgets.scopes(who), 100_000, 0, 0)
        except PortalError as exc:
            assert exc.status == 429
            return None
        return hold

    return sum(h is not None for h in await asyncio.gather(*(attempt(i) for i in range(n))))


async def test_concurrent_holds_admit_exactly_what_fits(
    portal: Portal, make_user: Any, new_store: StoreFactory
) -> None:
    budgets = service(portal, new_store())
    who = Principal(user=await make_user(), api_key=budgeted_key(1.0, "daily"))
    assert await _race(lambda _: budgets, who, n=30) == 10


async def test_instances_sharing_redis_share_the_budget(portal: Portal, make_user: Any) -> None:
    redis = portal.redis
    if redis is None:
        pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
    prefix = portal.settings.redis_prefix + "budget:"
    instances = [service(portal, RedisTallyStore(redis, prefix)) for _ in range(3)]
    user = with_user_budget(await make_user(), 0.7)
    who = Principal(user=user, api_key=budgeted_key(5, "daily"))
    assert await _race(lambda i: instances[i % 3], who, n=30) == 7


class BusyTallyStore(RedisTallyStore):
    """Other requests settle while each flush is on its way, as under load."""

    other: Tally | None = None

    async def flush(self) -> None:
        await super().flush()
        assert self.other is not None
        self._batch.pending[self.other.key] = Change(self.other, 0, 1)


async def test_a_refusal_while_settlements_keep_arriving_is_a_429(
    portal: Portal, make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = portal.redis
    if redis is None:
        pytest.skip("Redis runs in the scale half of the suite (LLMPORTAL_TEST_REDIS_URL)")
    monkeypatch.setattr(store_module, "SETTLE_BATCH_S", 3600.0)
    store = BusyTallyStore(redis, portal.settings.redis_prefix + "budget:")
    budgets = service(portal, store)
    scopes = budgets.scopes(Principal(user=await make_user(), api_key=budgeted_key(1.0, "daily")))
    other = budgets.scopes(Principal(user=await make_user(), api_key=budgeted_key(1.0, "daily")))
    store.other = budgets.tally(other[0])
    hold, _ = await budgets.reserve(scopes, 900_000, 0, 0)
    await budgets.settle(hold, 900_000)
    await refused(budgets.reserve(scopes, 200_000, 0, 0))  # once the batch is in, not a 500
