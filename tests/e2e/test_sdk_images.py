"""The official openai SDK's `images.generate` against a real portal process (an OpenAI-type
upstream, the fake): by URL and as base64, several images, priced per image, and the errors."""

from __future__ import annotations

import base64

import openai
import pytest

from tests.e2e.conftest import PortalServer
from tests.fixtures.upstreams import PNG_B64, FakeUpstream


@pytest.fixture
def client(openai_client: openai.OpenAI) -> openai.OpenAI:
    return openai_client


def test_by_url(client: openai.OpenAI, server: PortalServer, fake_upstream: FakeUpstream) -> None:
    resp = client.images.generate(model="painter", prompt="a red fox", size="1024x1024")
    assert resp.data is not None and len(resp.data) == 1
    assert resp.data[0].url == "https://images.example.com/0.png"
    assert resp.data[0].revised_prompt == "A picture of a red fox"
    sent = fake_upstream.last("plain")
    assert sent["path"] == "/v1/images/generations"
    assert (sent["body"]["size"], sent["body"]["response_format"], sent["body"]["n"]) == (
        "1024x1024",
        "url",
        1,
    )
    (row,) = server.usage(1)
    assert (row["model"], row["status"], row["images"]) == ("painter", "success", 1)
    assert (row["image_cost_micros"], row["prompt_tokens"]) == (40_000, 3)


def test_several_as_base64(client: openai.OpenAI, server: PortalServer) -> None:
    resp = client.images.generate(
        model="painter", prompt="a red fox", n=3, response_format="b64_json", quality="high"
    )
    assert resp.data is not None and len(resp.data) == 3
    assert all(base64.b64decode(d.b64_json or "").startswith(b"\x89PNG") for d in resp.data)
    assert resp.data[0].b64_json == PNG_B64
    (row,) = server.usage(1)
    assert (row["images"], row["image_cost_micros"]) == (3, 120_000)


def test_a_chat_model_is_400_naming_it(client: openai.OpenAI, server: PortalServer) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="oa-plain", prompt="a fox")
    assert caught.value.body == "Model 'oa-plain' does not serve images"
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model="painter", messages=[{"role": "user", "content": "x"}])
    assert caught.value.body == "Model 'painter' does not serve chat completions"
    assert [r["http_status"] for r in server.usage(2)] == [400, 400]


@pytest.mark.parametrize(("model", "status"), [("painter-error500", 502), ("painter-slow", 504)])
def test_upstream_failures_are_recorded(
    client: openai.OpenAI, server: PortalServer, model: str, status: int
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.images.generate(model=model, prompt="a fox")
    assert caught.value.status_code == status
    (row,) = server.usage(1)
    assert (row["status"], row["http_status"], row["images"], row["image_cost_micros"]) == (
        "error",
        status,
        0,
        0,
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "n": 0}, "n"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": "x", "extra_body": {"save_to_library": True}}, "save_to_library"),
    ],
)
def test_bad_bodies_name_the_field(
    client: openai.OpenAI, kwargs: dict[str, object], field: str
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.images.generate(model="painter", **kwargs)  # type: ignore[arg-type]
    assert str(caught.value.body).startswith(field)


def test_models_say_which_make_images(client: openai.OpenAI) -> None:
    listed = {m.id: m.model_extra["capabilities"] for m in client.models.list()}  # type: ignore[index]
    assert listed["painter"]["images"] and not listed["painter"]["chat"]
    assert not listed["oa-plain"]["images"]
