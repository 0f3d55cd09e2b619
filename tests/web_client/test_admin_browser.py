"""The administrator's screen in Chromium: network, staff, live sessions, audit log."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.signalling.care_network import add_admin, served
from tests.signalling.conftest import PASSWORD, make_settings
from tests.web_client.test_shell_browser import shoot, watch_errors

pytestmark = pytest.mark.browser


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    async with served(make_settings(tmp_path)) as (platform, url):
        await add_admin(platform)
        yield url


async def test_admin_manages_the_network_and_reads_the_audit_log(
    browser: Browser, server: str
) -> None:
    context = await browser.new_context(viewport={"width": 1280, "height": 1000})
    page = await context.new_page()
    errors = watch_errors(page)
    await page.goto(server)
    await page.get_by_role("button", name="English").click()
    await page.get_by_label("User name").fill("root")
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()

    await expect(page.get_by_role("heading", name="Live sessions")).to_be_visible()
    await expect(page.get_by_text("No live session.")).to_be_visible()

    facility = page.locator("#facility-form")
    await facility.get_by_label("Facility code").fill("TTYT-CD")
    await facility.get_by_label("Name").fill("TTYT Côn Đảo")
    await facility.get_by_label("Level").select_option("district")
    await facility.get_by_label("Province").fill("Bà Rịa - Vũng Tàu")
    await facility.get_by_role("button", name="Add").click()
    await expect(page.locator("#admin-network table").first).to_contain_text("TTYT Côn Đảo")

    staff = page.locator("#admin-staff")
    await staff.get_by_role("button", name="Disable mc.doc").click()
    await expect(staff.get_by_role("button", name="Enable mc.doc")).to_be_visible()

    await page.reload()
    audit = page.locator("#admin-audit")
    await expect(audit).to_contain_text("user.disable")
    await expect(audit).to_contain_text("admin.facility.add")
    await shoot(page, "admin-en.png")
    assert errors == []
    await context.close()
