"""A member who comes back, or shares the screen again, is sent under a new name:
a subscriber's connection keeps the sections of what it was sent, and a browser
refuses an offer that repeats an a=msid."""

import collections

import pytest
from aiortc import RTCSessionDescription
from sfu_clients import (
    Client,
    Harness,
    NumberedVideoTrack,
    ToneTrack,
    msids,
    requires_network,
    wait_for,
)

from media_server.events import PeerClosed, ProducerAdded
from media_server.permissions import TrackSource

pytestmark = [requires_network, pytest.mark.timeout(60)]


def repeated_msids(sdp: str) -> list[tuple[str, str]]:
    counts = collections.Counter(msids(sdp).values())
    return [msid for msid, n in counts.items() if n > 1]


def decoding(client: Client, producer_id: str, frames: int = 10) -> bool:
    received = client.received.get(producer_id)
    return received is not None and not received.ended and len(received.numbers) >= frames


async def test_a_member_back_after_a_reload_is_seen_again(harness: Harness) -> None:
    await harness.server.create_room("r")
    bob = await harness.join("r", "bob")
    for attempt in range(3):
        alice = await harness.join("r", "alice")
        await alice.publish(ToneTrack(loud=True), NumberedVideoTrack(base=20))
        video = "alice:1" if attempt == 0 else f"alice:1.{attempt}"
        await wait_for(lambda v=video: decoding(bob, v), what=f"bob decodes {video}")
        # the page reloads: its peer goes, a new one comes with the same peer id
        await harness.server.leave("r", "alice")
        await alice.close()
        del harness.clients[("r", "alice")]
    assert bob.offers and all(repeated_msids(sdp) == [] for sdp in bob.offers)
    added = [e.producer_id for e in harness.events if isinstance(e, ProducerAdded)]
    assert added == ["alice:0", "alice:1", "alice:0.1", "alice:1.1", "alice:0.2", "alice:1.2"]


async def test_a_screen_shared_twice_on_one_section_is_a_new_producer(harness: Harness) -> None:
    await harness.server.create_room("r")
    bob = await harness.join("r", "bob")
    alice = await harness.join("r", "alice")
    _, screen = await alice.publish(
        NumberedVideoTrack(base=0),
        NumberedVideoTrack(base=60),
        sources={0: TrackSource.CAMERA, 1: TrackSource.SCREEN},
    )
    await wait_for(lambda: decoding(bob, "alice:1"), what="bob decodes the screen")

    async def renegotiate(sources: dict[str, TrackSource]) -> None:
        pc = alice.publish_pc
        await pc.setLocalDescription(await pc.createOffer())
        answer = await harness.server.publish_offer("r", "alice", pc.localDescription.sdp, sources)
        await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    for n in (1, 2):
        screen.direction = "inactive"  # as the web client stops sharing
        await renegotiate({"0": TrackSource.CAMERA})
        screen.direction = "sendonly"  # and shares again on the same section
        await renegotiate({"0": TrackSource.CAMERA, "1": TrackSource.SCREEN})
        await wait_for(
            lambda n=n: decoding(bob, f"alice:1.{n}"), what=f"the screen, shared {n + 1} times"
        )
    assert all(repeated_msids(sdp) == [] for sdp in bob.offers)
    assert decoding(bob, "alice:0", frames=30)  # the camera went on under its own name


async def test_a_late_drop_of_the_old_peer_leaves_the_new_one(harness: Harness) -> None:
    """The old peer's connection reports "closed" after its member came back under
    the same id: the new peer stays, and no PeerClosed names it."""
    await harness.server.create_room("r")
    bob = await harness.join("r", "bob")
    alice = await harness.join("r", "alice")
    await alice.publish(NumberedVideoTrack())
    room = harness.server._rooms["r"]
    old = room.peers["alice"]
    await harness.server.leave("r", "alice")
    await harness.clients.pop(("r", "alice")).close()
    alice = await harness.join("r", "alice")
    await alice.publish(NumberedVideoTrack(base=40))
    closed_before = [e for e in harness.events if isinstance(e, PeerClosed)]
    room._dropped(old, PeerClosed.CONNECTION_CLOSED)  # as aiortc's callback would
    await wait_for(lambda: decoding(bob, "alice:0.1", frames=20), what="the new alice at bob")
    assert await harness.server.has_peer("r", "alice")
    assert [e for e in harness.events if isinstance(e, PeerClosed)] == closed_before


async def test_an_offer_in_flight_is_sent_again_on_request(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    bob.answer_subscribe_offers = False  # the offer is lost with bob's old socket
    await alice.publish(NumberedVideoTrack())
    await wait_for(lambda: len(bob.offers) == 1, what="a subscribe offer for bob")
    bob.answer_subscribe_offers = True
    assert await harness.server.resend_subscribe_offer("r", "bob")
    await wait_for(lambda: decoding(bob, "alice:0"), what="bob decodes alice")
    assert bob.offers[1] == bob.offers[0]
    assert not await harness.server.resend_subscribe_offer("r", "bob")  # answered
