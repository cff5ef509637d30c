"""Access logs: one structured line per request with the request id, who called and how it
went; never a password, a session token or an API key secret."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from llmportal.jsonio import loads
from llmportal.logs import JsonFormatter, TextFormatter
from llmportal.users.models import User
from tests.fixtures import factories
from tests.keys.helpers import create_key


def access_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "llmportal.access"]


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    json_fmt, text_fmt = JsonFormatter(), TextFormatter()
    return "\n".join(json_fmt.format(r) + "\n" + text_fmt.format(r) for r in caplog.records)


async def test_one_json_line_per_request_with_its_id(
    user_client: httpx.AsyncClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    r = await user_client.get("/api/user/profile", headers={"X-Request-ID": "req-123_abc.9"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "req-123_abc.9"
    [record] = access_records(caplog)
    line = loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-123_abc.9"
    assert line["route"] == "/api/user/profile"
    assert line["status"] == 200
    assert line["user"] == user.id
    assert isinstance(line["ms"], float)
    assert line["level"] == "info" and line["logger"] == "llmportal.access"


@pytest.mark.parametrize("bad", ["x" * 65, "has space", 'quote"d', ""])
async def test_an_unusable_incoming_id_is_replaced(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture, bad: str
) -> None:
    caplog.set_level(logging.INFO)
    r = await client.get("/health/live", headers={"X-Request-ID": bad})
    generated = r.headers["x-request-id"]
    assert generated and generated != bad
    assert access_records(caplog)[-1].fields["request_id"] == generated  # type: ignore[attr-defined]


async def test_each_request_gets_its_own_id(client: httpx.AsyncClient) -> None:
    ids = {(await client.get("/health/live")).headers["x-request-id"] for _ in range(3)}
    assert len(ids) == 3


async def test_no_secrets_in_the_logs(
    client: httpx.AsyncClient, user: User, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the level the portal logs at
    await factories.login(client, user.email)
    session_token = client.cookies.get("llmportal_session")
    assert session_token
    created = await create_key(client)
    secret = created["key"]
    client.cookies.clear()
    r = await client.get("/api/user/profile", headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 200
    logged = everything_logged(caplog)
    assert factories.PASSWORD not in logged
    assert session_token not in logged
    assert secret not in logged
    # Yet the key's public prefix identifies the caller.
    key_line = loads(JsonFormatter().format(access_records(caplog)[-1]))
    assert key_line["key"] and secret.startswith(key_line["key"].rstrip("…."))
    assert key_line["user"] == user.id


def test_text_format_for_people() -> None:
    record = logging.LogRecord("llmportal.access", logging.INFO, __file__, 1, "GET / 200", (), None)
    record.fields = {"request_id": "abc", "status": 200, "user": None}
    line = TextFormatter().format(record)
    assert "GET / 200" in line and "request_id=abc" in line and "user=" not in line


def test_json_timestamps_are_utc_whatever_the_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        record = logging.LogRecord("t", logging.INFO, __file__, 1, "hi", None, None)
        record.created, record.msecs = 1_800_000_000.25, 250.0
        line = loads(JsonFormatter().format(record))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert line["ts"] == "2027-01-15T08:00:00.250Z"
