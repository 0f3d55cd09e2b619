"""The web client shell in a real Chromium: log-in, languages, live link, phone layout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.signalling.conftest import PASSWORD

pytestmark = pytest.mark.browser
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def watch_errors(page: Page) -> list[str]:
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url") or ""
            errors.append(f"{message.text} at {where}" if where else message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def shoot(page: Page, name: str) -> None:
    # Only when asked: a test run should not rewrite the docs.
    if os.environ.get("TELEHEALTH_SCREENSHOTS"):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


async def test_log_in_switch_language_and_go_live(
    browser: Browser, client: TestClient[Any, Any]
) -> None:
    url = str(client.make_url("/"))
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors = watch_errors(page)
    await page.goto(url)

    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    await shoot(page, "login-vi.png")

    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()  # the choice is remembered
    await expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    await page.get_by_label("User name").fill("spec")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_contain_text("wrong user name or password")
    # That refusal is a 401 the browser logs; every other step must log nothing.
    assert all("401" in e for e in errors), errors
    errors.clear()

    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label("Password").press("Enter")
    await expect(page.get_by_role("heading", name="Welcome, Specialist")).to_be_visible()
    await expect(page.locator("#user-facility")).to_have_text("Bệnh viện Bạch Mai")
    status = page.get_by_role("status")
    await expect(status).to_have_text("Connected")  # the socket.io link is up
    await shoot(page, "home-en.png")

    await page.get_by_role("button", name="Tiếng Việt").click()
    await expect(status).to_have_text("Đã kết nối")
    await expect(page.locator("#user-role")).to_have_text("Chuyên gia")

    # A reload keeps the log-in (the cookie), and the live link comes back.
    await page.reload()
    await expect(page.locator("#rt-status")).to_have_text("Đã kết nối")

    await page.get_by_role("button", name="Đăng xuất").click()
    await expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    assert (await page.request.get(url + "api/me")).status == 401
    await page.reload()
    await expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    assert errors == []
    await context.close()


async def test_phone_layout_has_no_sideways_scroll(
    browser: Browser, client: TestClient[Any, Any]
) -> None:
    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = await context.new_page()
    await page.goto(str(client.make_url("/")))
    await expect(page.get_by_role("heading", name="Đăng nhập")).to_be_visible()
    overflow = await page.evaluate("document.scrollingElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    box = await page.get_by_role("button", name="Đăng nhập").bounding_box()
    assert box is not None and box["height"] >= 44  # a finger-sized target
    await shoot(page, "login-phone.png")
    await context.close()
