"""The web client on a cluster: when the node of its room dies, the page joins again
by itself (room.moved) and sees the other participant again, with no console errors."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import RedisServer
from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import accepted_consultation
from tests.signalling.cluster.test_cluster import RoomClient, api_token, cluster, room_token
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.test_consultation_browser import log_in, sees_video_of

pytestmark = [pytest.mark.browser, requires_network]


@pytest.mark.timeout(180)
async def test_the_page_follows_its_room_to_another_node(
    browser: Browser, tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    async with cluster(tmp_path, redis_server.url, postgres_url, "ab") as (platform, nodes, ids):
        a, b = nodes["a"], nodes["b"]
        cid = await accepted_consultation(platform, a.url, REQUEST)
        doc_token, doc_api = await api_token(platform, a.url, "mc.doc")
        # An aiortc participant puts the room on A; the browser's socket is on B.
        doc = RoomClient([a.url, b.url], doc_token, await room_token(doc_api, cid), 20)
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            await doc.start()
            _, body = await doc_api.call("GET", f"/api/consultations/{cid}")
            placement = f"room:{body['consultation']['room']}:node"
            assert await platform.shared.get(placement) == ids["a"]
            page = await log_in(context, b.url, "bm.cardio")
            await page.evaluate(f"location.hash = '#/consultations/{cid}'")
            await expect(page.get_by_role("heading", name="Participants")).to_be_visible()
            await sees_video_of(page, doc.participant_id)

            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            loop = asyncio.get_running_loop()
            killed = loop.time()
            await sees_video_of(page, doc.participant_id)
            took = loop.time() - killed
            assert await platform.shared.get(placement) == ids["b"]
            assert took < 15, took
            await expect(page.locator(".reconnecting")).to_be_hidden()
            await expect(page.locator(".people")).to_contain_text("MC.DOC")
            assert page.errors == [], page.errors  # type: ignore[attr-defined]
            print(f"the page saw the doctor again {took:.1f} s after SIGKILL")
        finally:
            await context.close()
            await doc.close()
            await doc_api.close()
