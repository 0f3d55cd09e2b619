"""A district doctor on a thin link sees the specialist, and is told the picture
is reduced for that link (issue 16, SAFETY C7).

The specialist's Chromium page publishes its camera in three encodings (the
server's default); the doctor's Chromium runs in a network namespace whose
link is shaped to 300 kbit/s each way. The SFU's stream allocator sends the
doctor a lower encoding than the specialist's best: the doctor's tile must
say so, with the size it really decodes, in English and in Vietnamese, and
the picture must still move. Once the link is whole again, the caption goes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import free_port
from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import accepted_consultation
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.netns import Namespace, chromium_in, network_namespace, serve_on
from tests.web_client.test_call_browser import COUNT_PEER_CONNECTIONS, enter_room, tile
from tests.web_client.test_consultation_browser import log_in, sees_video_of

pytestmark = [pytest.mark.browser, requires_network]

THIN_KBIT = 300
# Generous: the allocator needs a few REMB ticks to see the link, and the
# link's return needs probes to climb (each held a few seconds).
REDUCED_TIMEOUT_MS = 30_000
WHOLE_AGAIN_TIMEOUT_MS = 90_000

# The height of the best encoding a page sends of its camera (getStats).
SENT_HEIGHT = """async () => {
  let best = 0;
  for (const pc of window.__pcs ?? []) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "outbound-rtp" || s.kind !== "video") return;
      best = Math.max(best, s.frameHeight ?? 0);
    });
  }
  return best;
}"""


@dataclass
class ThinCall:
    ns: Namespace
    host_url: str
    origin: str
    consultation_id: str


@pytest.fixture
async def thin_call(tmp_path: Path) -> AsyncIterator[ThinCall]:
    async with network_namespace(tmp_path) as ns:
        port = free_port()
        settings = make_settings(tmp_path, public_url=ns.origin(port))
        assert settings.simulcast, "this test is of the default: cameras sent as simulcast"
        async with serve_on(settings, ("127.0.0.1", ns.host_addr), port) as (platform, _):
            host_url = f"http://127.0.0.1:{port}/"
            cid = await accepted_consultation(platform, host_url, REQUEST)
            yield ThinCall(ns, host_url, ns.origin(port), cid)


async def decoded_size(page: Page, participant_id: str) -> tuple[int, int]:
    size = await page.locator(f'video[data-participant="{participant_id}"]').evaluate(
        "(v) => [v.videoWidth, v.videoHeight]"
    )
    return int(size[0]), int(size[1])


async def test_a_thin_link_is_sent_a_lower_encoding_and_the_tile_says_so(
    browser: Browser, thin_call: ThinCall
) -> None:
    call = thin_call
    specialist_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    await specialist_ctx.add_init_script(f"({COUNT_PEER_CONNECTIONS})()")
    try:
        async with chromium_in(call.ns, call.origin) as far:
            doctor_ctx = await far.new_context(viewport={"width": 1280, "height": 900})
            specialist = await log_in(specialist_ctx, call.host_url, "bm.cardio")
            specialist_id = await enter_room(specialist, call.consultation_id)
            doctor = await log_in(doctor_ctx, call.origin + "/", "mc.doc")
            await call.ns.shape(THIN_KBIT)
            shaped_at = time.monotonic()
            doctor_id = await enter_room(doctor, call.consultation_id)
            await sees_video_of(doctor, specialist_id)

            # The doctor's tile of the specialist says the picture is reduced, and
            # gives the size this page decodes, smaller than what is sent.
            caption = tile(doctor, specialist_id).locator(".tile-reduced")
            await expect(caption).to_be_visible(timeout=REDUCED_TIMEOUT_MS)
            print(f"\nreduced caption shown {time.monotonic() - shaped_at:.1f} s after shaping")
            await sees_video_of(doctor, specialist_id)  # still moving, on the thin link
            width, height = await decoded_size(doctor, specialist_id)
            await expect(caption).to_have_text(f"Reduced for your connection ({width}×{height})")
            sent = int(await specialist.evaluate(SENT_HEIGHT))
            print(f"the doctor decodes {width}x{height}; the specialist sends up to {sent}p")
            assert 0 < height < sent, (height, sent)
            assert await tile(doctor, specialist_id).get_attribute("data-state") == "live"

            # In Vietnamese too.
            await doctor.get_by_role("button", name="Tiếng Việt").click()
            await expect(caption).to_contain_text("Hình giảm chất lượng do đường truyền của bạn")
            await doctor.get_by_role("button", name="English").click()

            # The specialist, on a whole link, is told nothing of the kind about
            # the doctor (whose own uplink limits what it sends: that is the best
            # there is to receive).
            await sees_video_of(specialist, doctor_id)
            assert not await tile(specialist, doctor_id).locator(".tile-reduced").is_visible()

            # The link comes back: the allocator probes up to the best encoding
            # and the caption goes.
            await call.ns.unshape()
            whole_at = time.monotonic()
            await expect(caption).to_be_hidden(timeout=WHOLE_AGAIN_TIMEOUT_MS)
            hidden_at = time.monotonic() - whole_at
            # and the picture is the best sent, once its keyframe has come
            deadline = time.monotonic() + 20
            while True:
                width, height = await decoded_size(doctor, specialist_id)
                sent = int(await specialist.evaluate(SENT_HEIGHT))
                if height == sent or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            print(
                f"whole again {hidden_at:.1f} s after the link returned; decoded {width}x{height}"
                f" {time.monotonic() - whole_at:.1f} s after, the specialist sends up to {sent}p"
            )
            assert height == sent, (height, sent)
            await sees_video_of(doctor, specialist_id)
            await doctor_ctx.close()
    finally:
        await specialist_ctx.close()
