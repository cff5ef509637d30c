from __future__ import annotations

import base64
from typing import Any

import anyio
import httpx
from sqlalchemy import select

from llmportal.chat.model_parts import model_parts_for_attachments
from llmportal.chat.models import ChatAttachment
from llmportal.db import transaction
from llmportal.gateway.types import ImagePart, TextPart
from llmportal.portal import Portal
from llmportal.uploads import storage_for
from tests.chat.helpers import PNG, upload


def pdf_with_text(text: str) -> bytes:
    """A minimal, well-formed one-page PDF that shows `text` in Helvetica."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


async def attachments_of(portal: Portal, ids: list[str]) -> list[ChatAttachment]:
    async with transaction(portal.sessionmaker) as db:
        rows = {a.id: a for a in await db.scalars(select(ChatAttachment))}
    return [rows[i] for i in ids]


async def uploaded(portal: Portal, client: httpx.AsyncClient, *files: tuple[str, bytes]) -> Any:
    r = await upload(client, *files)
    assert r.status_code == 201, r.text
    return await attachments_of(portal, [a["id"] for a in r.json()["attachments"]])


async def test_text_like_files_become_text_parts(
    portal: Portal, user_client: httpx.AsyncClient
) -> None:
    files = [
        ("notes.md", b"# Heading\nbody"),
        ("table.csv", b"city,temp\nAthens,18\n"),
        ("data.json", b'{"a": 1}'),
        ("main.py", b"print('hi')\n"),
    ]
    rows = await uploaded(portal, user_client, *files)
    parts = await model_parts_for_attachments(storage_for(portal), rows)
    assert all(isinstance(p, TextPart) for p in parts)
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    for (name, data), text in zip(files, texts, strict=True):
        assert f'name="{name}"' in text
        assert data.decode() in text
    assert 'type="text/csv"' in texts[1]


async def test_pdf_text_is_extracted(portal: Portal, user_client: httpx.AsyncClient) -> None:
    rows = await uploaded(portal, user_client, ("paper.pdf", pdf_with_text("Quantum entanglement")))
    assert rows[0].mime_type == "application/pdf"
    (part,) = await model_parts_for_attachments(storage_for(portal), rows)
    assert isinstance(part, TextPart)
    assert "Quantum entanglement" in part.text
    assert 'name="paper.pdf"' in part.text


async def test_broken_pdf_becomes_a_note(portal: Portal, user_client: httpx.AsyncClient) -> None:
    rows = await uploaded(portal, user_client, ("bad.pdf", b"%PDF-1.4\nnot really a pdf"))
    (part,) = await model_parts_for_attachments(storage_for(portal), rows)
    assert isinstance(part, TextPart)
    assert part.text.startswith("[Attachment bad.pdf (application/pdf")
    assert "could not be extracted" in part.text


async def test_images_become_data_url_image_parts(
    portal: Portal, user_client: httpx.AsyncClient
) -> None:
    rows = await uploaded(portal, user_client, ("pixel.png", PNG))
    (part,) = await model_parts_for_attachments(storage_for(portal), rows)
    assert isinstance(part, ImagePart)
    assert part.media_type == "image/png"
    prefix = "data:image/png;base64,"
    assert part.url.startswith(prefix)
    assert base64.b64decode(part.url[len(prefix) :]) == PNG


async def test_oversized_image_and_binary_become_notes(
    portal: Portal, user_client: httpx.AsyncClient
) -> None:
    rows = await uploaded(portal, user_client, ("pixel.png", PNG), ("blob.bin", b"\x00\x01\x02"))
    parts = await model_parts_for_attachments(storage_for(portal), rows, max_image_bytes=10)
    assert [type(p) for p in parts] == [TextPart, TextPart]
    texts = [p.text for p in parts if isinstance(p, TextPart)]
    assert "not sent" in texts[0]
    assert (
        texts[1]
        == "[Attachment blob.bin (application/octet-stream, 3 bytes): not readable as text]"
    )


async def test_long_text_is_cut_and_marked(portal: Portal, user_client: httpx.AsyncClient) -> None:
    rows = await uploaded(portal, user_client, ("long.txt", "é".encode() * 50))
    (part,) = await model_parts_for_attachments(storage_for(portal), rows, max_text_chars=10)
    assert isinstance(part, TextPart)
    assert "é" * 10 + "\n[... truncated]" in part.text
    assert "é" * 11 not in part.text


async def test_missing_stored_file_becomes_a_note(
    portal: Portal, user_client: httpx.AsyncClient
) -> None:
    rows = await uploaded(portal, user_client, ("gone.txt", b"bye"))
    storage = storage_for(portal)
    await anyio.Path(storage.path_for(rows[0].user_id, rows[0].storage_name)).unlink()
    (part,) = await model_parts_for_attachments(storage, rows)
    assert isinstance(part, TextPart)
    assert "no longer available" in part.text
