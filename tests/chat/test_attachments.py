from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from llmportal.config import Settings
from tests.chat.helpers import PNG, multipart_body, new_message, new_session, stored_files, upload


async def test_upload_several_files(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    r = await upload(user_client, ("notes.md", b"# Title\n"), ("pixel.png", PNG))
    assert r.status_code == 201
    first, second = r.json()["attachments"]
    assert first["name"] == "notes.md"
    assert first["type"] == "text/markdown"
    assert first["size"] == 8
    assert first["url"] == f"/api/chat/attachments/{first['id']}"
    assert second["type"] == "image/png"
    assert len(stored_files(settings, user.id)) == 2
    download = await user_client.get(second["url"])
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "image/png"


async def test_type_is_sniffed_from_content_not_name(user_client: httpx.AsyncClient) -> None:
    r = await upload(user_client, ("photo.png", b"just some text"), ("data.bin", PNG))
    fake_png, real_png = r.json()["attachments"]
    assert fake_png["type"] == "text/plain"
    assert real_png["type"] == "image/png"
    download = await user_client.get(fake_png["url"])
    assert download.headers["content-type"].startswith("text/plain")


async def test_html_downloads_as_attachment_never_inline(user_client: httpx.AsyncClient) -> None:
    html = b"<html><body><script>alert(document.cookie)</script></body></html>"
    att = (await upload(user_client, ("page.html", html))).json()["attachments"][0]
    r = await user_client.get(att["url"])
    assert r.status_code == 200
    assert r.content == html
    assert r.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in r.headers["content-security-policy"]


async def test_client_filename_is_made_harmless(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    r = await upload(user_client, ("../../etc/résumé.txt", b"cv"))
    att = r.json()["attachments"][0]
    assert att["name"] == "résumé.txt"
    (path,) = stored_files(settings, user.id)
    assert path.parent.name == user.id
    download = await user_client.get(att["url"])
    assert download.headers["content-disposition"] == (
        "attachment; filename*=utf-8''r%C3%A9sum%C3%A9.txt"
    )


async def test_six_files_is_400_and_nothing_stored(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    r = await upload(user_client, *[(f"f{i}.txt", b"x") for i in range(6)])
    assert (r.status_code, r.json()) == (400, {"error": "At most 5 files per upload"})
    assert stored_files(settings, user.id) == []
    assert (await upload(user_client, *[(f"f{i}.txt", b"x") for i in range(5)])).status_code == 201


async def test_file_over_the_limit_is_413_and_nothing_left(
    user_client: httpx.AsyncClient,
    user: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "max_upload_bytes", 1000)
    r = await upload(user_client, ("small.txt", b"a" * 500), ("big.txt", b"b" * 1001))
    assert r.status_code == 413
    assert r.json() == {"error": "File too large (limit 1000 bytes)"}
    assert stored_files(settings, user.id) == []
    r = await upload(user_client, ("exact.txt", b"c" * 1000))
    assert r.status_code == 201


async def test_body_far_over_the_limit_is_refused_before_reading(
    user_client: httpx.AsyncClient,
    user: Any,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(settings, "max_upload_bytes", 1000)
    r = await upload(user_client, ("huge.bin", b"z" * 3_000_000))
    assert r.status_code == 413
    assert stored_files(settings, user.id) == []


async def test_upload_streams_to_storage_while_the_body_arrives(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    boundary = "streamboundary"
    seen_on_disk: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="big.txt"\r\n\r\n'
        ).encode()
        for _ in range(8):
            yield b"x" * 256 * 1024
            seen_on_disk.append(sum(p.stat().st_size for p in stored_files(settings, user.id)))
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await user_client.post(
        "/api/chat/attachments",
        content=body(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["attachments"][0]["size"] == 8 * 256 * 1024
    # Bytes reached the disk before the request body was complete.
    assert 0 < seen_on_disk[0] < seen_on_disk[3] < 8 * 256 * 1024


async def test_multipart_errors_are_400(user_client: httpx.AsyncClient) -> None:
    url = "/api/chat/attachments"
    r = await user_client.post(url, json={"files": []})
    assert (r.status_code, r.json()) == (400, {"error": "Expected a multipart/form-data body"})
    r = await user_client.post(url, content=b"x", headers={"Content-Type": "multipart/form-data"})
    assert (r.status_code, r.json()) == (400, {"error": "Multipart body has no valid boundary"})

    body, headers = multipart_body([("note", None, b"only a field")])
    r = await user_client.post(url, content=body, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "files is required"})

    body, headers = multipart_body([("file", "a.txt", b"wrong field")])
    r = await user_client.post(url, content=body, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "Unexpected file field 'file'"})

    body, headers = multipart_body([("files", "a.txt", b"cut short")])
    r = await user_client.post(url, content=body[:-30], headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "Multipart body ended early"})

    r = await user_client.post(url, content=b"garbage\r\n\r\n", headers=headers)
    assert r.status_code == 400

    body, headers = multipart_body([("note", None, b"n" * 70_000), ("files", "a.txt", b"a")])
    r = await user_client.post(url, content=body, headers=headers)
    assert (r.status_code, r.json()) == (400, {"error": "Field 'note' is too long"})


async def test_errors_leave_no_files(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    body, headers = multipart_body([("files", "a.txt", b"stored first"), ("file", "b.txt", b"x")])
    r = await user_client.post("/api/chat/attachments", content=body, headers=headers)
    assert r.status_code == 400
    assert stored_files(settings, user.id) == []


async def test_attachments_are_served_only_to_their_owner(
    user_client: httpx.AsyncClient, other_user_client: httpx.AsyncClient
) -> None:
    att = (await upload(user_client, ("secret.txt", b"mine"))).json()["attachments"][0]
    r = await other_user_client.get(att["url"])
    assert (r.status_code, r.json()) == (404, {"error": "Attachment not found"})
    r = await other_user_client.delete(att["url"])
    assert r.status_code == 404
    assert (await user_client.get(att["url"])).content == b"mine"
    assert (await user_client.get("/api/chat/attachments/cnothing")).status_code == 404


async def test_delete_attachment_removes_row_and_file(
    user_client: httpx.AsyncClient, user: Any, settings: Settings
) -> None:
    session = await new_session(user_client)
    att = (await upload(user_client, ("a.txt", b"a"))).json()["attachments"][0]
    await new_message(user_client, session["id"], attachments=[att])
    r = await user_client.delete(att["url"])
    assert (r.status_code, r.json()) == (200, {"success": True})
    assert (await user_client.get(att["url"])).status_code == 404
    assert stored_files(settings, user.id) == []
    messages = (await user_client.get(f"/api/chat/sessions/{session['id']}/messages")).json()
    assert messages["messages"][0]["attachments"] == []
