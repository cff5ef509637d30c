"""The fake upstream's Gemini API is Gemini's as Google's own `google-genai` SDK knows it: the SDK
pointed at the fake parses every answer, stream and error the portal's Gemini provider is
tested against (tests/fixtures/gemini_wire.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from google import genai
from google.genai import errors, types

from tests.fixtures.gemini_wire import GEMINI_KEY
from tests.fixtures.upstreams import TEXT, USAGE, FakeUpstream

WEATHER = types.Tool(
    function_declarations=[
        types.FunctionDeclaration(
            name="get_weather",
            parameters=types.Schema(
                type=types.Type.OBJECT,
                properties={"location": types.Schema(type=types.Type.STRING)},
            ),
        )
    ]
)


def sdk(fake: FakeUpstream, key: str = GEMINI_KEY) -> genai.Client:
    options = types.HttpOptions(
        base_url=fake.url,
        api_version="v1beta",  # the portal's (this SDK's default is v1)
        retry_options=types.HttpRetryOptions(attempts=1),
        timeout=10_000,
    )
    return genai.Client(api_key=key, http_options=options)


@pytest.fixture(scope="module")  # a Client takes ~0.4 s to make
def client(fake_upstream: FakeUpstream) -> Iterator[genai.Client]:
    c = sdk(fake_upstream)
    yield c
    c.close()


def test_a_text_answer_with_its_usage(client: genai.Client, fake_upstream: FakeUpstream) -> None:
    resp = client.models.generate_content(model="plain", contents="Hello")
    assert resp.text == TEXT
    assert resp.candidates and resp.candidates[0].finish_reason == types.FinishReason.STOP
    usage = resp.usage_metadata
    assert usage is not None
    assert usage.prompt_token_count == USAGE[0]
    assert (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0) == USAGE[1]
    sent = fake_upstream.requests[-1]
    assert sent["path"] == "/v1beta/models/plain:generateContent"
    assert sent["headers"]["x-goog-api-key"] == GEMINI_KEY


def test_a_stream_of_text_without_the_thought(
    client: genai.Client, fake_upstream: FakeUpstream
) -> None:
    chunks = list(client.models.generate_content_stream(model="plain", contents="Hello"))
    assert "".join(c.text or "" for c in chunks) == TEXT
    thoughts = [
        p
        for c in chunks
        for p in (c.candidates[0].content.parts or [])
        if p.thought  # type: ignore[index,union-attr]
    ]
    assert len(thoughts) == 1
    assert [c.usage_metadata is not None for c in chunks] == [False] * (len(chunks) - 1) + [True]
    sent = fake_upstream.requests[-1]
    assert (sent["path"], sent["query"]) == (
        "/v1beta/models/plain:streamGenerateContent",
        "alt=sse",
    )


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("scenario", "count"), [("tool", 1), ("parallel", 2)])
def test_function_calls(client: genai.Client, scenario: str, count: int, stream: bool) -> None:
    config = types.GenerateContentConfig(
        tools=[WEATHER],
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )
    if stream:
        chunks = client.models.generate_content_stream(
            model=scenario, contents="Weather?", config=config
        )
        calls = [fc for c in chunks for fc in (c.function_calls or [])]
    else:
        resp = client.models.generate_content(model=scenario, contents="Weather?", config=config)
        calls = resp.function_calls or []
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", {"location": "Athens, Greece"}),
        ("get_weather", {"location": "London, United Kingdom"}),
    ][:count]


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    ("scenario", "code", "status"),
    [
        ("error400", 400, "INVALID_ARGUMENT"),
        ("error429", 429, "RESOURCE_EXHAUSTED"),
        ("error500", 500, "INTERNAL"),
    ],
)
def test_errors_are_the_sdks_api_errors(
    client: genai.Client, scenario: str, code: int, status: str, stream: bool
) -> None:
    with pytest.raises(errors.APIError) as caught:
        if stream:
            list(client.models.generate_content_stream(model=scenario, contents="Hello"))
        else:
            client.models.generate_content(model=scenario, contents="Hello")
    assert (caught.value.code, caught.value.status) == (code, status)
    assert caught.value.message


def test_a_wrong_key_is_refused(fake_upstream: FakeUpstream) -> None:
    with sdk(fake_upstream, key="not-the-key") as c, pytest.raises(errors.APIError) as caught:
        c.models.generate_content(model="plain", contents="Hello")
    assert (caught.value.code, caught.value.status) == (401, "UNAUTHENTICATED")


def test_no_usage_when_the_scenario_has_none(client: genai.Client) -> None:
    resp = client.models.generate_content(model="nousage", contents="Hello")
    assert resp.text == TEXT
    assert resp.usage_metadata is None
