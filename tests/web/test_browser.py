"""The main flow in headless Chromium against a real server: register -> verify by the mailed
link -> sign in -> a streamed chat answer (and a tool call) -> an API key that works.
Screenshots at desktop and phone widths go to $LLMPORTAL_SCREENSHOTS (or the test's tmp dir)."""

from __future__ import annotations

import asyncio
import os
import re
import time
from pathlib import Path
from typing import Any

import httpx

from tests.fixtures.factories import PASSWORD
from tests.fixtures.upstreams import TEXT
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


async def test_register_verify_login_chat_and_create_key(
    web_server: WebServer, tmp_path: Path
) -> None:
    chromium = browser_or_skip()
    from playwright.async_api import async_playwright, expect

    shots = _shots(tmp_path)
    problems: list[str] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            context = await browser.new_context(viewport=DESKTOP, base_url=web_server.url)
            page = await context.new_page()
            _watch_console(page, problems)

            # Signed out, the app sends a visitor to the sign-in page.
            await page.goto("/chat")
            await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()

            # Register.
            await page.get_by_role("link", name="Create an account").click()
            await page.get_by_label("Name").fill("Browser Tester")
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.screenshot(path=shots / "desktop-register.png")
            await page.get_by_role("button", name="Create account").click()
            await expect(
                page.get_by_text(f"We sent a verification link to {EMAIL}")
            ).to_be_visible()

            # Signing in before verifying is refused with the server's message.
            await page.goto("/login")
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
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
            await page.get_by_label("Email").fill(EMAIL)
            await page.get_by_label("Password").fill(PASSWORD)
            await page.get_by_role("button", name="Sign in").click()
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

            # The other pages load without errors.
            for name, heading in [
                ("Usage", "Usage"),
                ("Billing", "Billing"),
                ("Library", "Library"),
            ]:
                await page.get_by_role("link", name=name, exact=True).click()
                await expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
                await expect(page.locator(".alert.error")).to_have_count(0)
                await page.screenshot(path=shots / f"desktop-{name.lower()}.png", full_page=True)
            await page.get_by_role("link", name="Settings").click()
            await expect(
                page.get_by_role("heading", name="Two-factor authentication")
            ).to_be_visible()
            await page.screenshot(path=shots / "desktop-settings.png", full_page=True)

            # Phone width: the same session, the menu and chats behind toggles.
            phone = await browser.new_context(
                viewport=PHONE,
                base_url=web_server.url,
                is_mobile=True,
                has_touch=True,
                storage_state=await context.storage_state(),
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
        finally:
            await browser.close()
    assert problems == []
