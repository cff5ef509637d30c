"""The fake upstream's Bedrock side, checked by AWS's own SDK: boto3's `bedrock-runtime` client
signs its requests and parses every answer the fake gives (so the portal's provider is tested
against the wire Bedrock speaks, not against our reading of it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, EventStreamError

from tests.fixtures import bedrock_wire
from tests.fixtures.upstreams import TEXT, USAGE, WEATHER_CALLS, FakeUpstream

HELLO = [{"role": "user", "content": [{"text": "Hello"}]}]


@pytest.fixture(scope="module")
def sdk(fake_upstream: FakeUpstream) -> Iterator[Any]:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=fake_upstream.url,
        region_name=bedrock_wire.REGION,
        aws_access_key_id=bedrock_wire.ACCESS_KEY,
        aws_secret_access_key=bedrock_wire.SECRET_KEY,
        config=Config(retries={"total_max_attempts": 1}),
    )
    yield client
    client.close()


def _streamed(sdk: Any, model: str) -> list[dict[str, Any]]:
    return list(sdk.converse_stream(modelId=model, messages=HELLO)["stream"])


def test_converse_text(sdk: Any) -> None:
    answer = sdk.converse(modelId="plain", messages=HELLO)
    assert answer["output"]["message"]["content"] == [{"text": TEXT}]
    assert answer["stopReason"] == "end_turn"
    assert (answer["usage"]["inputTokens"], answer["usage"]["outputTokens"]) == USAGE


@pytest.mark.parametrize("model", ["tool", "parallel"])
def test_converse_tool_calls(sdk: Any, model: str) -> None:
    answer = sdk.converse(modelId=model, messages=HELLO)
    uses = [b["toolUse"] for b in answer["output"]["message"]["content"]]
    expected = WEATHER_CALLS[: len(uses)]
    assert len(uses) == (2 if model == "parallel" else 1)
    assert [(u["toolUseId"], u["name"], u["input"]) for u in uses] == [
        (cid, name, json.loads(args)) for cid, name, args in expected
    ]
    assert answer["stopReason"] == "tool_use"


def test_converse_stream_text_and_usage(sdk: Any) -> None:
    events = _streamed(sdk, "plain")
    assert [next(iter(e)) for e in events][:2] == ["messageStart", "contentBlockDelta"]
    text = "".join(
        e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e
    )
    assert text == TEXT
    assert events[-2] == {"messageStop": {"stopReason": "end_turn"}}
    assert events[-1]["metadata"]["usage"]["outputTokens"] == USAGE[1]


def test_converse_stream_parallel_tool_calls(sdk: Any) -> None:
    events = _streamed(sdk, "parallel")
    starts = [
        e["contentBlockStart"]["start"]["toolUse"] for e in events if "contentBlockStart" in e
    ]
    assert [(s["toolUseId"], s["name"]) for s in starts] == [(c[0], c[1]) for c in WEATHER_CALLS]
    inputs: dict[int, str] = {}
    for e in events:
        if "contentBlockDelta" in e:
            index = e["contentBlockDelta"]["contentBlockIndex"]
            inputs[index] = (
                inputs.get(index, "") + e["contentBlockDelta"]["delta"]["toolUse"]["input"]
            )
    assert [json.loads(inputs[i]) for i in sorted(inputs)] == [
        json.loads(c[2]) for c in WEATHER_CALLS
    ]
    assert {"messageStop": {"stopReason": "tool_use"}} in events


def test_a_midstream_exception_reaches_the_sdk(sdk: Any) -> None:
    stream = sdk.converse_stream(modelId="midstream", messages=HELLO)["stream"]
    seen: list[dict[str, Any]] = []
    with pytest.raises(EventStreamError) as caught:
        for event in stream:
            seen.append(event)
    assert caught.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "overloaded mid-stream" in caught.value.response["Error"]["Message"]
    assert len(seen) == 3  # messageStart and two pieces of text came first


@pytest.mark.parametrize(
    ("model", "status", "code"),
    [
        ("error400", 400, "ValidationException"),
        ("error429", 429, "ThrottlingException"),
        ("error500", 500, "InternalServerException"),
    ],
)
@pytest.mark.parametrize("stream", [False, True])
def test_errors_carry_their_code(
    sdk: Any, model: str, status: int, code: str, stream: bool
) -> None:
    call = sdk.converse_stream if stream else sdk.converse
    with pytest.raises(ClientError) as caught:
        call(modelId=model, messages=HELLO)
    error = caught.value.response
    assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (status, code)


def test_a_wrong_secret_is_refused(fake_upstream: FakeUpstream) -> None:
    client = boto3.client(
        "bedrock-runtime",
        endpoint_url=fake_upstream.url,
        region_name=bedrock_wire.REGION,
        aws_access_key_id=bedrock_wire.ACCESS_KEY,
        aws_secret_access_key="not-the-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(ClientError) as caught:
        client.converse(modelId="plain", messages=HELLO)
    client.close()
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature we calculated does not match" in caught.value.response["Error"]["Message"]


def test_model_ids_with_colons_and_slashes_are_signed_as_sent(sdk: Any) -> None:
    # An inference-profile ARN: the fake verifies the signature over the path as it arrived.
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.plain:0"
    answer = sdk.converse(modelId=arn, messages=HELLO)
    assert answer["output"]["message"]["content"] == [{"text": TEXT}]
