"""The official openai SDK's `embeddings.create` against a real portal process: an OpenAI-type
upstream (the fake) and the local model, floats and base64, batches and token arrays, errors."""

from __future__ import annotations

import base64
import math
import struct

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import FakeUpstream, fake_vector

LOCAL = "SmolLM2-135M-Instruct"


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_a_batch_in_input_order(
    client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream, encoding: str
) -> None:
    texts = ["the cat sat", "on the mat", "hello"]
    resp = client.embeddings.create(model="embed", input=texts, encoding_format=encoding)  # type: ignore[arg-type]
    # Asked for explicitly, base64 reaches the caller as it is: little-endian float32.
    vectors = [
        list(struct.unpack("<8f", base64.b64decode(d.embedding)))
        if encoding == "base64"
        else d.embedding
        for d in resp.data
    ]
    got = [[round(x, 5) for x in v] for v in vectors]
    assert got == [[round(x, 5) for x in fake_vector(t)] for t in texts]
    assert [d.index for d in resp.data] == [0, 1, 2]
    assert resp.model == "embed"
    assert resp.usage.prompt_tokens == 3 + 3 + 1
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["prompt_tokens"]) == ("embed", "success", 7)
    assert (row["completion_tokens"], row["input_cost_micros"]) == (0, round(7 * 0.5))
    assert fake_upstream.last("plain")["path"] == "/v1/embeddings"


def test_the_sdk_default_is_base64_on_the_wire(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    raw = client.embeddings.with_raw_response.create(model="embed", input="hello")
    body = raw.http_response.json()
    assert isinstance(body["data"][0]["embedding"], str)  # what the SDK asked for
    assert [round(x, 5) for x in raw.parse().data[0].embedding] == [
        round(x, 5) for x in fake_vector("hello")
    ]
    assert fake_upstream.last("plain")["body"]["encoding_format"] == "float"


def test_token_arrays_and_dimensions_reach_the_upstream(
    client: openai.OpenAI, fake_upstream: FakeUpstream
) -> None:
    resp = client.embeddings.create(model="embed", input=[[1, 2, 3], [4, 5]], dimensions=4)
    assert [len(d.embedding) for d in resp.data] == [4, 4]
    assert resp.usage.prompt_tokens == 5
    sent = fake_upstream.last("plain")["body"]
    assert (sent["input"], sent["dimensions"]) == ([[1, 2, 3], [4, 5]], 4)


def test_an_upstream_without_usage_is_counted(client: openai.OpenAI, server: PortalServer) -> None:
    resp = client.embeddings.create(model="embed-nousage", input="a few words here")
    assert resp.usage.prompt_tokens > 0
    (row,) = server.usage(1)
    assert row["prompt_tokens"] == resp.usage.prompt_tokens


def test_the_local_model_answers_out_of_the_box(
    client: openai.OpenAI, server: PortalServer
) -> None:
    resp = client.embeddings.create(
        model=LOCAL, input=["The cat sat on the mat.", "A cat was sitting on a mat.", "Taxes"]
    )
    vectors = [d.embedding for d in resp.data]
    assert len({len(v) for v in vectors}) == 1 and len(vectors[0]) > 100
    assert all(math.isclose(sum(x * x for x in v), 1.0, rel_tol=1e-3) for v in vectors)

    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    # Unit vectors: the two sentences about a cat are nearer each other than to "Taxes".
    assert cos(vectors[0], vectors[1]) > cos(vectors[0], vectors[2])
    again = client.embeddings.create(model=LOCAL, input="The cat sat on the mat.")
    assert [round(x, 4) for x in again.data[0].embedding] == [round(x, 4) for x in vectors[0]]
    assert resp.usage.prompt_tokens > 5
    rows = server.usage(2)
    assert [(r["provider"], r["status"]) for r in rows] == [("local", "success")] * 2
    # Chat still works on the same worker after embeddings.
    chat = client.chat.completions.create(
        model=LOCAL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
    )
    assert chat.choices[0].message.content


def test_the_local_model_cannot_shorten_its_vectors(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model=LOCAL, input="hi", dimensions=8)
    assert "dimensions" in str(caught.value.body)


def test_a_chat_model_asked_for_embeddings_and_the_other_way(
    client: openai.OpenAI, server: PortalServer
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="oa-plain", input="hi")
    assert caught.value.body == "Model 'oa-plain' does not serve embeddings"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="embed", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body == "Model 'embed' does not serve chat completions"
    with pytest.raises(openai.BadRequestError):
        client.responses.create(model="embed", input="hi")
    assert [r["http_status"] for r in server.usage(3)] == [400, 400, 400]


@pytest.mark.parametrize(
    ("model", "status"), [("embed-error500", 502), ("embed-slow", 504), ("embed-badjson", 502)]
)
def test_upstream_failures_are_recorded(
    client: openai.OpenAI, server: PortalServer, model: str, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.embeddings.create(model=model, input="hi")
    assert caught.value.status_code == status
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["http_status"]) == (model, "error", status)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"input": []}, "input"),
        ({"input": [""]}, "input[0]"),
        ({"input": [1, "a"]}, "input"),
        ({"input": [[1, -2]]}, "input[0][1]"),
        ({"input": "x", "encoding_format": "int8"}, "encoding_format"),
        ({"input": "x", "dimensions": 0}, "dimensions"),
    ],
)
def test_bad_bodies_name_the_field(
    client: openai.OpenAI, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.embeddings.create(model="embed", **kwargs)  # type: ignore[arg-type]
    assert str(caught.value.body).startswith(field)


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(model="nope", input="hi")


def test_models_say_what_they_serve(client: openai.OpenAI) -> None:
    listed = {m.id: m.model_extra["capabilities"] for m in client.models.list()}  # type: ignore[index]
    assert listed["embed"]["embeddings"] and not listed["embed"]["chat"]
    assert listed[LOCAL]["embeddings"] and listed[LOCAL]["chat"]
    assert not listed["oa-plain"]["embeddings"] and listed["oa-plain"]["chat"]
