"""Hostile or broken input gets a typed error and disturbs nobody else."""

import re

import pytest
from aiortc import RTCPeerConnection
from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, requires_network, wait_for

from media_server.errors import (
    BadCandidate,
    BadSdp,
    InvalidState,
    NotPermitted,
    PeerExists,
    RoomExists,
    UnknownConsumer,
    UnknownPeer,
    UnknownRoom,
)
from media_server.events import RoomStats
from media_server.permissions import Permissions

pytestmark = [requires_network, pytest.mark.timeout(60)]


async def client_offer() -> str:
    """A valid publish offer (audio + video) from a real aiortc client."""
    pc = RTCPeerConnection()
    try:
        pc.addTransceiver(ToneTrack(loud=False), direction="sendonly")
        pc.addTransceiver(NumberedVideoTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        return str(pc.localDescription.sdp)
    finally:
        await pc.close()


def hostile_offers(offer: str) -> dict[str, str]:
    head, _, rest = offer.partition("\r\nm=")
    section = "m=" + rest.split("\r\nm=")[0]
    long_sections = "".join("\r\n" + section.replace("a=mid:0", f"a=mid:x{i}") for i in range(3000))
    short_sections = "".join(f"\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{i}" for i in range(1000))
    unknown_codecs = re.sub(r"(a=rtpmap:\d+ )\w+/", r"\1NOPE/", offer)
    return {
        "garbage": "\x00\xff not an sdp at all \r\n m=",
        "empty": "",
        "truncated": offer[: len(offer) // 3],
        "no fingerprint": "\r\n".join(
            line for line in offer.split("\r\n") if not line.startswith("a=fingerprint")
        ),
        "no ice credentials": "\r\n".join(
            line for line in offer.split("\r\n") if not line.startswith("a=ice-pwd")
        ),
        "unknown codecs only": unknown_codecs,
        "thousands of m-lines": head + long_sections,
        "thousands of short m-lines": head + short_sections,
        "huge": offer + "a=x-junk:" + "A" * 1_000_000 + "\r\n",
        "application only": head + "\r\nm=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n",
        "bad numbers": re.sub(r"m=video \d+", "m=video notaport", offer),
        "repeated mid": offer.replace("a=mid:1", "a=mid:0"),
    }


async def test_bad_input_gets_typed_errors_and_disturbs_nobody(harness: Harness) -> None:
    server = harness.server
    await server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob", Permissions())  # may only subscribe
    mallory = await harness.join("r", "mallory")
    await server.join("r", "eve", Permissions(may_subscribe=False))  # will have no connection
    await alice.publish(NumberedVideoTrack())
    await wait_for(
        lambda: all(any(r.numbers for r in c.received.values()) for c in (bob, mallory)),
        what="video at bob and mallory",
    )
    (video,) = bob.received.values()
    before = await server.stats("r")

    def ids(stats: RoomStats) -> tuple[object, ...]:
        return (
            stats.peers,
            [p.producer_id for p in stats.producers],
            [(c.subscriber_id, c.producer_id) for c in stats.consumers],
        )

    offer = await client_offer()
    candidate = "candidate:1 1 udp 2130706431 192.0.2.9 40000 typ host"

    for name, sdp in hostile_offers(offer).items():
        with pytest.raises(BadSdp):
            await server.publish_offer("r", "mallory", sdp)
        assert ids(await server.stats("r")) == ids(before), name

    with pytest.raises(NotPermitted, match="may not publish"):
        await server.publish_offer("r", "bob", offer)
    with pytest.raises(UnknownRoom):
        await server.publish_offer("nope", "alice", offer)
    with pytest.raises(UnknownPeer):
        await server.publish_offer("r", "nobody", offer)
    with pytest.raises(UnknownPeer):
        await server.add_ice_candidate(
            "r", "nobody", "publish", "candidate:1 1 udp 1 1.2.3.4 5 typ host", "0"
        )
    with pytest.raises(UnknownRoom):
        await server.add_ice_candidate("nope", "bob", "publish", "candidate:x", "0")
    with pytest.raises(BadCandidate):
        await server.add_ice_candidate("r", "alice", "publish", "candidate:garbage", "0")
    with pytest.raises(BadCandidate):
        await server.add_ice_candidate("r", "alice", "sideways", "candidate:garbage", "0")
    with pytest.raises(InvalidState):
        await server.add_ice_candidate("r", "eve", "publish", candidate, "0")
    with pytest.raises(InvalidState):
        await server.subscribe_answer("r", "alice", offer)  # nothing was offered to alice
    with pytest.raises(UnknownConsumer):
        await server.pause_consumer("r", "bob", "nobody:0")
    with pytest.raises(PeerExists):
        await server.join("r", "alice", Permissions())
    with pytest.raises(RoomExists):
        await server.create_room("r")

    # nothing else changed, and bob still watches alice
    assert ids(await server.stats("r")) == ids(before)
    frames = len(video.numbers)
    await wait_for(lambda: len(video.numbers) > frames + 10, what="video still flowing")
    # and mallory, after all that, can still publish a proper offer
    await mallory.publish(ToneTrack(loud=False))
    await wait_for(
        lambda: len(bob.received) == 2 and all(r.frames for r in bob.received.values()),
        what="mallory's audio at bob",
    )


async def test_bad_subscribe_answer_is_rejected_and_a_good_one_still_works(
    harness: Harness,
) -> None:
    server = harness.server
    await server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    bob.answer_subscribe_offers = False
    await alice.publish(NumberedVideoTrack())
    await wait_for(lambda: bool(bob.offers), what="a subscribe offer for bob")
    for garbage in ("", "v=0\r\nnonsense", bob.offers[0]):
        with pytest.raises(BadSdp):
            await server.subscribe_answer("r", "bob", garbage)
    bob.answer_subscribe_offers = True
    offer = next(e for e in harness.events if getattr(e, "peer_id", None) == "bob")
    await bob.on_subscribe_offer(offer)  # type: ignore[arg-type]
    await wait_for(lambda: any(len(r.numbers) > 5 for r in bob.received.values()), what="video")
