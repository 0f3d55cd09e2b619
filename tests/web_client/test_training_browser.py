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


async def test_a_trainee_is_told_what_failed_in_their_language(
    browser: Browser, server: str
) -> None:
    """A trainee who opens a training that is not there, opens one while offline,
    or opens one that has ended reads a sentence to act on, never a server
    message, and it follows a change of language."""
    contexts = [await browser.new_context() for _ in range(2)]
    try:
        trainer = await log_in(contexts[0], server, "bm.cardio")
        trainer.on("dialog", lambda dialog: dialog.accept())  # end, then its notice
        await trainer.get_by_label("Training topic").fill("Siêu âm tim cơ bản")
        await trainer.get_by_role("button", name="Start a training").click()
        await expect(trainer.get_by_role("heading", name="Questions")).to_be_visible()
        training = trainer.url.split("#")[1]

        trainee = await log_in(contexts[1], server, "mc.doc")
        alert = trainee.get_by_role("alert")
        await trainee.evaluate("() => { location.hash = '#/trainings/no-such-training'; }")
        await expect(alert).to_have_text(
            "This room was not found, or you do not take part in it. Go back to the home"
            " page and open it from the list again."
        )

        await contexts[1].set_offline(True)
        await trainee.evaluate(f"() => {{ location.hash = '{training}'; }}")
        await expect(alert).to_have_text(
            "Cannot reach the server. Check your network (Wi-Fi or mobile data), then try again."
        )
        await contexts[1].set_offline(False)
        await trainee.evaluate("() => { location.hash = '#/'; }")
        await expect(trainee.locator("#rt-status")).to_have_text("Connected")

        await trainer.get_by_role("button", name="End for everyone").click()
        await expect(trainer.locator("#trainings")).to_be_visible()  # back on the home page
        await trainee.evaluate(f"() => {{ location.hash = '{training}'; }}")
        await expect(alert).to_have_text(
            "This training has ended. Pick one that is running from Training sessions."
        )
        await trainee.get_by_role("button", name="Tiếng Việt").click()
        await expect(alert).to_have_text(
            "Buổi đào tạo này đã kết thúc. Hãy chọn một buổi đang diễn ra ở mục Đào tạo trực tuyến."
        )
        assert trainer.errors == [], trainer.errors  # type: ignore[attr-defined]
        # Chromium logs each refused request; nothing else went wrong on the page.
        refused = [
            e
            for e in trainee.errors  # type: ignore[attr-defined]
            if not e.startswith("Failed to load resource: ")
        ]
        assert refused == [], refused
    finally:
        for context in contexts:
            await context.close()
