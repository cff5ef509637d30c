"""Completions with `attachments` (llmportal's extension): the caller's uploads go to the model
with the last user message, text-like files and PDFs as text, images as image parts."""

from __future__ import annotations

import base64
import io
from typing import Any

import httpx
import pytest
from pypdf import PdfWriter
from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

from llmportal.portal import Portal
from llmportal.users.models import User
from tests.chat.helpers import PNG, upload
from tests.fixtures.upstreams import FakeUpstream
from tests.gateway.conftest import only_usage, usage_rows
from tests.gateway.wiring import KeyMaker, api_key, messages, new_session, other_chat

__all__ = ["api_key", "other_chat"]

ASK = [{"role": "user", "content": "What do my files say?"}]


def pdf_with_text(text: str) -> bytes:
    """A one-page PDF made with pypdf that shows `text` in Helvetica."""
    writer = PdfWriter()
    page = writer.add_blank_page(612, 792)
    font = DictionaryObject(
        {
            NameObject("/Type"): NameObject("/Font"),
            NameObject("/Subtype"): NameObject("/Type1"),
            NameObject("/BaseFont"): NameObject("/Helvetica"),
        }
    )
    fonts = DictionaryObject({NameObject("/F1"): font})
    page[NameObject("/Resources")] = DictionaryObject({NameObject("/Font"): fonts})
    content = DecodedStreamObject()
    content.set_data(f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode())
    page.replace_contents(content)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def attach(client: httpx.AsyncClient, *files: tuple[str, bytes], **kw: Any) -> list[str]:
    r = await upload(client, *files, **kw)
    assert r.status_code == 201, r.text
    return [a["id"] for a in r.json()["attachments"]]


def last_user_content(upstream: FakeUpstream) -> Any:
    body = upstream.requests[-1]["body"]
    return [m for m in body["messages"] if m["role"] == "user"][-1]["content"]


def texts(content: Any) -> str:
    return "\n".join(p["text"] for p in content if p["type"] == "text")


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("notes.txt", b"The secret word is pineapple."),
        ("notes.md", b"# Notes\n\nThe secret word is pineapple.\n"),
        ("table.csv", b"word,kind\npineapple,secret\n"),
        ("data.json", b'{"secret": "pineapple"}'),
        ("main.py", b'SECRET = "pineapple"\n'),
    ],
)
async def test_text_like_files_reach_the_model_as_text(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, name: str, data: bytes
) -> None:
    ids = await attach(chat, (name, data))
    body = {"model": "oa-plain", "messages": ASK, "attachments": ids}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    content = last_user_content(fake_upstream)
    assert content[0] == {"type": "text", "text": "What do my files say?"}
    assert f'<file name="{name}"' in content[1]["text"]
    assert "pineapple" in content[1]["text"]


async def test_pdf_text_is_extracted_for_an_anthropic_request(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    ids = await attach(chat, ("report.pdf", pdf_with_text("The launch code is mango")))
    body = {"model": "an-plain", "max_tokens": 50, "messages": ASK, "attachments": ids}
    r = await chat.post("/v1/messages", json=body)
    assert r.status_code == 200, r.text
    content = last_user_content(fake_upstream)
    assert "The launch code is mango" in texts(content)
    assert "%PDF" not in texts(content)


async def test_file_from_the_files_api_can_be_attached(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    r = await chat.post(
        "/api/files/upload", files={"file": ("todo.txt", b"buy pineapple", "text/plain")}
    )
    assert r.status_code == 201, r.text
    body = {"model": "oa-plain", "messages": ASK, "attachments": [r.json()["id"]]}
    assert (await chat.post("/api/chat/completions", json=body)).status_code == 200
    assert "buy pineapple" in texts(last_user_content(fake_upstream))


@pytest.mark.parametrize("stream", [False, True])
async def test_image_goes_to_a_vision_model_as_an_image_part(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream, stream: bool
) -> None:
    ids = await attach(chat, ("pixel.png", PNG))
    body = {"model": "vision-model", "messages": ASK, "attachments": ids, "stream": stream}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 200, r.text
    image = last_user_content(fake_upstream)[1]
    expected = "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert image == {"type": "image_url", "image_url": {"url": expected}}


async def test_image_to_a_model_without_vision_is_400(
    chat: httpx.AsyncClient, gw_portal: Portal, fake_upstream: FakeUpstream
) -> None:
    ids = await attach(chat, ("notes.txt", b"hi"), ("pixel.png", PNG))
    before = len(fake_upstream.requests)
    body = {"model": "oa-plain", "messages": ASK, "attachments": ids}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "Model 'oa-plain' does not accept images (attachment 'pixel.png')"}
    assert len(fake_upstream.requests) == before
    assert (await only_usage(gw_portal)).http_status == 400


async def test_image_with_a_key_without_vision_is_403(
    gw_client: httpx.AsyncClient, gw_user: User, api_key: KeyMaker, gw_portal: Portal
) -> None:
    headers = await api_key(gw_user, ["chat"])
    ids = await attach(gw_client, ("pixel.png", PNG), headers=headers)
    body = {"model": "vision-model", "messages": ASK, "attachments": ids}
    r = await gw_client.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 403
    assert r.json() == {"error": "This API key lacks the 'vision' permission"}
    assert (await only_usage(gw_portal)).http_status == 403


async def test_key_with_vision_may_send_images(
    gw_client: httpx.AsyncClient, gw_user: User, api_key: KeyMaker
) -> None:
    headers = await api_key(gw_user, ["chat", "vision"])
    ids = await attach(gw_client, ("pixel.png", PNG), headers=headers)
    body = {"model": "vision-model", "messages": ASK, "attachments": ids}
    r = await gw_client.post("/v1/chat/completions", json=body, headers=headers)
    assert r.status_code == 200, r.text


async def test_another_users_attachment_is_404(
    chat: httpx.AsyncClient,
    other_chat: httpx.AsyncClient,
    gw_portal: Portal,
    fake_upstream: FakeUpstream,
) -> None:
    theirs = await attach(other_chat, ("notes.txt", b"private"))
    mine = await attach(chat, ("notes.txt", b"mine"))
    before = len(fake_upstream.requests)
    for ids in (theirs, [*mine, *theirs], ["cnosuchattachment"]):
        body = {"model": "oa-plain", "messages": ASK, "attachments": ids}
        r = await chat.post("/api/chat/completions", json=body)
        assert r.status_code == 404
        assert r.json() == {"error": "Attachment not found"}
    assert len(fake_upstream.requests) == before
    assert [x.http_status for x in await usage_rows(gw_portal)] == [404, 404, 404]


@pytest.mark.parametrize(
    ("attachments", "message"),
    [
        ("abc", "attachments: must be an array"),
        ([""], "attachments[0]: must be a non-empty string"),
        ([1], "attachments[0]: must be a non-empty string"),
        ([f"id{i}" for i in range(21)], "attachments: at most 20 per request"),
    ],
)
async def test_malformed_attachments_are_400(
    chat: httpx.AsyncClient, attachments: Any, message: str
) -> None:
    body = {"model": "oa-plain", "messages": ASK, "attachments": attachments}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": message}


async def test_attachments_need_a_user_message(chat: httpx.AsyncClient) -> None:
    ids = await attach(chat, ("notes.txt", b"hi"))
    only_system = [{"role": "system", "content": "Be brief."}]
    body = {"model": "oa-plain", "messages": only_system, "attachments": ids}
    r = await chat.post("/api/chat/completions", json=body)
    assert r.status_code == 400
    assert r.json() == {"error": "attachments: the request has no user message to attach to"}


async def test_stored_user_message_links_its_attachments(
    chat: httpx.AsyncClient, fake_upstream: FakeUpstream
) -> None:
    session = await new_session(chat)
    ids = await attach(chat, ("notes.txt", b"pineapple"), ("pixel.png", PNG))
    r = await chat.post(
        "/api/files/upload", files={"file": ("todo.txt", b"buy mango", "text/plain")}
    )
    file_id = r.json()["id"]
    body = {
        "model": "vision-model",
        "messages": ASK,
        "attachments": [*ids, file_id],
        "session_id": session["id"],
        "stream": True,
    }
    assert (await chat.post("/api/chat/completions", json=body)).status_code == 200
    user_msg, reply = await messages(chat, session["id"])
    assert user_msg["content"] == "What do my files say?"  # the files' text is not stored
    assert [a["id"] for a in user_msg["attachments"]] == ids
    assert user_msg["metadata"] == {"files": [file_id]}
    assert reply["attachments"] == []
    # Sent again on a later turn: the model gets them again, they stay with their first message.
    body["messages"] = [*ASK, {"role": "assistant", "content": "ok"}, *ASK]
    assert (await chat.post("/api/chat/completions", json=body)).status_code == 200
    assert "pineapple" in texts(last_user_content(fake_upstream))
    stored = await messages(chat, session["id"])
    assert [len(m["attachments"]) for m in stored] == [2, 0, 0, 0]
