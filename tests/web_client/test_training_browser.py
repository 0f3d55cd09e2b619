"""A training in Chromium: the trainer presents, a trainee watches, asks, raises a hand,
is invited to speak and is then seen by the trainer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import served
from tests.signalling.conftest import make_settings
from tests.web_client.test_consultation_browser import log_in, my_id, sees_video_of
from tests.web_client.test_shell_browser import shoot

pytestmark = [pytest.mark.browser, requires_network]


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[str]:
    async with served(make_settings(tmp_path)) as (_, url):
        yield url


async def test_trainee_asks_raises_hand_and_speaks(browser: Browser, server: str) -> None:
    contexts = [
        await browser.new_context(viewport={"width": 1280, "height": 1000}) for _ in range(2)
    ]
    try:
        trainer = await log_in(contexts[0], server, "bm.cardio")
        await trainer.get_by_label("Training topic").fill("Đọc điện tâm đồ cơ bản")
        await trainer.get_by_role("button", name="Start a training").click()
        await expect(trainer.get_by_role("heading", name="Questions")).to_be_visible()
        trainer_id = await my_id(trainer)

        trainee = await log_in(contexts[1], server, "mc.doc")
        await trainee.locator("#trainings").get_by_role("link", name="Join").click()
        await expect(trainee.get_by_role("heading", name="Questions")).to_be_visible()
        await sees_video_of(trainee, trainer_id)
        trainee_id = await my_id(trainee)
        # A trainee only watches: nothing of theirs is captured or sent.
        assert await trainee.evaluate(
            "() => document.querySelector('figure[data-self] video').srcObject === null"
        )

        await trainee.get_by_label("Your question").fill("QTc bình thường là bao nhiêu?")
        await trainee.get_by_role("button", name="Ask", exact=True).click()
        await expect(trainer.locator(".questions")).to_contain_text("QTc bình thường")

        await trainee.get_by_role("button", name="Raise hand").click()
        await trainer.get_by_role("button", name="Invite to speak").click()
        await expect(trainee.locator(".notice")).to_contain_text("You may speak now")
        await sees_video_of(trainer, trainee_id)
        await shoot(trainer, "training-en.png")
        for page in (trainer, trainee):
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
    finally:
        for context in contexts:
            await context.close()
