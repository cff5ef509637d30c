"""Completion metrics move as completions flow (a scrape before and after a known series), and
the request id reaches the upstream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from llmportal.portal import Portal
from llmportal.users.models import User
from tests.fixtures import factories
from tests.fixtures.in_loop_server import served_in_loop
from tests.fixtures.metrics import scrape
from tests.fixtures.upstreams import USAGE, FakeUpstream
from tests.gateway.conftest import usage_rows


@pytest.fixture
async def gw_user(gw_portal: Portal) -> User:
    """On a plan without a monthly cap, whatever ran before (quota is not under test here)."""
    user: User = await factories.create_user(gw_portal, plan="UNLIMITED")
    return user


def _body(model: str, stream: bool = False) -> dict[str, object]:
    return {"model": model, "messages": [{"role": "user", "content": "Hi"}], "stream": stream}


async def test_a_known_series_of_completions_moves_the_metrics(
    chat: httpx.AsyncClient, gw_portal: Portal
) -> None:
    before = await scrape(chat)
    for _ in range(2):
        assert (await chat.post("/api/chat/completions", json=_body("priced"))).status_code == 200
    streamed = await chat.post("/api/chat/completions", json=_body("oa-plain", stream=True))
    assert streamed.status_code == 200 and "[DONE]" in streamed.text
    failed = await chat.post("/api/chat/completions", json=_body("oa-error500"))
    assert failed.status_code == 502
    unknown = await chat.post("/api/chat/completions", json=_body("no-such-model-xyz"))
    assert unknown.status_code == 404
    assert len(await usage_rows(gw_portal)) == 5  # flushed: the writer's metrics are settled
    after = await scrape(chat)

    def delta(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    priced = {"model": "priced", "provider": "fake-openai"}
    assert delta("llmportal_completions_total", status="200", **priced) == 2
    assert delta("llmportal_completion_tokens_total", kind="prompt", **priced) == 2 * USAGE[0]
    assert delta("llmportal_completion_tokens_total", kind="completion", **priced) == 2 * USAGE[1]
    # 2.0 and 6.0 USD per million tokens.
    cost = delta("llmportal_completion_cost_usd_total", **priced)
    assert cost == pytest.approx(2 * (USAGE[0] * 2.0 + USAGE[1] * 6.0) / 1e6)
    assert delta("llmportal_completion_latency_seconds_count", **priced) == 2

    plain = {"model": "oa-plain", "provider": "fake-openai"}
    assert delta("llmportal_completions_total", status="200", **plain) == 1
    assert delta("llmportal_time_to_first_token_seconds_count", **plain) == 1
    assert delta("llmportal_time_to_first_token_seconds_count", **priced) == 0  # not streamed

    assert delta("llmportal_completions_total", model="oa-error500", status="502") == 1
    assert delta("llmportal_completions_total", model="unknown", status="404") == 1
    assert "no-such-model-xyz" not in after.text

    route = {"method": "POST", "route": "/api/chat/completions"}
    assert delta("llmportal_http_requests_total", status="200", **route) == 3
    assert delta("llmportal_http_requests_total", status="502", **route) == 1

    assert after.value("llmportal_inflight_streams") == before.value("llmportal_inflight_streams")
    assert after.value("llmportal_usage_writer_queue_depth") == 0
    assert delta("llmportal_usage_writer_flush_seconds_count") >= 1


@pytest.fixture(scope="module")
async def served(gw_app: FastAPI) -> AsyncIterator[str]:
    """The gateway app on a real socket: the ASGI test transport would buffer a whole stream."""
    async with served_in_loop(gw_app) as port:
        yield f"http://127.0.0.1:{port}"


async def test_an_open_stream_is_in_flight_until_it_ends(
    served: str, chat: httpx.AsyncClient, gw_user: User
) -> None:
    idle = (await scrape(chat)).value("llmportal_inflight_streams")
    body = _body("oa-drip", stream=True)
    async with httpx.AsyncClient(base_url=served, timeout=30) as http:
        await factories.login(http, gw_user.email)
        async with http.stream("POST", "/api/chat/completions", json=body) as r:
            assert r.status_code == 200
            # Kept referenced: an abandoned line iterator would be finalized, closing the stream.
            lines = r.aiter_lines()
            while not (await anext(lines)).startswith("data: "):
                pass  # the stream has started; it drips for 20 s
            assert (await scrape(chat)).value("llmportal_inflight_streams") == idle + 1
    # The client hung up: the stream winds down and leaves the gauge.
    for _ in range(200):
        if (await scrape(chat)).value("llmportal_inflight_streams") == idle:
            break
        await asyncio.sleep(0.05)
    assert (await scrape(chat)).value("llmportal_inflight_streams") == idle


@pytest.mark.parametrize("model", ["oa-plain", "an-plain"])
async def test_the_request_id_is_echoed_and_sent_upstream(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, model: str
) -> None:
    r = await chat.post(
        "/api/chat/completions", json=_body(model), headers={"X-Request-ID": "trace-42.abc"}
    )
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "trace-42.abc"
    assert fake_upstream.last("plain")["headers"]["x-request-id"] == "trace-42.abc"

    r = await chat.post("/api/chat/completions", json=_body(model))
    generated = r.headers["x-request-id"]
    assert generated and generated != "trace-42.abc"
    assert fake_upstream.last("plain")["headers"]["x-request-id"] == generated
