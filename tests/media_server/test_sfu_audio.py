"""Audio that survives a lossy link: what the SFU declares to browsers about Opus and RED.

The offer is a real one, recorded from Debian's Chromium 156 (audio from the
fake microphone, video from the fake camera): aiortc's own clients would
pass whatever the SFU answered.
"""

import re
from pathlib import Path

import pytest
from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, requires_network, wait_for

from media_server import red
from media_server.events import SubscribeOffer

pytestmark = [requires_network, pytest.mark.timeout(60)]

CHROMIUM_OFFER = (Path(__file__).parent / "data" / "chromium_offer.sdp").read_text()


def opus_fmtp(sdp: str) -> dict[str, str]:
    """The fmtp parameters of the Opus payload type of the SDP's audio section."""
    pt = re.search(r"a=rtpmap:(\d+) opus/48000/2", sdp, re.IGNORECASE)
    assert pt, sdp
    line = re.search(rf"a=fmtp:{pt.group(1)} (.*)", sdp)
    assert line, f"no fmtp line for Opus in:\n{sdp}"
    return dict(p.split("=", 1) for p in line.group(1).strip().split(";"))


async def test_a_browser_publisher_is_answered_opus_with_fec_and_dtx(harness: Harness) -> None:
    await harness.server.create_room("r")
    await harness.join("r", "doctor")
    answer = await harness.server.publish_offer("r", "doctor", CHROMIUM_OFFER.replace("\n", "\r\n"))
    # useinbandfec=1 is what makes Chromium's encoder add in-band FEC when it sees loss
    assert opus_fmtp(answer) == {"minptime": "10", "useinbandfec": "1", "usedtx": "1"}
    audio = answer.split("m=video")[0]
    # RED first: a browser sends RED (media_server/red.py) only when the answer prefers it
    assert re.search(r"^m=audio \d+ \S+ 63 111\b", audio, re.MULTILINE), audio
    assert "a=rtpmap:63 red/48000/2" in audio and "a=fmtp:63 111/111" in audio


async def test_subscribers_are_offered_opus_with_fec_and_dtx(harness: Harness) -> None:
    await harness.server.create_room("r")
    speaker = await harness.join("r", "speaker")
    await harness.join("r", "listener")
    harness.clients[("r", "listener")].answer_subscribe_offers = False
    await speaker.publish(NumberedVideoTrack(), ToneTrack(loud=False))

    def offer() -> SubscribeOffer | None:
        for e in harness.events:
            if isinstance(e, SubscribeOffer) and e.peer_id == "listener" and "opus" in e.sdp:
                return e
        return None

    await wait_for(lambda: offer() is not None, timeout=20)
    found = offer()
    assert found is not None
    assert opus_fmtp(found.sdp)["useinbandfec"] == "1"
    # and RED over that Opus, in every audio section
    formats = red.formats_by_mid(found.sdp)
    assert formats and all(f == red.RedFormat(63, 111) for f in formats.values())
