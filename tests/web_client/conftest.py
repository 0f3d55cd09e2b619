"""A real headless Chromium (Debian's package) driven by Playwright."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.conftest import IN_CI
from tests.signalling.conftest import client, platform, settings

__all__ = ["browser", "client", "platform", "settings"]

# Generous waits on state, for a loaded 2-core machine (the default is 5 s).
expect.set_options(timeout=15_000)

# Without the networking flags Chromium keeps calling hosts this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    # getDisplayMedia (screen share) picks the screen without a dialog.
    "--auto-select-desktop-capture-source=Entire screen",
]


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    if executable is None:
        if IN_CI:
            pytest.fail("chromium is not installed (CI must have it)")
        pytest.skip("chromium is not installed")
    async with async_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary user-data dir.
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        await launched.close()
