"""Simulcast negotiation: the answer's rid and simulcast lines (RFC 8853), against a
real offer recorded from Debian's Chromium 156 (three encodings q, h, f)."""

from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from media_server import aiortc_internals as internals
from media_server.simulcast import MAX_LAYERS, answer_simulcast, offered_layers

DATA = Path(__file__).parent / "data"


def recorded(name: str) -> str:
    # newline="": the SDP keeps its CRLF line ends, as it came
    with open(DATA / name, newline="") as f:
        return f.read()


SIMULCAST_OFFER = recorded("chromium_simulcast_offer.sdp")
PLAIN_OFFER = recorded("chromium_offer.sdp")


async def aiortc_answer(offer: str) -> str:
    internals.declare_simulcast_header_extensions()
    pc = RTCPeerConnection()
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def section_of(sdp: str, kind: str) -> str:
    (section,) = [s for s in sdp.split("\r\nm=") if s.startswith(kind)]
    return section


async def test_the_answer_receives_the_three_encodings_of_the_camera() -> None:
    answer, accepted = answer_simulcast(SIMULCAST_OFFER, await aiortc_answer(SIMULCAST_OFFER))
    assert accepted == {"1": ["q", "h", "f"]}
    video = section_of(answer, "video").rstrip("\r\n").split("\r\n")
    assert video[-4:] == ["a=rid:q recv", "a=rid:h recv", "a=rid:f recv", "a=simulcast:recv q;h;f"]
    # the browser names each encoding in its packets only if the RID extension is accepted
    assert any(line.endswith(internals.RID_URI) for line in video)
    assert "a=simulcast" not in section_of(answer, "audio")
    assert answer.endswith("\r\n") and "\r\n\r\n" not in answer


async def test_an_offer_without_simulcast_is_answered_as_aiortc_wrote_it() -> None:
    answer = await aiortc_answer(PLAIN_OFFER)
    assert answer_simulcast(PLAIN_OFFER, answer) == (answer, {})


def test_what_an_offer_may_ask_for_is_bounded() -> None:
    def section(simulcast: str, rids: list[str]) -> str:
        lines = ["m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1"]
        lines += [f"a=rid:{rid} send" for rid in rids] + [f"a=simulcast:send {simulcast}"]
        return "\r\n".join(lines)

    assert offered_layers(section("a;b;c;d;e", list("abcde"))) == ["a", "b", "c"][:MAX_LAYERS]
    assert offered_layers(section("a;~b;c", list("abc"))) == ["a", "c"]  # ~: paused
    assert offered_layers(section("a,x;c", ["a", "c", "x"])) == ["a", "c"]  # alternatives
    assert offered_layers(section("a;zz", ["a"])) == []  # zz has no a=rid line; one is no simulcast
    long_id = "r" * 40
    assert offered_layers(section(f"a;{long_id}", ["a", long_id])) == []
    assert offered_layers(section("a;b\u0000", ["a", "b\u0000"])) == []
