"""Send email over SMTP (aiosmtplib), or log it and write it to {data_dir}/outbox/ without SMTP.

Requests never wait on a mail server: endpoints hand messages to a background task that runs
after the transaction has committed, and a failure there is logged, not raised."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib

from llmportal.config import Settings
from llmportal.ids import new_id
from llmportal.portal import Portal

log = logging.getLogger("llmportal.email")

SMTP_TIMEOUT_S = 30.0


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class SmtpTarget:
    hostname: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool  # smtps://: TLS from the first byte
    start_tls: bool | None  # True: required, False: never, None: when the server offers it


def parse_smtp_url(url: str) -> SmtpTarget:
    parts = urlsplit(url)
    implicit_tls = parts.scheme == "smtps"
    flag = parse_qs(parts.query).get("starttls", [""])[0].lower()
    start_tls: bool | None = None
    if flag in ("true", "1", "yes"):
        start_tls = True
    elif flag in ("false", "0", "no"):
        start_tls = False
    if implicit_tls:
        start_tls = False
    default_port = 465 if implicit_tls else (587 if start_tls else 25)
    return SmtpTarget(
        hostname=parts.hostname or "localhost",
        port=parts.port or default_port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        use_tls=implicit_tls,
        start_tls=start_tls,
    )


def _plain_cte(body: str) -> str:
    """Keep ASCII bodies readable as they are (links intact for anyone reading the .eml file);
    anything else gets quoted-printable."""
    if body.isascii() and all(len(line) <= 998 for line in body.splitlines()):
        return "7bit"
    return "quoted-printable"


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.sender = settings.email_from
        self.smtp = parse_smtp_url(settings.smtp_url) if settings.smtp_url else None
        self.outbox = Path(settings.data_dir) / "outbox"

    def build(self, email: Email) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.sender
        msg["To"] = email.to
        msg["Subject"] = email.subject
        msg["Date"] = formatdate(localtime=False)
        domain = parseaddr(self.sender)[1].rpartition("@")[2] or "localhost"
        msg["Message-ID"] = make_msgid(domain=domain)
        msg.set_content(email.text, cte=_plain_cte(email.text))
        msg.add_alternative(email.html, subtype="html", cte=_plain_cte(email.html))
        return msg

    async def send(self, email: Email) -> None:
        """Deliver one message; raises on failure (see send_safely)."""
        msg = self.build(email)
        if self.smtp is None:
            path = await asyncio.to_thread(self._write_outbox, msg)
            # WARNING: without SMTP nobody receives it unless an operator looks at the outbox.
            log.warning(
                "SMTP_URL is not set: email %r to %s written to %s", email.subject, email.to, path
            )
            return
        t = self.smtp
        await aiosmtplib.send(
            msg,
            hostname=t.hostname,
            port=t.port,
            username=t.username,
            password=t.password,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            timeout=SMTP_TIMEOUT_S,
        )
        log.info("email %r sent to %s via %s:%s", email.subject, email.to, t.hostname, t.port)

    async def send_safely(self, email: Email) -> None:
        """For background tasks: the request already succeeded, so a failure is only logged."""
        try:
            await self.send(email)
        except Exception as exc:  # any SMTP, network or disk error
            # The message names the failure (refused, timeout, auth); the body is never logged.
            log.error(
                "email %r to %s failed: %s: %s", email.subject, email.to, type(exc).__name__, exc
            )

    def _write_outbox(self, msg: EmailMessage) -> Path:
        self.outbox.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.outbox / f"{stamp}-{new_id()}.eml"
        tmp = path.with_suffix(".tmp")
        # The file holds live tokens: readable by the portal's user only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(msg.as_bytes())
        os.replace(tmp, path)
        return path


def mailer_for(portal: Portal) -> Mailer:
    """The portal's mailer, made on first use."""
    mailer = portal.services.get("mailer")
    if mailer is None:
        mailer = portal.services["mailer"] = Mailer(portal.settings)
    assert isinstance(mailer, Mailer)
    return mailer
