"""Several deployments per model: the share each gets, retries on another deployment before the
fallbacks, cooldowns, per-deployment rpm, the routing strategies, and the admin view.

The deployments are three providers on the fake upstream, told apart by their keys."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest
from redis.asyncio import Redis

from llmportal.config import Catalog, DeploymentConfig, ModelConfig
from llmportal.gateway.endpoints import router_of
from llmportal.gateway.routing.router import DeploymentsBusy, DeploymentsCooling, Router
from llmportal.gateway.routing.shared import RedisRoutingState
from llmportal.portal import Portal
from llmportal.ratelimit import MemoryLimiter, RedisLimiter, RedisOutage
from tests.fixtures import factories
from tests.fixtures.backends import scale_redis_url
from tests.fixtures.upstreams import ROUTE_KEYS, TEXT, FakeUpstream
from tests.gateway.conftest import wait_usage

HELLO = [{"role": "user", "content": "Hello there"}]
BY_KEY = {f"Bearer {key}": provider for provider, key in ROUTE_KEYS.items()}


@pytest.fixture(autouse=True)
def fresh_router(gw_portal: Portal) -> Router:
    """Each test starts with no cooldowns, counts or latencies from another."""
    gateway = gw_portal.services["gateway"]
    gateway.router = router_of(gw_portal)
    if isinstance(gateway.router.state, RedisRoutingState):
        gateway.router.state._prefix = f"test-route-{secrets.token_hex(4)}:"
    gateway.router.limiter = MemoryLimiter()
    router: Router = gateway.router
    return router


@pytest.fixture
async def chat(gw_client: httpx.AsyncClient, gw_portal: Portal) -> httpx.AsyncClient:
    """Logged in on a plan without a token limit: these tests send many requests."""
    user = await factories.create_user(gw_portal, plan="UNLIMITED")
    await factories.login(gw_client, user.email)
    return gw_client


def hits(fake: FakeUpstream, since: int) -> list[str]:
    """The deployments the fake upstream was called on, in order, since request `since`."""
    found = [BY_KEY.get(r["headers"].get("authorization", "")) for r in fake.requests[since:]]
    return [f for f in found if f is not None]


async def ask(chat: httpx.AsyncClient, model: str, **extra: object) -> httpx.Response:
    return await chat.post(
        "/v1/chat/completions", json={"model": model, "messages": HELLO, **extra}
    )


async def test_weights_share_the_traffic(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    since = len(fake_upstream.requests)
    for _ in range(40):
        answers = await asyncio.gather(*(ask(chat, "routed") for _ in range(50)))
        assert {r.status_code for r in answers} == {200}
    shares = Counter(hits(fake_upstream, since))
    assert sum(shares.values()) == 2000
    for provider, expected in (("dep-a", 0.25), ("dep-b", 0.25), ("dep-c", 0.5)):
        assert abs(shares[provider] / 2000 - expected) <= 0.05, shares


async def test_a_failing_deployment_hands_the_request_to_another(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    since = len(fake_upstream.requests)
    r = await ask(chat, "routed-failover")
    assert r.status_code == 200, r.text
    assert r.json()["choices"][0]["message"]["content"] == TEXT
    tried = hits(fake_upstream, since)
    assert tried[0] == "dep-a" and tried[-1] == "dep-b"
    # One usage row for the request, naming the deployment that answered: nothing counted twice.
    rows = await wait_usage(gw_portal, 1)
    assert [(x.model, x.provider, x.status) for x in rows] == [
        ("routed-failover", "dep-b", "success")
    ]
    assert rows[0].prompt_tokens == 11 and rows[0].completion_tokens == 6
    # dep-a cools down: the next request goes straight to dep-b.
    since = len(fake_upstream.requests)
    r = await ask(chat, "routed-failover", stream=True)
    assert r.status_code == 200 and TEXT.split()[0] in r.text
    assert hits(fake_upstream, since) == ["dep-b"]


async def test_a_timeout_moves_on_to_another_deployment(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    since = len(fake_upstream.requests)
    r = await ask(chat, "routed-slow", stream=True)
    assert r.status_code == 200 and "data: [DONE]" in r.text
    assert hits(fake_upstream, since)[-1] == "dep-b"


async def test_a_rejected_request_is_not_tried_elsewhere(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, fresh_router: Router, gw_portal: Portal
) -> None:
    since = len(fake_upstream.requests)
    r = await ask(chat, "routed-rejects")
    assert r.status_code == 400
    assert "fake upstream says this is invalid" in r.json()["error"]
    assert hits(fake_upstream, since) == ["dep-a"]
    model = gw_portal.services["gateway"].registry.model("routed-rejects")
    assert not any(d["coolingDown"] for d in await fresh_router.view(model))


async def test_when_every_deployment_fails_the_fallback_answers(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    since = len(fake_upstream.requests)
    r = await ask(chat, "routed-down")
    assert r.status_code == 200, r.text
    assert sorted(set(hits(fake_upstream, since))) == ["dep-a", "dep-b"]
    rows = await wait_usage(gw_portal, 1)
    assert [(x.model, x.provider, x.status) for x in rows] == [
        ("oa-plain", "fake-openai", "success")
    ]
    # Both deployments cool down; the model is then skipped for its fallback at once.
    since = len(fake_upstream.requests)
    assert (await ask(chat, "routed-down")).status_code == 200
    assert hits(fake_upstream, since) == []


async def test_every_deployment_cooling_without_a_fallback_is_503(
    chat: httpx.AsyncClient, fresh_router: Router, gw_portal: Portal
) -> None:
    model = gw_portal.services["gateway"].registry.model("routed")
    for d in model.deployments:
        await fresh_router.state.cool(fresh_router.key(model, d), 30)
    r = await ask(chat, "routed")
    assert r.status_code == 503
    assert r.json() == {"error": "No deployment of model 'routed' is available: all failed lately"}
    rows = await wait_usage(gw_portal, 1)
    assert [(x.status, x.http_status) for x in rows] == [("error", 503)]


async def test_per_deployment_rpm_is_never_exceeded(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    since = len(fake_upstream.requests)
    answers = await asyncio.gather(*(ask(chat, "routed-rpm") for _ in range(5)))
    assert [a.status_code for a in answers] == [200] * 5
    assert Counter(hits(fake_upstream, since)) == {"dep-a": 2, "dep-b": 3}
    r = await ask(chat, "routed-rpm")
    assert r.status_code == 429
    assert "Every deployment of model 'routed-rpm' is at its rate limit" in r.json()["error"]
    assert 1 <= int(r.headers["retry-after"]) <= 60
    assert len(hits(fake_upstream, since)) == 5
    rows = await wait_usage(gw_portal, 6)
    assert Counter(x.http_status for x in rows) == {200: 5, 429: 1}


async def test_least_in_flight_spreads_concurrent_requests(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    # Both deployments hold each request 0.5 s: all ten are in flight at once, so each new one
    # goes to the deployment with fewer (a weighted shuffle would split 5/5 a quarter of the time).
    since = len(fake_upstream.requests)
    answers = await asyncio.gather(*(ask(chat, "routed-least") for _ in range(10)))
    assert {a.status_code for a in answers} == {200}
    assert Counter(hits(fake_upstream, since)) == {"dep-a": 5, "dep-b": 5}


async def test_lowest_latency_prefers_the_faster_deployment(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    for _ in range(2):  # each deployment is measured once first
        assert (await ask(chat, "routed-latency")).status_code == 200
    since = len(fake_upstream.requests)
    for _ in range(6):
        assert (await ask(chat, "routed-latency")).status_code == 200
    assert hits(fake_upstream, since) == ["dep-b"] * 6


async def test_a_stream_cut_on_a_deployment_is_an_error_event_and_a_row(
    chat: httpx.AsyncClient, gw_portal: Portal, fresh_router: Router
) -> None:
    r = await ask(chat, "routed-cut", stream=True)
    assert r.status_code == 200
    events = [json.loads(line[6:]) for line in r.text.splitlines() if line.startswith("data: {")]
    assert "error" in events[-1]
    rows = await wait_usage(gw_portal, 1)
    assert [(x.provider, x.status, x.http_status) for x in rows] == [("dep-a", "error", 502)]
    model = gw_portal.services["gateway"].registry.model("routed-cut")
    view = {d["id"]: d for d in await fresh_router.view(model)}
    assert view["dep-a/cut"]["coolingDown"] and view["dep-a/cut"]["failures"] == 1


# -- the admin view and the metrics ---------------------------------------------------------


async def test_admin_sees_each_deployment(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    assert (await ask(chat, "routed-failover")).status_code == 200
    admin = await factories.create_user(gw_portal, admin=True)
    await factories.login(chat, admin.email)
    r = await chat.get("/api/admin/deployments")
    assert r.status_code == 200
    models = {m["id"]: m for m in r.json()["models"]}
    failover = {d["id"]: d for d in models["routed-failover"]["deployments"]}
    assert failover["dep-a/error500"]["coolingDown"] is True
    assert 0 < failover["dep-a/error500"]["cooldownRemainingS"] <= 30
    assert failover["dep-a/error500"]["errorRate"] == 1.0
    assert failover["dep-b/plain"]["requests"] == 1 and failover["dep-b/plain"]["inFlight"] == 0
    assert failover["dep-b/plain"]["latencyMs"] > 0
    assert models["routed"]["routing"] == "weighted"
    assert [d["weight"] for d in models["routed"]["deployments"]] == [1, 1, 2]
    # One deployment, named after its provider and upstream model, for the plain models.
    assert [d["id"] for d in models["oa-plain"]["deployments"]] == ["fake-openai/plain"]
    metrics = (await chat.get("/metrics")).text
    assert 'deployment="dep-b/plain"' in metrics


async def test_the_admin_view_is_for_admins(chat: httpx.AsyncClient) -> None:
    assert (await chat.get("/api/admin/deployments")).status_code == 403


# -- configuration ---------------------------------------------------------------------------


def test_deployment_ids_are_made_unique_and_providers_checked() -> None:
    model = ModelConfig(
        id="m",
        deployments=[
            DeploymentConfig(provider="p", upstream_model="x"),
            DeploymentConfig(provider="p", upstream_model="x", weight=2),
        ],
    )
    assert [d.id for d in model.deployments] == ["p/x", "p/x#2"]
    assert model.provider == "p"
    with pytest.raises(ValueError, match="unknown provider 'q'"):
        Catalog.model_validate(
            {
                "providers": [{"id": "p", "type": "openai", "base_url": "http://127.0.0.1:9"}],
                "models": [{"id": "m", "deployments": [{"provider": "q"}]}],
            }
        )
    with pytest.raises(ValueError, match="needs a provider or deployments"):
        ModelConfig(id="m")
    with pytest.raises(ValueError, match="weight"):
        DeploymentConfig(provider="p", weight=0)


# -- two instances on one Redis ----------------------------------------------------------------


@pytest.fixture
async def two_routers() -> AsyncIterator[tuple[Router, Router]]:
    url = scale_redis_url()
    if not url:
        pytest.skip("needs LLMPORTAL_TEST_REDIS_URL (two instances sharing one Redis)")
    prefix = f"test-two-{secrets.token_hex(4)}:"
    clients = [Redis.from_url(url), Redis.from_url(url)]
    routers = tuple(
        Router(RedisLimiter(c, prefix + "rl:"), RedisRoutingState(c, prefix, RedisOutage()))
        for c in clients
    )
    yield routers[0], routers[1]
    for c in clients:
        await c.aclose()


def _two(rpm: int | None = None) -> ModelConfig:
    return ModelConfig(
        id="shared",
        deployments=[
            DeploymentConfig(provider="p", upstream_model="a", rpm=rpm),
            DeploymentConfig(provider="p", upstream_model="b", rpm=rpm),
        ],
    )


async def test_a_cooldown_is_seen_by_every_instance(two_routers: tuple[Router, Router]) -> None:
    one, two = two_routers
    model = _two()
    lease = await one.pick(model, set())
    assert lease is not None
    await lease.end(False)  # this deployment failed on instance one
    for _ in range(20):
        other = await two.pick(model, set())
        assert other is not None and other.deployment.id != lease.deployment.id
        await other.end(True)
    await (await two.pick(model, set()) or lease).end(False)
    with pytest.raises(DeploymentsCooling):
        await one.pick(model, set())


async def test_rpm_is_exact_across_instances(two_routers: tuple[Router, Router]) -> None:
    one, two = two_routers
    model = _two(rpm=10)

    async def take(router: Router) -> str:
        try:
            lease = await router.pick(model, set())
        except DeploymentsBusy:
            return "busy"
        assert lease is not None
        return lease.deployment.id

    taken = await asyncio.gather(*(take(r) for r in [one, two] * 20))
    assert Counter(taken) == {"p/a": 10, "p/b": 10, "busy": 20}
