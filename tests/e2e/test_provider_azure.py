"""The `azure` provider type: Azure OpenAI's URL per deployment, `api-version` and `api-key`,
checked against what openai's own `AzureOpenAI` client sends, then driven through the portal."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from llmportal.config import ModelConfig, ProviderConfig
from llmportal.gateway.providers.azure import AzureProvider
from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import TEXT, FakeUpstream

HELLO = [{"role": "user", "content": "Hello there"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


def _wire(request: dict[str, object]) -> tuple[object, object, object]:
    headers = request["headers"]
    assert isinstance(headers, dict)
    return request["path"], request["query"], headers.get("api-key")


@pytest.mark.parametrize("stream", [False, True])
def test_the_portal_calls_azure_as_the_official_sdk_does(
    client: openai.OpenAI, fake_upstream: FakeUpstream, stream: bool
) -> None:
    sdk = openai.AzureOpenAI(
        azure_endpoint=fake_upstream.url,
        api_key="sk-fake-azure",
        api_version="2024-10-21",
        max_retries=0,
    )
    # The fake answers what the SDK parses: text, and a stream.
    if stream:
        chunks = sdk.chat.completions.create(model="plain", messages=HELLO, stream=True)  # type: ignore[arg-type]
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    else:
        text = sdk.chat.completions.create(model="plain", messages=HELLO).choices[0].message.content  # type: ignore[arg-type,assignment]
    assert text == TEXT
    by_sdk = _wire(fake_upstream.requests[-1])
    answer = client.chat.completions.create(model="az-plain", messages=HELLO, stream=stream)  # type: ignore[call-overload]
    if stream:
        text = "".join(c.choices[0].delta.content or "" for c in answer if c.choices)
    else:
        text = answer.choices[0].message.content
    assert text == TEXT
    by_portal = _wire(fake_upstream.requests[-1])
    assert (
        by_portal
        == by_sdk
        == (
            "/openai/deployments/plain/chat/completions",
            "api-version=2024-10-21",
            "sk-fake-azure",
        )
    )
    assert "authorization" not in fake_upstream.requests[-1]["headers"]


@pytest.mark.parametrize("stream", [False, True])
def test_parallel_tool_calls(client: openai.OpenAI, stream: bool) -> None:
    kwargs = {"model": "az-parallel", "messages": HELLO, "tools": [WEATHER]}
    if stream:
        calls: dict[int, str] = {}
        for chunk in client.chat.completions.create(**kwargs, stream=True):  # type: ignore[call-overload]
            for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                calls[tc.index] = calls.get(tc.index, "") + (tc.function.arguments or "")
        args = [json.loads(calls[i]) for i in sorted(calls)]
    else:
        resp = client.chat.completions.create(**kwargs)  # type: ignore[call-overload]
        args = [json.loads(c.function.arguments) for c in resp.choices[0].message.tool_calls]
    assert [a["location"] for a in args] == ["Athens, Greece", "London, United Kingdom"]


def test_an_anthropic_client_through_azure(anthropic_client: Any) -> None:
    sdk = anthropic_client
    msg = sdk.messages.create(model="az-tool", max_tokens=64, messages=HELLO, tools=[
        {"name": "get_weather", "input_schema": {"type": "object"}}
    ])  # fmt: skip
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in msg.content if b.type == "tool_use"] == ["tool_use"]


@pytest.mark.parametrize(("model", "status"), [("az-error500", 502), ("az-error400", 400)])
def test_upstream_errors_keep_their_meaning(
    client: openai.OpenAI, server: PortalServer, model: str, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model=model, messages=HELLO)  # type: ignore[arg-type]
    assert caught.value.status_code == status
    assert [(r["provider"], r["http_status"]) for r in server.usage(1)] == [("fake-azure", status)]


def test_embeddings_on_a_deployment(client: openai.OpenAI, fake_upstream: FakeUpstream) -> None:
    resp = client.embeddings.create(model="az-embed", input=["one", "two"])
    assert len(resp.data) == 2
    sent = fake_upstream.requests[-1]
    assert (sent["path"], sent["query"]) == (
        "/openai/deployments/plain/embeddings",
        "api-version=2024-10-21",
    )


def test_an_entra_token_goes_as_a_bearer_header() -> None:
    cfg = ProviderConfig(
        id="az",
        type="azure",
        base_url="https://example.openai.azure.com/",
        api_key="entra-token",
        azure_auth="bearer",
        api_version="2025-01-01-preview",
    )
    provider = AzureProvider(cfg)
    assert provider.headers["Authorization"] == "Bearer entra-token"
    assert "api-key" not in provider.headers
    model = ModelConfig(id="m", provider="az", upstream_model="my deployment")
    assert provider.endpoint(model, "/chat/completions") == (
        "https://example.openai.azure.com/openai/deployments/my%20deployment/chat/completions"
        "?api-version=2025-01-01-preview"
    )
