"""USD budgets on completions: the worst case held before the upstream call, the difference
given back after, max_tokens lowered to what is left, refusals as 429 naming the budget (the
same for streams, Anthropic bodies, embeddings and images), a new period opening the budget
again (the clock moved, not slept), and the alert emails at 80 % and 100 % once a period.

The model "dear" costs $0.001 a token both ways; the fake upstream reports 11 prompt tokens
and keeps to max_tokens (6 completion tokens at most): an answer costs $0.017 at most."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from llmportal.budgets.periods import period_bounds
from llmportal.budgets.service import BudgetService, build_budgets
from llmportal.budgets.store import MemoryTallyStore
from llmportal.email.mailer import Mailer
from llmportal.gateway.metering import prompt_text
from llmportal.gateway.service import GatewayService
from llmportal.gateway.types import ChatRequest, Message, TextPart
from llmportal.portal import Portal
from llmportal.users.models import User
from tests.fixtures.smtp import smtp_server
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import usage_rows
from tests.gateway.wiring import KeyMaker, api_key
from tests.keys.test_usage import add_usage

__all__ = ["api_key"]

HELLO = [{"role": "user", "content": "Hello"}]
DEAR = {"model": "dear", "messages": HELLO, "max_tokens": 100}
ANSWER_MICROS = 17_000  # 11 prompt + 6 completion tokens at $0.001


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def budgets(gw_portal: Portal, clock: Clock) -> Iterator[BudgetService]:
    """The portal's budgets on a clock of the test's; no token quota in the way."""
    service = build_budgets(gw_portal)
    service.clock = clock
    previous = gw_portal.services["budgets"]
    gw_portal.services["budgets"] = service
    gw_portal.services.pop("quota", None)
    yield service
    gw_portal.services["budgets"] = previous


async def budgeted_key(
    chat: httpx.AsyncClient, api_key: KeyMaker, user: User, **budget: Any
) -> tuple[dict[str, str], str]:
    """A real key of `user` with this budget, set through PATCH /api/keys/:id."""
    headers = await api_key(user)
    key_id = (await chat.get("/api/keys")).json()["keys"][0]["id"]
    r = await chat.patch(f"/api/keys/{key_id}", json=budget)
    assert r.status_code == 200, r.text
    return headers, key_id


async def key_json(chat: httpx.AsyncClient, key_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await chat.get(f"/api/keys/{key_id}")).json()
    return body


async def prompt_tokens(portal: Portal) -> int:
    gateway: GatewayService = portal.services["gateway"]
    req = ChatRequest(model="dear", messages=[Message("user", [TextPart("Hello")])])
    return await gateway.count_tokens("dear", prompt_text(req))


def sent_max_tokens(upstream: FakeUpstream) -> int:
    value: int = upstream.requests[-1]["body"]["max_tokens"]
    return value


async def test_the_reply_costing_less_gives_the_difference_back(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    fake_upstream: FakeUpstream,
) -> None:
    headers, key_id = await budgeted_key(chat, api_key, gw_user, maxBudget=1)
    r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
    assert r.status_code == 200, r.text
    assert sent_max_tokens(fake_upstream) == 100  # far from the budget: left as sent
    # Held: the prompt's bytes and 100 output tokens ($0.106); spent: the answer's $0.017.
    assert (await key_json(chat, key_id))["budgetSpend"] == ANSWER_MICROS / 1e6
    rows = [r for r in await usage_rows(gw_portal) if r.user_id == gw_user.id]
    assert [r.input_cost_micros + r.output_cost_micros for r in rows] == [ANSWER_MICROS]


async def test_near_the_end_max_tokens_is_lowered_then_429(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    fake_upstream: FakeUpstream,
    clock: Clock,
) -> None:
    headers, key_id = await budgeted_key(chat, api_key, gw_user, maxBudget=0.03)
    prompt = await prompt_tokens(gw_portal)
    r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
    assert r.status_code == 200, r.text
    assert sent_max_tokens(fake_upstream) == 30 - prompt  # $0.03 = prompt + what is left
    r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
    assert r.status_code == 200, r.text
    assert sent_max_tokens(fake_upstream) == 13 - prompt
    sent = len(fake_upstream.requests)
    r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
    assert r.status_code == 429
    assert r.json() == {
        "error": "Budget reached for API key 'wiring': $0.034 of its $0.03 lifetime budget spent",
        "budget": {
            "scope": "key",
            "id": key_id,
            "maxBudget": 0.03,
            "budgetPeriod": None,
            "spend": 0.034,
            "resetsAt": None,
        },
    }
    assert "retry-after" not in r.headers  # a lifetime budget does not reset
    assert len(fake_upstream.requests) == sent  # refused before the upstream
    rows = [row for row in await usage_rows(gw_portal) if row.user_id == gw_user.id]
    assert [(row.http_status, row.error) for row in rows][-1] == (429, r.json()["error"])


async def _used_up_key(
    chat: httpx.AsyncClient, api_key: KeyMaker, user: User, portal: Portal, clock: Clock
) -> tuple[dict[str, str], str]:
    """A key whose $0.01 daily budget was spent today, before the budget was set."""
    headers = await api_key(user)
    key_id = (await chat.get("/api/keys")).json()["keys"][0]["id"]
    await add_usage(portal, user.id, key_id, today=(clock.now, 1, 1, 10_000, 1, "success"))
    r = await chat.patch(f"/api/keys/{key_id}", json={"maxBudget": 0.01, "budgetPeriod": "daily"})
    assert r.status_code == 200 and r.json()["budgetSpend"] == 0.01
    return headers, key_id


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/chat/completions", DEAR),
        ("/api/chat/completions", {**DEAR, "stream": True}),
        ("/v1/messages", {**DEAR, "stream": True}),
        ("/v1/messages", DEAR),
        ("/v1/responses", {"model": "dear", "input": "Hello", "max_output_tokens": 100}),
    ],
    ids=["openai", "openai-stream", "anthropic-stream", "anthropic", "responses"],
)
async def test_a_spent_key_budget_refuses_every_format_the_same_way(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    fake_upstream: FakeUpstream,
    clock: Clock,
    path: str,
    body: dict[str, Any],
) -> None:
    headers, key_id = await _used_up_key(chat, api_key, gw_user, gw_portal, clock)
    sent = len(fake_upstream.requests)
    r = await chat.post(path, json=body, headers=headers)
    assert r.status_code == 429
    assert r.headers["content-type"].startswith("application/json")  # not an event stream
    assert r.json()["error"] == (
        "Budget reached for API key 'wiring': $0.01 of its $0.01 daily budget spent"
    )
    _, tomorrow = period_bounds("daily", clock.now)
    assert tomorrow is not None
    assert r.headers["retry-after"] == str(int((tomorrow - clock.now).total_seconds()))
    assert r.json()["budget"]["resetsAt"] == tomorrow.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(fake_upstream.requests) == sent


async def test_the_next_period_opens_the_budget_again(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    clock: Clock,
) -> None:
    headers, key_id = await _used_up_key(chat, api_key, gw_user, gw_portal, clock)
    assert (await chat.post("/v1/chat/completions", json=DEAR, headers=headers)).status_code == 429
    _, tomorrow = period_bounds("daily", clock.now)
    assert tomorrow is not None
    clock.now = tomorrow + timedelta(minutes=1)
    r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
    assert r.status_code == 200, r.text
    shown = await key_json(chat, key_id)
    assert shown["budgetSpend"] == ANSWER_MICROS / 1e6  # only the new day's answer
    assert shown["budgetResetsAt"] == (tomorrow + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_a_user_budget_holds_the_browser_and_every_key(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    clock: Clock,
) -> None:
    await add_usage(gw_portal, gw_user.id, None, web=(clock.now, 1, 1, 20_000, 1, "success"))
    r = await chat.patch("/api/user/profile", json={"maxBudget": 0.02, "budgetPeriod": "monthly"})
    assert r.status_code == 200 and r.json()["budgetSpend"] == 0.02
    headers, _ = await budgeted_key(chat, api_key, gw_user, maxBudget=100)  # a loose key budget
    _, month_end = period_bounds("monthly", clock.now)
    assert month_end is not None
    for extra in ({}, headers):  # the session, then the key
        r = await chat.post("/api/chat/completions", json=DEAR, headers=extra)
        assert r.status_code == 429
        assert r.json()["error"] == (
            "Budget reached for your account: $0.02 of its $0.02 monthly budget spent"
        )
        assert r.json()["budget"]["scope"] == "user"
        assert r.headers["retry-after"] == str(int((month_end - clock.now).total_seconds()))


async def test_a_request_that_could_cost_more_than_is_left_is_refused(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
) -> None:
    """A prompt dearer than what is left cannot be made to fit by lowering max_tokens."""
    headers, _ = await budgeted_key(chat, api_key, gw_user, maxBudget=0.005)
    body = {"model": "dear", "messages": [{"role": "user", "content": "word " * 50}]}
    r = await chat.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 429
    assert r.json()["error"] == (
        "This request could cost more than the $0.005 left of the $0.005 lifetime budget of "
        "API key 'wiring'"
    )


async def test_images_and_embeddings_are_held_to_budgets(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
) -> None:
    headers, key_id = await budgeted_key(chat, api_key, gw_user, maxBudget=0.05)
    image = {"model": "painter", "prompt": "a fox"}
    r = await chat.post("/v1/images/generations", json=image, headers=headers)
    assert r.status_code == 200, r.text
    assert (await key_json(chat, key_id))["budgetSpend"] == 0.04  # one image at $0.04
    r = await chat.post("/v1/images/generations", json=image, headers=headers)
    assert r.status_code == 429
    assert r.json()["error"].startswith("This request could cost more than the $0.01 left")
    r = await chat.post("/v1/images/generations", json={**image, "n": 2}, headers=headers)
    assert r.status_code == 429
    await chat.patch(f"/api/keys/{key_id}", json={"maxBudget": 0.04})
    r = await chat.post("/v1/embeddings", json={"model": "embed", "input": "hi"}, headers=headers)
    assert r.status_code == 429
    assert r.json()["error"].startswith("Budget reached for API key 'wiring': $0.04")


async def test_without_any_budget_no_tally_is_touched(
    chat: httpx.AsyncClient, gw_portal: Portal, api_key: KeyMaker, gw_user: User
) -> None:
    store = MemoryTallyStore()
    previous = gw_portal.services["budgets"]
    gw_portal.services["budgets"] = BudgetService(gw_portal.sessionmaker, store)
    try:
        headers = await api_key(gw_user)
        for extra in ({}, headers):
            r = await chat.post("/v1/chat/completions", json=DEAR, headers=extra)
            assert r.status_code == 200, r.text
    finally:
        gw_portal.services["budgets"] = previous
    assert not store.has_tallies()


async def test_alerts_at_80_and_100_percent_once_a_period(
    chat: httpx.AsyncClient,
    budgets: BudgetService,
    gw_user: User,
    gw_portal: Portal,
    api_key: KeyMaker,
    clock: Clock,
) -> None:
    assert budgets.alerts is not None
    with smtp_server() as (inbox, port):
        smtp = gw_portal.settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
        budgets.alerts.mailer = lambda: Mailer(smtp)
        headers, _ = await budgeted_key(
            chat, api_key, gw_user, maxBudget=0.04, budgetPeriod="daily"
        )

        async def spend_until_refused() -> list[int]:
            statuses = []
            while not statuses or statuses[-1] == 200:
                r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
                statuses.append(r.status_code)
                assert len(statuses) < 20
            r = await chat.post("/v1/chat/completions", json=DEAR, headers=headers)
            statuses.append(r.status_code)
            await budgets.alerts.drain()  # type: ignore[union-attr]
            return statuses

        statuses = await spend_until_refused()
        assert statuses[-2:] == [429, 429] and statuses.count(200) >= 3
        assert [m["To"] for m in inbox.messages] == [gw_user.email] * 2
        subjects = [m["Subject"] for m in inbox.messages]
        assert subjects == [
            "API key 'wiring' has spent 80% of its $0.04 daily budget",
            "API key 'wiring' has used up its $0.04 daily budget",
        ]
        body = inbox.messages[0].get_body(preferencelist=("plain",))
        assert body is not None
        _, tomorrow = period_bounds("daily", clock.now)
        assert tomorrow is not None
        assert f"until {tomorrow:%Y-%m-%d} 00:00 UTC" in body.get_content()
        # The next day the budget opens again, and alerts again.
        clock.now = tomorrow + timedelta(hours=1)
        await spend_until_refused()
        assert len(inbox.messages) == 4
        # Both again (one request may cross both thresholds: then their order is not fixed).
        assert sorted(m["Subject"] for m in inbox.messages[2:]) == sorted(subjects)
