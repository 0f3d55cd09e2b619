"""Target ``sdp``: session descriptions and ICE candidates from peers.

The first byte picks what the rest is: an offer or an answer for
:func:`media_server.sdp_guard.check_description` (which parses it with
aiortc's parser, the one ``setRemoteDescription`` uses), or a trickled
candidate for the parse :meth:`media_server.peer.Peer.add_ice_candidate`
does. A :class:`~media_server.errors.BadSdp` is the refusal; the candidate
parse is wrapped in the same catch as in the peer, so only a hang or
memory growth can be found there. Seeds are offers aiortc makes (no ICE
gathering, so no socket is opened) and the answers made from them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from media_server.errors import BadCandidate, BadSdp
from media_server.sdp_guard import MAX_SDP_LENGTH, check_description

from .mutators import line_mutator
from .target import Target

_MODES = ("offer", "answer", "candidate")

# candidate lines as browsers trickle them (RFC 8839 grammar)
_CANDIDATES = (
    "candidate:842163049 1 udp 1677729535 127.0.0.1 49203 typ srflx raddr 0.0.0.0 rport 0"
    " generation 0 ufrag sO4i network-cost 999",
    "candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host",
    "candidate:2 1 TCP 1518280447 127.0.0.1 9 typ host tcptype active",
    "candidate:3 1 udp 41885439 127.0.0.1 3478 typ relay raddr 127.0.0.1 rport 58000",
)


def one_input(data: bytes) -> None:
    if not data:
        return
    mode = _MODES[data[0] % len(_MODES)]
    text = data[1:].decode("utf-8", "replace")
    if mode == "candidate":
        _candidate(text)
        return
    try:
        check_description(text, mode)
    except BadSdp:
        pass


def _candidate(text: str) -> None:
    # as in Peer.add_ice_candidate, before the connection sees it
    text = text.strip()
    if text.startswith("candidate:"):
        text = text[len("candidate:") :]
    try:
        try:
            candidate_from_sdp(text)
        except Exception as exc:
            raise BadCandidate(f"candidate cannot be parsed: {type(exc).__name__}") from exc
    except BadCandidate:
        pass


async def _descriptions() -> list[str]:
    made = []
    for kinds in (("audio",), ("video",), ("audio", "video"), ("audio", "video", "video")):
        offerer = RTCPeerConnection()
        answerer = RTCPeerConnection()
        try:
            for kind in kinds:
                offerer.addTransceiver(kind)
            offer = await offerer.createOffer()
            made.append(offer.sdp)
            # the answer's text, as a client would send it (no gathering)
            answer = offer.sdp.replace("a=setup:actpass", "a=setup:active")
            made.append(answer.replace("a=sendrecv", "a=recvonly"))
        finally:
            await offerer.close()
            await answerer.close()
    return made


def seeds() -> Iterator[bytes]:
    for sdp in asyncio.run(_descriptions()):
        for mode in ("offer", "answer"):
            yield bytes([_MODES.index(mode)]) + sdp.encode()
    for candidate in _CANDIDATES:
        yield bytes([_MODES.index("candidate")]) + candidate.encode()


TARGET = Target(
    mutator=line_mutator(),
    name="sdp",
    one_input=one_input,
    seeds=seeds,
    max_len=MAX_SDP_LENGTH + 1024,  # past the guard's limit, to reach it
    dictionary=(
        b"\nm=audio 9 UDP/TLS/RTP/SAVPF 96\r\n",
        b"\nm=video 9 UDP/TLS/RTP/SAVPF 97\r\n",
        b"\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
        b"a=mid:",
        b"a=msid:",
        b"a=ice-ufrag:",
        b"a=ice-pwd:",
        b"a=fingerprint:sha-256 ",
        b"a=setup:",
        b"a=rtcp-mux",
        b"a=rtpmap:",
        b"a=fmtp:",
        b"a=ssrc:",
        b"a=ssrc-group:FID ",
        b"a=sctpmap:",
        b"a=candidate:",
        b"a=group:BUNDLE ",
        b"a=sendonly",
        b"a=inactive",
        b"c=IN IP6 ::1",
        b" typ host",
        b" raddr ",
        b" rport ",
        b" tcptype ",
        b"\x00",
    ),
)
