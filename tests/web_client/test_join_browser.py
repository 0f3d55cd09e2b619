"""The patient's page when something goes wrong: a sentence the patient can act
on, in Vietnamese and English, never a server message or a wrong cause."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.conftest import free_port
from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import accepted_consultation, member, served
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.conftest import CHROMIUM_ARGS

pytestmark = [pytest.mark.browser, requires_network]


@pytest.fixture
async def patient_link(tmp_path: Path) -> AsyncIterator[str]:
    """A patient link of an accepted consultation, not used yet."""
    port = free_port()
    settings = make_settings(tmp_path, public_url=f"http://127.0.0.1:{port}")
    async with served(settings, port=port) as (platform, url):
        cid = await accepted_consultation(platform, url, REQUEST)
        doctor = await member(platform, url, "mc.doc", online=False)
        try:
            status, body = await doctor.call("POST", f"/api/consultations/{cid}/patient-link", {})
            assert status == 201, body
        finally:
            await doctor.close()
        yield str(body["url"])


async def go_to_waiting_room(page: Page, link: str, language: str) -> None:
    await page.goto(link)
    await page.get_by_role("button", name=language).click()
    await page.locator(".prejoin input[autocomplete=name]").fill("Lò Văn Páo")
    await page.locator(".prejoin button[type=submit]").click()


async def test_a_used_link_says_to_ask_for_a_new_one(browser: Browser, patient_link: str) -> None:
    first = await browser.new_context()
    try:
        page = await first.new_page()
        await go_to_waiting_room(page, patient_link, "English")
        await expect(page.get_by_text("The doctor will let you in shortly.")).to_be_visible(
            timeout=20_000  # a loaded machine
        )
        for language, sentence in (
            ("Tiếng Việt", "Đường liên kết này đã được dùng. Hãy xin cơ sở y tế gửi"),
            ("English", "This link has been used already. Ask the clinic to send you a new link."),
        ):
            # someone else (or another phone) opens the same link afterwards
            context = await browser.new_context()
            try:
                other = await context.new_page()
                await go_to_waiting_room(other, patient_link, language)
                await expect(other.locator(".prejoin .error")).to_contain_text(sentence)
            finally:
                await context.close()
    finally:
        await first.close()


async def test_a_blocked_camera_says_how_to_allow_it(patient_link: str) -> None:
    """A real refusal: this Chromium denies the permission prompt."""
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("chromium is not installed")
    args = [a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=[*args, "--deny-permission-prompts"]
        )
        try:
            page = await browser.new_page()
            await page.goto(patient_link)
            await page.get_by_role("button", name="English").click()
            await expect(page.locator(".prejoin .error")).to_have_text(
                "The browser blocks the camera and microphone. Allow them at the padlock"
                " beside the page address, then reload the page."
            )
            await page.get_by_role("button", name="Tiếng Việt").click()  # it follows
            await expect(page.locator(".prejoin .error")).to_contain_text(
                "Trình duyệt đang chặn camera và micro."
            )
        finally:
            await browser.close()
