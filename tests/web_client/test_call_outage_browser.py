"""A call survives a network outage at one end (issue 15).

The district doctor's page runs on the host; the specialist's Chromium runs in
a network namespace, joined to the host by a veth pair, and reaches the server
at the host end's address, its media crossing that veth. The specialist's
network is cut for 10 s (all of its TCP and UDP, both ways), then restored:
both see each other's video advance again, the chat line the doctor sent
during the cut reaches the specialist once, the page makes no more than a few
connections, and neither page is left saying it is reconnecting.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, ConsoleMessage, Page, expect

from tests.conftest import free_port
from tests.media_server.sfu_clients import requires_network
from tests.signalling.care_network import accepted_consultation
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.netns import (
    Namespace,
    chromium_in,
    network_namespace,
    selected_pairs,
    serve_on,
)
from tests.web_client.test_call_browser import (
    COUNT_PEER_CONNECTIONS,
    PEER_CONNECTION_CAP,
    enter_room,
    peer_connections,
    tile,
)
from tests.web_client.test_consultation_browser import log_in, sees_video_of

pytestmark = [pytest.mark.browser, requires_network]

CUT_SECONDS = 10.0
# The target is 5 s; the test waits longer and prints what it measured.
RECOVERY_TIMEOUT_MS = 30_000
# Frames a <video> must decode after the restore to count as advancing again.
FRAMES_AFTER_RESTORE = 10

# Where the <video> of a participant stands now; a later check counts frames from
# here on this element, and from zero on one that replaced it.
MARK_VIDEO = """(id) => {
  const v = document.querySelector(`video[data-participant="${id}"]`);
  window.__outageMark = {
    el: v,
    frames: v ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
  };
}"""
ADVANCED_SINCE_MARK = """([id, needed]) => {
  const v = document.querySelector(`video[data-participant="${id}"]`);
  if (!v || !v.videoWidth) return false;
  const base = v === window.__outageMark.el ? window.__outageMark.frames : 0;
  return v.getVideoPlaybackQuality().totalVideoFrames >= base + needed;
}"""

# What the page's connections and banners did, with the wall-clock time (s), for
# the report; added after COUNT_PEER_CONNECTIONS, it wraps the counting wrapper.
TIMELINE = """() => {
  window.__timeline = [];
  const note = (what) => window.__timeline.push([Date.now() / 1000, what]);
  const Counted = window.RTCPeerConnection;
  let made = 0;
  window.RTCPeerConnection = function (...args) {
    const pc = new Counted(...args);
    const n = ++made;
    note(`connection ${n} made`);
    const said = () => note(`connection ${n} ${pc.connectionState}`);
    pc.addEventListener("connectionstatechange", said);
    return pc;
  };
  window.RTCPeerConnection.prototype = Counted.prototype;
  new MutationObserver((records) => {
    for (const r of records) {
      const el = r.target;
      const banner = ["reconnecting", "media-state"].some((c) => el.classList?.contains(c));
      if (!banner) continue;
      note(`.${el.className} ${el.hidden ? "hidden" : "shown: " + el.textContent}`);
    }
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["hidden"] });
}"""

# The page's video counters (getStats), summed over its open connections: what
# it decodes and asks for, and what it encodes and is asked for.
VIDEO_COUNTERS = """async () => {
  const c = { decoded: 0, keyDecoded: 0, pliSent: 0, nackSent: 0, received: 0,
              encoded: 0, keyEncoded: 0, pliReceived: 0 };
  for (const pc of window.__pcs ?? []) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.kind !== "video") return;
      if (s.type === "inbound-rtp") {
        c.decoded += s.framesDecoded ?? 0; c.keyDecoded += s.keyFramesDecoded ?? 0;
        c.pliSent += s.pliCount ?? 0; c.nackSent += s.nackCount ?? 0;
        c.received += s.packetsReceived ?? 0;
      } else if (s.type === "outbound-rtp") {
        c.encoded += s.framesEncoded ?? 0; c.keyEncoded += s.keyFramesEncoded ?? 0;
        c.pliReceived += s.pliCount ?? 0;
      }
    });
  }
  return c;
}"""


async def sample_counters(pages: dict[str, Page], since: float, into: list[str]) -> None:
    """Every half second, the pages' video counters, for the report (until cancelled)."""
    while True:
        row = []
        for who, page in pages.items():
            try:
                c = await page.evaluate(VIDEO_COUNTERS)
            except Exception as exc:  # the page may be gone
                row.append(f"{who}: {exc}")
                continue
            row.append(
                f"{who}: in dec={c['decoded']} key={c['keyDecoded']} pli={c['pliSent']} "
                f"nack={c['nackSent']} rcv={c['received']}; out enc={c['encoded']} "
                f"key={c['keyEncoded']} pli={c['pliReceived']}"
            )
        into.append(f"  {time.monotonic() - since:5.1f} s  " + " | ".join(row))
        await asyncio.sleep(0.5)


@dataclass
class OutageCall:
    ns: Namespace
    host_url: str  # for pages on the host (loopback: a secure origin)
    origin: str  # the server as the namespace reaches it (the host end of the veth)
    consultation_id: str


@pytest.fixture
async def outage_call(tmp_path: Path) -> AsyncIterator[OutageCall]:
    """An accepted consultation (mc.doc asked, bm.cardio took it), served on
    loopback and on the host end of a namespace's veth."""
    async with network_namespace(tmp_path) as ns:
        port = free_port()
        settings = make_settings(tmp_path, public_url=ns.origin(port))
        async with serve_on(settings, ("127.0.0.1", ns.host_addr), port) as (platform, _):
            host_url = f"http://127.0.0.1:{port}/"
            cid = await accepted_consultation(platform, host_url, REQUEST)
            yield OutageCall(ns, host_url, ns.origin(port), cid)


def record_console(page: Page) -> list[str]:
    """Everything the page logs, for the report when something fails."""
    lines: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        lines.append(f"{time.strftime('%H:%M:%S')} {message.type}: {message.text}")

    page.on("console", on_console)
    return lines


async def advancing_again(page: Page, participant_id: str, restored_at: float) -> float:
    """Seconds from the restore until the participant's video advanced again."""
    await page.wait_for_function(
        ADVANCED_SINCE_MARK,
        arg=[participant_id, FRAMES_AFTER_RESTORE],
        polling=100,
        timeout=RECOVERY_TIMEOUT_MS,
    )
    return time.monotonic() - restored_at


async def chat_arrives(page: Page, line: str, restored_at: float) -> float:
    """Seconds from the restore until the line is in the page's chat."""
    await expect(page.locator(".chat-log li", has_text=line)).to_have_count(
        1, timeout=RECOVERY_TIMEOUT_MS
    )
    return time.monotonic() - restored_at


async def timeline(page: Page, cut_at_wall: float) -> str:
    """The page's timeline, in seconds from the cut."""
    try:
        notes: list[tuple[float, str]] = await page.evaluate("window.__timeline")
    except Exception as exc:  # the page may be gone
        return f"unavailable: {exc}"
    return "\n".join(f"  {at - cut_at_wall:+6.1f} s  {what}" for at, what in notes)


async def diagnosis(page: Page, console: list[str]) -> str:
    try:
        pairs: Any = await selected_pairs(page)
        count: Any = await peer_connections(page)
    except Exception as exc:  # the page may be gone; say what is known
        pairs = count = f"unavailable: {exc}"
    lines = "\n".join(console[-60:])
    return f"connections made: {count}\nselected pairs: {pairs}\nconsole:\n{lines}"


async def test_media_and_chat_come_back_after_a_ten_second_outage(
    browser: Browser, outage_call: OutageCall
) -> None:
    """Two paths are correct here, and which one a run takes depends on when
    Chromium calls the connections disconnected (5-7.5 s into the cut): the
    connections come back by themselves, or the page's grace (5 s) runs out and
    it starts its media over. Either way the outcome checked is the same."""
    call = outage_call
    ns = call.ns
    doctor_ctx = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        async with chromium_in(ns, call.origin) as far:
            specialist_ctx = await far.new_context(viewport={"width": 1280, "height": 900})
            for context in (doctor_ctx, specialist_ctx):
                await context.add_init_script(f"({COUNT_PEER_CONNECTIONS})()")
                await context.add_init_script(f"({TIMELINE})()")
            doctor = await log_in(doctor_ctx, call.host_url, "mc.doc")
            doctor_id = await enter_room(doctor, call.consultation_id)
            specialist = await log_in(specialist_ctx, call.origin + "/", "bm.cardio")
            console = record_console(specialist)
            specialist_id = await enter_room(specialist, call.consultation_id)
            await sees_video_of(doctor, specialist_id)
            await sees_video_of(specialist, doctor_id)

            # The specialist's media really crosses the veth.
            pairs = await selected_pairs(specialist)
            assert pairs, "the specialist's page has no open connection"
            assert all(p["remoteAddress"] == ns.host_addr for p in pairs), pairs

            # The cut: neither video nor chat gets through.
            await ns.cut()
            cut_at, cut_at_wall = time.monotonic(), time.time()
            line = f"sent during the outage {uuid.uuid4().hex[:8]}"
            await doctor.get_by_label("Message").fill(line)
            await doctor.get_by_role("button", name="Send").click()
            await expect(doctor.locator(".chat-log li", has_text=line)).to_have_count(1)
            seen_by_doctor = tile(doctor, specialist_id)
            await expect(seen_by_doctor).to_have_attribute(
                "data-state", "frozen", timeout=int(CUT_SECONDS * 1000)
            )
            assert await specialist.locator(".chat-log li", has_text=line).count() == 0
            # The side that lost its link types too: the line waits, and says so.
            thin_line = f"typed on the cut side {uuid.uuid4().hex[:8]}"
            await specialist.get_by_label("Message").fill(thin_line)
            await specialist.get_by_role("button", name="Send").click()
            await expect(
                specialist.locator(".chat-log li.waiting", has_text=thin_line)
            ).to_contain_text("waiting for the network to send")
            for page, other in ((doctor, specialist_id), (specialist, doctor_id)):
                await page.evaluate(MARK_VIDEO, other)
            # The outage lasts its 10 s whatever the pages do meanwhile.
            await asyncio.sleep(max(0.0, CUT_SECONDS - (time.monotonic() - cut_at)))
            at_the_end = await selected_pairs(specialist)
            await ns.restore()
            restored_at = time.monotonic()
            print(f"\nnetwork cut for {restored_at - cut_at:.1f} s")
            print(f"the specialist's connections at the end of the cut: {at_the_end}")

            counters: list[str] = []
            sampler = asyncio.create_task(
                sample_counters({"doctor": doctor, "specialist": specialist}, restored_at, counters)
            )
            try:
                specialist_sees, doctor_sees, chat_in = await asyncio.gather(
                    advancing_again(specialist, doctor_id, restored_at),
                    advancing_again(doctor, specialist_id, restored_at),
                    chat_arrives(specialist, line, restored_at),
                )
            except Exception as exc:
                raise AssertionError(
                    f"media or chat did not come back within {RECOVERY_TIMEOUT_MS} ms: {exc}\n"
                    + await diagnosis(specialist, console)
                    + "\nvideo counters from the restore:\n"
                    + "\n".join(counters)
                    + "\nspecialist's timeline:\n"
                    + await timeline(specialist, cut_at_wall)
                    + "\ndoctor's timeline:\n"
                    + await timeline(doctor, cut_at_wall)
                ) from exc
            finally:
                sampler.cancel()
            print(
                f"after the restore: the specialist sees the doctor's video advance in "
                f"{specialist_sees:.1f} s, the doctor the specialist's in {doctor_sees:.1f} s; "
                f"the chat line is in the specialist's page in {chat_in:.1f} s"
            )
            await sees_video_of(specialist, doctor_id)
            await sees_video_of(doctor, specialist_id)

            # Nobody is left reconnecting; the line is there once.
            for page in (doctor, specialist):
                await expect(page.locator(".reconnecting")).to_be_hidden(
                    timeout=RECOVERY_TIMEOUT_MS
                )
                await expect(page.locator(".media-state")).to_be_hidden(timeout=RECOVERY_TIMEOUT_MS)
            await expect(seen_by_doctor).to_have_attribute("data-state", "live")
            for page in (doctor, specialist):
                assert await page.locator(".chat-log li", has_text=line).count() == 1
                # sent once the link is back, and there once: not lost, not doubled
                await expect(
                    page.locator(".chat-log li:not(.waiting)", has_text=thin_line)
                ).to_have_count(1)
                await expect(page.locator(".chat-log li.waiting")).to_have_count(0)

            # Still across the veth, and no loop on connections.
            pairs = await selected_pairs(specialist)
            assert pairs and all(p["remoteAddress"] == ns.host_addr for p in pairs), pairs
            made = {
                "doctor": await peer_connections(doctor),
                "specialist": await peer_connections(specialist),
            }
            print(f"RTCPeerConnections made: {made}")
            print("specialist's page said:\n" + "\n".join(console))
            print("specialist's timeline:\n" + await timeline(specialist, cut_at_wall))
            print("doctor's timeline:\n" + await timeline(doctor, cut_at_wall))
            print("video counters from the restore:\n" + "\n".join(counters))
            for who, count in made.items():
                assert count <= PEER_CONNECTION_CAP, (
                    who,
                    count,
                    await diagnosis(specialist, console),
                )
            await specialist_ctx.close()
    finally:
        await doctor_ctx.close()
