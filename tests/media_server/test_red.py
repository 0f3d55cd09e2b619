"""RED for Opus (RFC 2198): payloads taken apart, SDP offered and answered.

The offer is Debian's Chromium 156's own (tests/media_server/data): it
offers `red/48000/2` with `fmtp 111/111` beside Opus, as browsers do.
"""

from pathlib import Path

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from sfu_clients import Harness, requires_network, wait_for

from media_server import red
from media_server.consumer import _outputs
from media_server.events import ProducerAdded

CHROMIUM_OFFER = (Path(__file__).parent / "data" / "chromium_offer.sdp").read_text()


def red_payload(blocks: list[tuple[int, int, bytes]], primary: tuple[int, bytes]) -> bytes:
    """A RED payload: redundant (payload type, timestamp offset, data) blocks, then
    the primary (payload type, data)."""
    header = b""
    for pt, offset, data in blocks:
        header += bytes([0x80 | pt]) + ((offset << 10) | len(data)).to_bytes(3, "big")
    header += bytes([primary[0]])
    return header + b"".join(data for _, _, data in blocks) + primary[1]


def test_the_primary_is_the_last_block() -> None:
    payload = red_payload([(111, 1920, b"older"), (111, 960, b"previous")], (111, b"own frame"))
    assert red.primary(payload) == b"own frame"
    assert red.primary(bytes([111]) + b"alone") == b"alone"


def test_block_types_are_rewritten_and_nothing_else() -> None:
    payload = red_payload([(111, 960, b"previous")], (111, b"own"))
    rewritten = red.with_block_type(payload, 109)
    assert rewritten[0] == 0x80 | 109 and rewritten[4] == 109
    assert rewritten[1:4] == payload[1:4] and rewritten[5:] == payload[5:]
    assert red.primary(rewritten) == b"own"


@pytest.mark.parametrize(
    "payload",
    [
        b"",  # nothing
        bytes([0x80 | 111, 0, 0]),  # a redundant header cut short
        bytes([0x80 | 111, 0x0F, 0x00, 0x40, 111]) + b"short",  # a block longer than the rest
    ],
)
def test_a_broken_payload_is_refused(payload: bytes) -> None:
    with pytest.raises(red.RedError):
        red.primary(payload)


def test_the_browsers_offer_names_red_over_its_opus() -> None:
    formats = red.formats_by_mid(CHROMIUM_OFFER.replace("\n", "\r\n"))
    assert formats == {"0": red.RedFormat(payload_type=63, opus_payload_type=111)}


def test_red_is_offered_first_and_carries_the_sections_opus() -> None:
    sdp = "\r\n".join(
        [
            "v=0",
            "m=audio 9 UDP/TLS/RTP/SAVPF 111 0 8",
            "a=mid:0",
            "a=rtpmap:111 opus/48000/2",
            "a=fmtp:111 minptime=10;useinbandfec=1;usedtx=1",
            "a=rtpmap:0 PCMU/8000",
            "m=video 9 UDP/TLS/RTP/SAVPF 63 98",
            "a=mid:1",
            "a=rtpmap:63 VP8/90000",
            "",
        ]
    )
    offered = red.offer_red(sdp)
    audio, video = offered.split("\r\nm=video")
    assert "m=audio 9 UDP/TLS/RTP/SAVPF 63 111 0 8" in audio
    assert "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\na=rtpmap:111 opus" in audio
    assert "red" not in video  # video untouched
    assert red.formats_by_mid(offered) == {"0": red.RedFormat(63, 111)}
    assert red.offer_red(offered) == offered  # once


def test_reds_number_avoids_one_in_use() -> None:
    sdp = "v=0\r\nm=audio 9 RTP/SAVPF 63 111\r\na=mid:0\r\na=rtpmap:63 G722/8000\r\n"
    sdp += "a=rtpmap:111 opus/48000/2\r\n"
    assert red.formats_by_mid(red.offer_red(sdp)) == {"0": red.RedFormat(62, 111)}


def codec(mime: str, pt: int) -> RTCRtpCodecParameters:
    return RTCRtpCodecParameters(mimeType=mime, clockRate=48000, channels=2, payloadType=pt)


def test_a_leg_gets_red_as_it_accepted_it() -> None:
    published = [codec("audio/red", 63), codec("audio/opus", 111)]
    payload = red_payload([(111, 960, b"previous")], (111, b"own"))
    # a browser that takes RED with the same Opus number: unchanged
    same = _outputs(published, [codec("audio/red", 63), codec("audio/opus", 111)])
    assert same["audio/red"] == (63, None)
    # with another Opus number: the blocks renumbered
    pt, change = _outputs(published, [codec("audio/red", 62), codec("audio/opus", 96)])["audio/red"]
    assert pt == 62 and change is not None
    assert change(payload) == red.with_block_type(payload, 96)
    # without RED (an aiortc player, a WHEP tool): the primary, as Opus
    pt, change = _outputs(published, [codec("audio/opus", 96)])["audio/red"]
    assert pt == 96 and change is not None and change(payload) == b"own"
    # a publisher without RED: Opus as it comes
    assert _outputs([codec("audio/opus", 111)], [codec("audio/opus", 96)]) == {
        "audio/opus": (96, None)
    }


@requires_network
@pytest.mark.timeout(60)
async def test_taps_are_given_the_opus_inside(harness: Harness) -> None:
    """The recorder writes Opus: a RED packet reaches a tap as its primary frame."""
    await harness.server.create_room("r")
    await harness.join("r", "doctor")
    await harness.server.publish_offer("r", "doctor", CHROMIUM_OFFER.replace("\n", "\r\n"))

    def audio() -> list[ProducerAdded]:
        return [e for e in harness.events if isinstance(e, ProducerAdded) and e.kind == "audio"]

    await wait_for(lambda: bool(audio()), what="the audio producer")
    (added,) = audio()
    producer = harness.server._room("r").producer(added.producer_id)
    assert [c.mimeType for c in producer.codecs[:2]] == ["audio/red", "audio/opus"]
    seen: list[tuple[int, str, bytes]] = []
    producer.add_tap(lambda p, c, _: seen.append((p.payload_type, c.mimeType, p.payload)))
    payload = red_payload([(111, 960, b"previous")], (111, b"own"))
    packet = RtpPacket(payload_type=63, sequence_number=7, timestamp=960, ssrc=1, payload=payload)
    producer._run_taps(packet, producer.codecs[0])
    producer._run_taps(RtpPacket(payload_type=63, payload=b"\x80"), producer.codecs[0])  # broken
    assert seen == [(111, "audio/opus", b"own")]
