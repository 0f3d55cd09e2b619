"""A training in Chromium: the trainer presents, a trainee watches, asks, raises a hand,
is invited to speak and is then seen by the trainer."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from playwright.async_api import Browser, expect

from signalling.platform import Platform
from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import member, served
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


async def test_a_whep_player_sees_the_trainers_browser_camera(
    browser: Browser, tmp_path: Path
) -> None:
    """A trainer's page sends its camera in three encodings (simulcast); a WHEP
    player (aiortc, as OBS or a hospital's display would) gets one of them whole."""
    async with served(make_settings(tmp_path)) as (platform, server):
        await whep_player_sees_the_trainer(browser, platform, server)


async def whep_player_sees_the_trainer(browser: Browser, platform: Platform, server: str) -> None:
    context = await browser.new_context()
    player = RTCPeerConnection()
    try:
        trainer = await log_in(context, server, "bm.cardio")
        await trainer.get_by_label("Training topic").fill("Siêu âm bụng")
        await trainer.get_by_role("button", name="Start a training").click()
        await expect(trainer.get_by_role("heading", name="Questions")).to_be_visible()
        await my_id(trainer)  # its camera is on
        training = trainer.url.split("#/trainings/")[1]
        viewer = await member(platform, server, "mc.doc", online=False)
        try:
            status, body = await viewer.call("POST", f"/api/trainings/{training}/token")
            assert status == 200, body
        finally:
            await viewer.close()

        sizes: list[tuple[int, int]] = []
        loudest: list[int] = []  # per audio frame decoded

        async def read(track: MediaStreamTrack) -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    if isinstance(frame, av.VideoFrame):
                        sizes.append((frame.width, frame.height))
                    elif isinstance(frame, av.AudioFrame):
                        loudest.append(int(np.abs(frame.to_ndarray()).max()))

        readers: set[asyncio.Task[None]] = set()
        deadline = asyncio.get_running_loop().time() + 30
        while True:  # until the trainer's camera has reached the server, as a player retries
            player = RTCPeerConnection()
            player.on("track", lambda track: readers.add(asyncio.ensure_future(read(track))))
            player.addTransceiver("audio", direction="recvonly")
            player.addTransceiver("video", direction="recvonly")
            await player.setLocalDescription(await player.createOffer())
            answer = await whep_answer(server, training, body["token"], player.localDescription.sdp)
            if "a=sendonly" in answer.split("m=video")[1]:
                break
            await player.close()
            assert asyncio.get_running_loop().time() < deadline, "no camera to play"
            await asyncio.sleep(1)
        await player.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        deadline = asyncio.get_running_loop().time() + 30
        while len(sizes) < 30:
            assert asyncio.get_running_loop().time() < deadline, f"frames decoded: {len(sizes)}"
            await asyncio.sleep(0.2)
        assert len(set(sizes[-20:])) == 1, sizes[-20:]  # one encoding, not a mix
        # the trainer's page sends RED; a player that did not accept it is sent the
        # Opus inside, which it decodes: the fake microphone's beeps are heard
        assert len(loudest) > 100, len(loudest)
        assert max(loudest) > 1000, max(loudest)
    finally:
        await player.close()
        await context.close()


async def whep_answer(server: str, training: str, token: str, offer: str) -> str:
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.rstrip('/')}/whep/trainings/{training}", data=offer, headers=headers
        ) as response,
    ):
        assert response.status == 201, await response.text()
        return await response.text()
