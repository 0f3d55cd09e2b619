"""The SDP guard on a real aiortc offer: control characters and impossible ports are refused."""

from __future__ import annotations

import re

import pytest
from aiortc import RTCPeerConnection

from media_server.errors import BadSdp
from media_server.sdp_guard import check_description


async def real_offer() -> str:
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver("audio", direction="sendrecv")
        pc.addTransceiver("video", direction="sendrecv")
        await pc.setLocalDescription(await pc.createOffer())
        return pc.localDescription.sdp
    finally:
        await pc.close()


@pytest.fixture
async def offer() -> str:
    return await real_offer()


def test_real_offer_passes(offer: str) -> None:
    media = check_description(offer, "offer")
    assert [m.kind for m in media] == ["audio", "video"]
    assert all(0 < m.port <= 65535 for m in media)


@pytest.mark.parametrize(
    "char", ["\x00", "\x01", "\x07", "\x08", "\t", "\x0b", "\x0c", "\x1b", "\x1f", "\x7f"]
)
def test_control_characters_are_refused_with_the_line(offer: str, char: str) -> None:
    lines = offer.split("\r\n")
    where = next(i for i, line in enumerate(lines) if line.startswith("a=msid:"))
    lines[where] = lines[where][:9] + char + lines[where][9:]
    with pytest.raises(BadSdp) as refused:
        check_description("\r\n".join(lines), "offer")
    assert str(refused.value) == (f"SDP line {where + 1} holds control character U+{ord(char):04X}")


def test_nul_in_session_name_is_refused(offer: str) -> None:
    hostile = re.sub(r"(?m)^s=.*$", "s=Lò Văn\x00Páo", offer)
    with pytest.raises(BadSdp, match="control character U\\+0000"):
        check_description(hostile, "offer")


@pytest.mark.parametrize("port", ["99999", "65536", "4294967297"])
def test_m_line_port_beyond_65535_is_refused(offer: str, port: str) -> None:
    hostile = re.sub(r"(?m)^m=video \d+", f"m=video {port}", offer)
    with pytest.raises(BadSdp, match=f"media section 1: port {port} is not between 0 and 65535"):
        check_description(hostile, "offer")


def test_candidate_and_rtcp_ports_beyond_65535_are_refused(offer: str) -> None:
    candidate = "a=candidate:1 1 udp 2130706431 192.0.2.9 99999 typ host"
    hostile = offer.replace("a=mid:0\r\n", f"a=mid:0\r\n{candidate}\r\n", 1)
    with pytest.raises(BadSdp, match="media section 0: candidate port 99999"):
        check_description(hostile, "offer")
    hostile = re.sub(r"(?m)^a=rtcp:\d+", "a=rtcp:70000", offer, count=1)
    with pytest.raises(BadSdp, match="media section 0: a=rtcp port 70000"):
        check_description(hostile, "offer")


def test_ordinary_text_still_passes(offer: str) -> None:
    # Non-ASCII text is not a control character; ports at the edges are ports.
    text = re.sub(r"(?m)^s=.*$", "s=Lò Văn Páo", offer)
    text = re.sub(r"(?m)^m=video \d+", "m=video 65535", text)
    assert [m.port for m in check_description(text, "offer")][1] == 65535


def test_an_msid_of_blanks_reads_as_absent(offer: str) -> None:
    """Found by make fuzz: `a=msid:` with only spaces raised IndexError (a 500)."""
    blanked = re.sub(r"a=msid:[^\r\n]*", "a=msid:   ", offer)
    assert "a=msid:   " in blanked
    media = check_description(blanked, "offer")
    assert [(m.stream_id, m.track_id) for m in media] == [(None, None), (None, None)]
