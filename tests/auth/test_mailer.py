from __future__ import annotations

import asyncio
import logging
import os
import stat
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager

from llmportal.app import create_app
from llmportal.config import Settings
from llmportal.email.mailer import Email, Mailer, parse_smtp_url
from llmportal.email.templates import verification_email
from tests.auth.helpers import register
from tests.conftest import BASE_URL, make_settings
from tests.fixtures.outbox import Outbox
from tests.fixtures.smtp import free_port, smtp_server


def test_smtp_urls() -> None:
    t = parse_smtp_url("smtp://user%40x:p%3Ass@mail.example.com:587?starttls=true")
    assert (t.hostname, t.port, t.username, t.password) == (
        "mail.example.com",
        587,
        "user@x",
        "p:ss",
    )
    assert t.start_tls is True and t.use_tls is False
    t = parse_smtp_url("smtps://mail.example.com")
    assert (t.port, t.use_tls, t.start_tls, t.username) == (465, True, False, None)
    t = parse_smtp_url("smtp://127.0.0.1:2525")
    assert (t.port, t.use_tls, t.start_tls) == (2525, False, None)
    assert parse_smtp_url("smtp://h?starttls=false").start_tls is False
    assert parse_smtp_url("smtp://h").port == 25
    assert parse_smtp_url("smtp://h?starttls=true").port == 587


def _settings(settings: Settings, tmp_path: Path, smtp_url: str | None) -> Settings:
    return settings.model_copy(
        update={
            "smtp_url": smtp_url,
            "data_dir": str(tmp_path),
            "email_from": "Portal <portal@example.org>",
        }
    )


def _email(token: str = "tok-123") -> Email:
    return verification_email("https://portal.example.org", "ada@example.com", "Ada", token)


async def test_without_smtp_the_email_lands_in_the_outbox(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(_settings(settings, tmp_path, None))
    with caplog.at_level(logging.INFO, logger="llmportal.email"):
        await mailer.send(_email("secret-token-abc"))
    (path,) = (tmp_path / "outbox").glob("*.eml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    outbox = Outbox(tmp_path / "outbox")
    msg = outbox.last("ada@example.com")
    assert msg["From"] == "Portal <portal@example.org>"
    assert msg["Message-ID"].endswith("@example.org>")
    link = "https://portal.example.org/verify-email?token=secret-token-abc"
    assert link in outbox.text(msg)
    assert f'href="{link}"' in outbox.html(msg)
    assert "Hello Ada," in outbox.text(msg)
    assert "ada@example.com" in caplog.text
    assert "secret-token-abc" not in caplog.text


async def test_html_escapes_the_name(settings: Settings, tmp_path: Path) -> None:
    email = verification_email("http://x", "a@example.com", "<script>alert(1)</script>", "t")
    assert "<script>" not in email.html
    assert "&lt;script&gt;" in email.html


async def test_smtp_delivery(settings: Settings, tmp_path: Path) -> None:
    with smtp_server() as (inbox, port):
        mailer = Mailer(_settings(settings, tmp_path, f"smtp://127.0.0.1:{port}"))
        await mailer.send(_email("tok-smtp"))
    (msg,) = inbox.messages
    assert inbox.envelopes == [("portal@example.org", ["ada@example.com"])]
    assert msg["Subject"] == "Verify your email address"
    assert msg.get_body(preferencelist=("plain",)) is not None
    html = msg.get_body(preferencelist=("html",))
    assert html is not None and "tok-smtp" in html.get_content()  # type: ignore[attr-defined]
    assert not (tmp_path / "outbox").exists()


async def test_a_failed_send_is_logged_not_raised(
    settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = Mailer(_settings(settings, tmp_path, f"smtp://127.0.0.1:{free_port()}"))
    with caplog.at_level(logging.ERROR, logger="llmportal.email"):
        await mailer.send_safely(_email("tok-never-logged"))
    assert "failed" in caplog.text and "ada@example.com" in caplog.text
    assert "tok-never-logged" not in caplog.text


async def test_register_succeeds_when_the_mail_server_is_down(
    database_url: str, tmp_path: Path, portal: Any, caplog: pytest.LogCaptureFixture
) -> None:
    broken = make_settings(database_url, tmp_path, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    app = create_app(broken)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50010))
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as c:
            with caplog.at_level(logging.ERROR, logger="llmportal.email"):
                r = await register(c, email="down@example.com")
                await asyncio.sleep(0)
    assert r.status_code == 201
    assert "down@example.com" in caplog.text
