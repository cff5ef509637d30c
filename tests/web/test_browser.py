"""The main flow in headless Chromium against a real server: register -> verify by the mailed
link -> sign in -> a streamed chat answer (and a tool call) -> an API key that works.
Screenshots at desktop and phone widths go to $LLMPORTAL_SCREENSHOTS (or the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.factories import PASSWORD
from tests.fixtures.upstreams import TEXT, FakeUpstream
from tests.web.conftest import WebServer, browser_or_skip

EMAIL = "browser@example.com"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("LLMPORTAL_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


async def _verify_link(server: WebServer, to: str) -> str:
    deadline = time.monotonic() + 10
    while True:
        try:
            return server.outbox.link(to, "verify-email")
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def _watch_console(page: Any, problems: list[str]) -> None:
    def on_console(message: Any) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "")
        # The browser logs every refused request; the one this test makes on purpose is fine.
        if "status of 403" in message.text and where.endswith("/api/auth/login"):
            return
        problems.append(f"{message.text} ({where})")

    page.on("console", on_console)
    page.on("pageerror", lambda e: problems.append(str(e)))


@asynccontextmanager
async def _browser_page(
    server: WebServer, viewport: dict[str, int]
) -> AsyncIterator[tuple[Any, Any, list[str]]]:
    """Headless Chromium with one page on the server; `problems` collects console errors."""
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright

    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=viewport, base_url=server.url)
            page = await context.new_page()
            _watch_console(page, problems)
            yield browser, page, problems
        finally:
            await browser.close()


async def _fill_sign_in(page: Any, email: str) -> None:
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password", exact=True).fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def test_register_verify_login_chat_and_create_key(
    web_server: WebServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    shots = _shots(tmp_path)
    async with _browser_page(web_server, DESKTOP) as (browser, page, problems):
        # Signed out, the app sends a visitor to the sign-in page.
        await page.goto("/chat")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

        # Register.
        await page.get_by_role("link", name="Create an account").click()
        await page.get_by_label("Name").fill("Browser Tester")
        await page.get_by_label("Email").fill(EMAIL)
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.screenshot(path=shots / "desktop-register.png")
        await page.get_by_role("button", name="Create account").click()
        await expect(page.get_by_text(f"We sent a verification link to {EMAIL}")).to_be_visible()

        # Signing in before verifying is refused with the server's message.
        await page.goto("/login")
        await _fill_sign_in(page, EMAIL)
        await expect(page.get_by_role("alert")).to_have_text("Email not verified")

        # The link from the email opens the verify page, which verifies the address.
        link = await _verify_link(web_server, EMAIL)
        assert link.startswith(f"{web_server.url}/verify-email?token=")
        await page.goto(link)
        await expect(page.get_by_text("Your email is verified")).to_be_visible()
        # The Free plan's allowance is smaller than one completion's reservation; quotas
        # are tested elsewhere.
        web_server.cli("user", "set-plan", "--email", EMAIL, "--plan", "UNLIMITED")
        await page.screenshot(path=shots / "desktop-verified.png")

        # Sign in; the app lands on the chat.
        await page.get_by_role("link", name="Sign in").click()
        await _fill_sign_in(page, EMAIL)
        await expect(page).to_have_url(re.compile(r"/chat$"))
        models = page.get_by_label("Model")
        await expect(models).to_have_value("oa-plain")

        # A streamed answer, rendered and stored in the session.
        box = page.get_by_label("Message", exact=True)
        await box.fill("Say hello")
        await box.press("Enter")
        answer = page.locator("article.msg.assistant").last
        await expect(answer.locator(".body")).to_have_text(TEXT)
        await expect(answer).not_to_have_class(re.compile("streaming"))
        await expect(page).to_have_url(re.compile(r"/chat/[a-z0-9]+$"))
        await expect(page.locator(".session-list a").first).to_have_text("Say hello")
        await answer.get_by_role("button", name="Good answer").click()
        await expect(answer.get_by_role("button", name="Good answer")).to_have_attribute(
            "aria-pressed", "true"
        )
        stored = await page.evaluate(
            "async () => (await (await fetch(location.pathname.replace('/chat/',"
            " '/api/chat/sessions/') + '/messages')).json()).messages"
        )
        assert [(m["role"], m["content"]) for m in stored] == [
            ("user", "Say hello"),
            ("assistant", TEXT),
        ]
        assert stored[1]["rating"] == 1

        # A tool call is shown.
        await models.select_option("oa-tool")
        await box.fill("Weather in Athens?")
        await box.press("Enter")
        await expect(page.get_by_text("Tool call: get_weather")).to_be_visible()
        await page.screenshot(path=shots / "desktop-chat.png")

        # The session survives a reload (deep link served by the app's fallback).
        await page.reload()
        await expect(page.locator("article.msg")).to_have_count(4)

        # Create an API key; the secret is shown once and works against the API.
        await page.get_by_role("link", name="API keys").click()
        await page.get_by_role("button", name="+ Create key").click()
        await page.get_by_label("Name").fill("Browser key")
        await page.get_by_role("button", name="Create key", exact=True).click()
        secret = await page.get_by_label("API key", exact=True).input_value()
        assert secret.startswith("sk-")
        await page.screenshot(path=shots / "desktop-key-created.png")
        await page.get_by_role("button", name="Close").click()
        await expect(page.get_by_role("cell", name="Browser key")).to_be_visible()
        await expect(page.locator(".badge").first).to_have_text("ACTIVE")
        await page.screenshot(path=shots / "desktop-keys.png")
        async with httpx.AsyncClient(base_url=web_server.url) as http:
            r = await http.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert r.status_code == 200, r.text

        # Edit its permissions, IP whitelist, allowed models and limits.
        await expect(page.get_by_role("cell", name="all", exact=True)).to_be_visible()
        await page.get_by_role("button", name="Edit").click()
        await page.get_by_role("checkbox", name="library").check()
        await page.get_by_label("IP whitelist").fill("127.0.0.1\n10.0.0.0/8")
        available = "Available: oa-plain, oa-tool, oa-drip, oa-priced."
        await expect(page.get_by_text(available)).to_be_visible()
        await page.get_by_label("Allowed models").fill("oa-p*, oa-tool")
        await page.get_by_label("Requests per minute").fill("60")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("cell", name="chat, library")).to_be_visible()
        await expect(page.get_by_role("cell", name="oa-p*, oa-tool")).to_be_visible()
        keys = await page.evaluate("async () => (await (await fetch('/api/keys')).json()).keys")
        assert keys[0]["ipWhitelist"] == ["127.0.0.1", "10.0.0.0/8"]
        assert keys[0]["models"] == ["oa-p*", "oa-tool"]
        assert keys[0]["rpmLimit"] == 60
        async with httpx.AsyncClient(base_url=web_server.url) as http:
            r = await http.get("/v1/models", headers={"Authorization": f"Bearer {secret}"})
        assert [m["id"] for m in r.json()["data"]] == ["oa-plain", "oa-tool", "oa-priced"]

        # Revoke and reactivate.
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept("testing")))
        await page.get_by_role("button", name="Revoke").click()
        await expect(page.locator(".badge").first).to_have_text("REVOKED")
        await page.get_by_role("button", name="Reactivate").click()
        await expect(page.locator(".badge").first).to_have_text("ACTIVE")

        # The other pages load without errors.
        for name, loaded in [
            ("Usage", "Tokens per day"),
            ("Billing", "Plans"),
            ("Library", "Collections"),
        ]:
            await page.get_by_role("link", name=name, exact=True).click()
            await expect(page.get_by_role("heading", name=name, exact=True)).to_be_visible()
            await expect(page.get_by_role("heading", name=loaded, exact=True)).to_be_visible()
            await expect(page.locator(".alert.error")).to_have_count(0)
            await page.screenshot(path=shots / f"desktop-{name.lower()}.png", full_page=True)
        # The chat's two completions show in the usage summary.
        await page.get_by_role("link", name="Usage", exact=True).click()
        await expect(page.get_by_role("cell", name="oa-plain")).to_be_visible()
        # A note in the library.
        await page.get_by_role("link", name="Library", exact=True).click()
        await page.get_by_role("button", name="New note").click()
        await page.get_by_label("Title").fill("Trip ideas")
        await page.get_by_label("Text").fill("hiking in the alps")
        await page.get_by_role("button", name="Save note").click()
        await expect(page.get_by_role("heading", name="Trip ideas")).to_be_visible()
        await page.screenshot(path=shots / "desktop-library-note.png", full_page=True)
        await page.get_by_role("link", name="Settings").click()
        await expect(page.get_by_role("heading", name="Two-factor authentication")).to_be_visible()
        await page.screenshot(path=shots / "desktop-settings.png", full_page=True)

        # Phone width: the same session, the menu and chats behind toggles.
        phone = await browser.new_context(
            viewport=PHONE,
            base_url=web_server.url,
            is_mobile=True,
            has_touch=True,
            storage_state=await page.context.storage_state(),
        )
        mobile = await phone.new_page()
        _watch_console(mobile, problems)
        await mobile.goto("/chat")
        await expect(mobile.get_by_label("Message", exact=True)).to_be_visible()
        await mobile.screenshot(path=shots / "phone-chat-empty.png")
        await mobile.get_by_role("button", name="Show chats").click()
        await mobile.locator(".session-list a").first.click()
        await expect(mobile.locator("article.msg.assistant").first).to_contain_text(TEXT)
        await mobile.screenshot(path=shots / "phone-chat.png")
        await mobile.get_by_role("button", name="Menu").click()
        await mobile.get_by_role("link", name="API keys").click()
        await expect(mobile.get_by_role("heading", name="API keys")).to_be_visible()
        await mobile.screenshot(path=shots / "phone-keys.png", full_page=True)
        await mobile.get_by_role("button", name="Menu").click()
        await mobile.get_by_role("button", name="Sign out").click()
        await expect(mobile.get_by_role("heading", name="Sign in")).to_be_visible()
        await mobile.screenshot(path=shots / "phone-login.png")
    assert problems == []


async def test_two_factor_setup_sign_in_with_the_code_step_and_disable(
    web_server: WebServer, tmp_path: Path
) -> None:
    import pyotp
    from playwright.async_api import expect

    email = "twofactor@example.com"
    web_server.cli("user", "create", "--email", email, "--password", PASSWORD, "--verified")
    shots = _shots(tmp_path)
    async with _browser_page(web_server, PHONE) as (browser, page, problems):
        await page.goto("/settings")
        await _fill_sign_in(page, email)
        # Back on the page asked for before signing in.
        await expect(page).to_have_url(re.compile(r"/settings$"))

        await page.get_by_role("button", name="Set up two-factor").click()
        await expect(page.get_by_role("img", name="QR code")).to_be_visible()
        secret = await page.locator(".card code").inner_text()
        await page.get_by_label("Code from the app").fill(pyotp.TOTP(secret).now())
        await page.get_by_role("button", name="Turn on").click()
        codes = (await page.locator("pre.codes").inner_text()).split()
        assert len(codes) >= 2
        await page.screenshot(path=shots / "phone-backup-codes.png", full_page=True)
        await page.get_by_role("button", name="Done").click()
        await expect(page.get_by_text("Sign-ins ask for a code")).to_be_visible()

        # Signing in now takes a second step.
        await page.get_by_role("button", name="Menu").click()
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        await _fill_sign_in(page, email)
        code = page.get_by_label("Two-factor code")
        await expect(code).to_be_visible()
        await page.screenshot(path=shots / "phone-login-2fa.png")
        await code.fill(codes[0])
        await page.get_by_role("button", name="Verify").click()
        await expect(page).to_have_url(re.compile(r"/chat$"))

        # Disable with the password and another backup code.
        await page.goto("/settings")
        await page.get_by_label("Password", exact=True).fill(PASSWORD)
        await page.get_by_label("Code or backup code").fill(codes[1])
        await page.get_by_role("button", name="Disable two-factor").click()
        await expect(page.get_by_role("button", name="Set up two-factor")).to_be_visible()
    # The 2FA step is a refused login (401) the browser logs; nothing else may be.
    expected = f"status of 401 (Unauthorized) ({web_server.url}/api/auth/login)"
    assert [p for p in problems if not p.endswith(expected)] == []


MARKDOWN = """# Plan

Some **bold** text and a [link](javascript:window.__xss=1).

```python
def greet():
    return "hi"
```

<b onmouseover="window.__xss=2">hover</b><script>window.__xss=3</script>
<iframe src="/api/user/profile"></iframe>
"""


async def test_answers_render_as_highlighted_and_sanitised_markdown(
    web_server: WebServer, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    email = "markdown@example.com"
    web_server.cli("user", "create", "--email", email, "--password", PASSWORD, "--verified")
    shots = _shots(tmp_path)
    async with _browser_page(web_server, DESKTOP) as (browser, page, problems):
        await page.goto("/login")
        await _fill_sign_in(page, email)
        await expect(page).to_have_url(re.compile(r"/chat$"))
        # An answer stored in a session, as a model might have written it.
        session_id = await page.evaluate(
            """async (content) => {
                const post = (url, body) => fetch(url, {method: "POST",
                    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)})
                    .then((r) => r.json());
                const s = await post("/api/chat/sessions", {title: "Markdown"});
                await post("/api/chat/messages", {sessionId: s.id, role: "user", content: "?"});
                await post("/api/chat/messages",
                    {sessionId: s.id, role: "assistant", content});
                return s.id;
            }""",
            MARKDOWN,
        )
        await page.goto(f"/chat/{session_id}")
        body = page.locator("article.msg.assistant .body")
        await expect(body.get_by_role("heading", name="Plan")).to_be_visible()
        await expect(body.locator("strong")).to_have_text("bold")
        await expect(body.locator("pre code.hljs .hljs-keyword").first).to_have_text("def")
        # Raw HTML is shown as text; a javascript: link loses its target.
        await expect(body).to_contain_text('<b onmouseover="window.__xss=2">hover</b>')
        assert await body.locator("b, script, iframe, [onmouseover]").count() == 0
        assert not (await body.locator("a", has_text="link").get_attribute("href") or "")
        await body.get_by_text("hover").hover()
        assert await page.evaluate("window.__xss") is None
        await page.screenshot(path=shots / "desktop-markdown.png")

        # The session's canvas: save, snapshot a version, change, restore the version.
        await page.get_by_role("button", name="Canvas").click()
        pane = page.get_by_role("complementary", name="Canvas")
        await pane.get_by_label("Title").fill("Plan")
        await pane.get_by_label("Document").fill("first draft")
        await pane.get_by_role("button", name="Save version").click()
        await expect(pane.get_by_role("listitem").filter(has_text="v1")).to_be_visible()
        await pane.get_by_label("Document").fill("second draft")
        await pane.get_by_role("button", name="Save", exact=True).click()
        await expect(pane.get_by_role("status")).to_contain_text("Version 2")
        await pane.get_by_role("button", name="Restore").click()
        await expect(pane.get_by_label("Document")).to_have_value("first draft")
        await pane.get_by_role("button", name="Save", exact=True).click()
        await expect(pane.get_by_role("status")).to_contain_text("Version 3")
        await page.screenshot(path=shots / "desktop-canvas.png")
        saved = await page.evaluate(
            "async (id) => (await (await fetch('/api/canvas/' + id)).json()).document",
            session_id,
        )
        assert (saved["content"], saved["version"]) == ("first draft", 3)

        # Search the sessions by title; rename one.
        search = page.get_by_label("Search chats by title")
        await search.fill("zzz")
        await expect(page.get_by_text("No chat matches.")).to_be_visible()
        await search.fill("mark")
        await expect(page.locator(".session-list a")).to_have_text(["Markdown"])
        page.once("dialog", lambda d: asyncio.ensure_future(d.accept("Renamed chat")))
        await page.get_by_role("button", name="Rename Markdown").click()
        await search.fill("")
        await expect(page.locator(".session-list a")).to_have_text(["Renamed chat"])
        await expect(page.get_by_role("heading", name="Renamed chat")).to_be_visible()
    assert problems == []


async def _sign_in(page: Any, server: WebServer, email: str) -> None:
    server.cli("user", "create", "--email", email, "--password", PASSWORD, "--verified")
    server.cli("user", "set-plan", "--email", email, "--plan", "UNLIMITED")
    await page.goto("/login")
    await _fill_sign_in(page, email)
    await page.wait_for_url(re.compile(r"/chat$"))


DROP_FILE = """(text) => {
    const data = new DataTransfer();
    data.items.add(new File([text], "notes.txt", {type: "text/plain"}));
    const target = document.querySelector(".conversation");
    for (const type of ["dragenter", "dragover", "drop"]) {
        target.dispatchEvent(new DragEvent(type, {dataTransfer: data, bubbles: true}));
    }
}"""

MESSAGES = """async () => (await (await fetch(location.pathname.replace('/chat/',
    '/api/chat/sessions/') + '/messages')).json()).messages"""


async def test_attachment_by_drop_stop_generating_and_retry(
    web_server: WebServer, fake_upstream: FakeUpstream
) -> None:
    from playwright.async_api import expect

    async with _browser_page(web_server, DESKTOP) as (browser, page, problems):
        await _sign_in(page, web_server, "stop@example.com")

        # A file dropped on the conversation is uploaded and sent with the next message.
        await page.evaluate(DROP_FILE, "some notes")
        await expect(page.get_by_role("list", name="Attachments").first).to_contain_text(
            "notes.txt"
        )
        box = page.get_by_label("Message", exact=True)
        await box.fill("Read my notes")
        await box.press("Enter")
        answer = page.locator("article.msg.assistant").last
        await expect(answer.locator(".body")).to_have_text(TEXT)
        user = page.locator("article.msg.user").last
        await expect(user.get_by_role("link", name="notes.txt")).to_be_visible()
        # The server stores the exchange when the stream ends.
        await expect(page.get_by_role("button", name="Send")).to_be_visible()
        stored = await page.evaluate(MESSAGES)
        assert [a["name"] for a in stored[0]["attachments"]] == ["notes.txt"]

        # Stop generating keeps what came so far.
        await page.get_by_label("Model").select_option("oa-drip")
        await box.fill("Keep talking")
        await box.press("Enter")
        answer = page.locator("article.msg.assistant").last
        await expect(answer.locator(".body")).to_contain_text("HelloHelloHello")
        await page.get_by_role("button", name="Stop").click()
        await expect(page.get_by_role("button", name="Send")).to_be_visible()
        await expect(answer).not_to_have_class(re.compile("streaming"))
        stored = await page.evaluate(MESSAGES)
        assert stored[-1]["role"] == "assistant"
        assert stored[-1]["content"].startswith("HelloHello")
        assert stored[-1]["metadata"]["stopped"] is True
        # The portal hung up on the upstream too.
        assert await fake_upstream.wait_disconnect("drip")

        # Retry asks again, here with another model.
        await page.get_by_label("Model").select_option("oa-plain")
        await page.get_by_role("button", name="Retry").click()
        await expect(page.locator("article.msg.assistant").last.locator(".body")).to_have_text(TEXT)
        # The text is all there before the stream ends; the exchange is stored when it ends.
        await expect(page.get_by_role("button", name="Send")).to_be_visible()
        stored = await page.evaluate(MESSAGES)
        assert (stored[-1]["role"], stored[-1]["content"]) == ("assistant", TEXT)
        # The stopped answer is kept for the record but marked superseded, and reopening the
        # chat shows only the retried one.
        assert stored[-2]["metadata"]["superseded"] is True
        await page.reload()
        assistants = page.locator("article.msg.assistant")
        await expect(assistants.last.locator(".body")).to_have_text(TEXT)
        await expect(page.get_by_text("HelloHello")).to_have_count(0)
    assert problems == []


async def test_budgets_on_the_keys_and_settings_pages(
    web_server: WebServer, tmp_path: Path
) -> None:
    """A key's budget is set and changed on the keys page, which shows its spend; the account's
    own budget on the settings page."""
    from playwright.async_api import expect

    email = "budgets@example.com"
    web_server.cli("user", "create", "--email", email, "--password", PASSWORD, "--verified")
    web_server.cli("user", "set-plan", "--email", email, "--plan", "UNLIMITED")
    shots = _shots(tmp_path)
    async with _browser_page(web_server, DESKTOP) as (_, page, problems):
        await page.goto("/keys")
        await _fill_sign_in(page, email)
        await expect(page.get_by_role("heading", name="API keys")).to_be_visible()
        await page.get_by_role("button", name="+ Create key").click()
        await page.get_by_label("Name").fill("Budgeted key")
        await page.get_by_label("Budget (USD)").fill("5")
        await page.get_by_label("Budget period").select_option("daily")
        await page.get_by_role("button", name="Create key", exact=True).click()
        secret = await page.get_by_label("API key", exact=True).input_value()
        await page.get_by_role("button", name="Close").click()
        await expect(page.get_by_text("$0.00 of $5.00 daily")).to_be_visible()

        # One answer on the priced model is spent from the budget.
        async with httpx.AsyncClient(base_url=web_server.url, timeout=30) as http:
            r = await http.post(
                "/v1/chat/completions",
                json={"model": "oa-priced", "messages": [{"role": "user", "content": "Hi"}]},
                headers={"Authorization": f"Bearer {secret}"},
            )
        assert r.status_code == 200, r.text
        await page.reload()
        await expect(page.get_by_text("$0.02 of $5.00 daily")).to_be_visible()
        assert await page.get_by_role("progressbar").first.get_attribute("value") == "0.017"

        # Changed in the edit form: the amount and the period.
        await page.get_by_role("button", name="Edit").click()
        await expect(page.get_by_label("Budget (USD)")).to_have_value("5")
        await page.get_by_label("Budget (USD)").fill("10")
        await page.get_by_label("Budget period").select_option("monthly")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_text("$0.02 of $10.00 monthly")).to_be_visible()
        await page.screenshot(path=shots / "desktop-keys-budget.png")
        keys = await page.evaluate("async () => (await (await fetch('/api/keys')).json()).keys")
        assert (keys[0]["maxBudget"], keys[0]["budgetPeriod"]) == (10.0, "monthly")

        # Removed: an empty amount is no budget.
        await page.get_by_role("button", name="Edit").click()
        await page.get_by_label("Budget (USD)").fill("")
        await page.get_by_role("button", name="Save").click()
        await expect(page.get_by_role("cell", name="No budget")).to_be_visible()

        # The account's own budget, on the settings page.
        await page.get_by_role("link", name="Settings").click()
        await expect(page.get_by_role("heading", name="Budget")).to_be_visible()
        await expect(page.get_by_text("No budget", exact=True)).to_be_visible()
        await page.get_by_label("Budget (USD)").fill("20")
        await page.get_by_label("Budget period").select_option("weekly")
        await page.get_by_role("button", name="Save budget").click()
        await expect(page.get_by_text("$0.02 of $20.00 weekly")).to_be_visible()
        await page.screenshot(path=shots / "desktop-settings-budget.png", full_page=True)
        me = await page.evaluate("async () => (await fetch('/api/user/profile')).json()")
        assert (me["maxBudget"], me["budgetPeriod"]) == (20.0, "weekly")
    assert problems == []
