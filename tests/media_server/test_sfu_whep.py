"""WHEP playback: the player offers receive-only sections and the SFU fills them."""

import asyncio
import itertools
import logging
import re
from collections.abc import AsyncIterator

import pytest
from sfu_clients import (
    Client,
    Harness,
    NumberedVideoTrack,
    ToneTrack,
    WhepPlayer,
    msids,
    requires_network,
    wait_for,
)

from media_server.errors import BadSdp, InvalidState, NotPermitted, UnknownProducer
from media_server.events import PeerClosed, ProducerAdded, RoomStats, SubscribeOffer
from media_server.permissions import Permissions, TrackSource

pytestmark = [requires_network, pytest.mark.timeout(60)]

VIEWER = Permissions()  # subscribe only


def ascending(numbers: list[tuple[int, int]]) -> bool:
    values = [n for n, _ in numbers]
    return all(((b - a) % 1024) < 512 for a, b in itertools.pairwise(values))


def directions(sdp: str) -> list[str]:
    return re.findall(r"a=(sendrecv|sendonly|recvonly|inactive)", sdp)


def ids(stats: RoomStats) -> tuple[object, ...]:
    return (
        stats.peers,
        [p.producer_id for p in stats.producers],
        [(c.subscriber_id, c.producer_id) for c in stats.consumers],
    )


@pytest.fixture
async def players() -> AsyncIterator[list[WhepPlayer]]:
    created: list[WhepPlayer] = []
    yield created
    for player in created:
        await player.close()


async def screen_then_presenter(harness: Harness) -> tuple[Client, Client]:
    """A screen share added first, then the presenter's microphone and camera."""
    await harness.server.create_room("r")
    sharer = await harness.join("r", "sharer")
    presenter = await harness.join("r", "presenter")
    await sharer.publish(NumberedVideoTrack(base=60), sources={0: TrackSource.SCREEN})
    await presenter.publish(ToneTrack(loud=True), NumberedVideoTrack(base=0))
    await wait_for(
        lambda: len([e for e in harness.events if isinstance(e, ProducerAdded)]) == 3,
        what="three producers",
    )
    return sharer, presenter


async def test_whep_player_receives_the_presenter(
    harness: Harness, players: list[WhepPlayer], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    server = harness.server
    await screen_then_presenter(harness)
    await server.join("r", "viewer", VIEWER, auto_subscribe=False)
    player = WhepPlayer()
    players.append(player)
    offer = await player.offer("audio", "video")
    answer = await server.consume_offer("r", "viewer", offer)
    await player.accept(answer)
    assert directions(answer) == ["sendonly", "sendonly"]
    # a camera beats a screen added earlier; ids as on the subscribe connection
    assert sorted(msids(answer).values()) == [
        ("presenter", "presenter:0"),
        ("presenter", "presenter:1"),
    ]
    # trickle reaches this connection ("subscribe"); None ends the candidates
    candidate = next(line[2:] for line in offer.splitlines() if line.startswith("a=candidate:"))
    await server.add_ice_candidate("r", "viewer", "subscribe", candidate, "0")
    await server.add_ice_candidate("r", "viewer", "subscribe", None, "0")

    await wait_for(
        lambda: (
            len(player.received) == 2
            and len(player.received["presenter:1"].numbers) >= 40
            and player.received["presenter:0"].frames >= 50
        ),
        timeout=15,
        what="the presenter's audio and 40 frames at the player",
    )
    video = player.received["presenter:1"]
    assert video.stream_id == "presenter"
    assert all(abs(b) <= 8 for _, b in video.numbers)  # the camera, not the screen
    assert ascending(video.numbers)
    assert len({n for n, _ in video.numbers}) >= 40
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]

    stats = await server.stats("r")
    consumed = {c.producer_id: c for c in stats.consumers if c.subscriber_id == "viewer"}
    assert set(consumed) == {"presenter:0", "presenter:1"}
    assert all(c.packets_sent > 0 for c in consumed.values())
    # its consumers are the offer's: no subscribe/renegotiation
    with pytest.raises(InvalidState, match="WHEP"):
        await server.subscribe("r", "viewer", "sharer:0")

    # an ordinary peer: it leaves like any other
    await server.leave("r", "viewer")
    await wait_for(
        lambda: any(isinstance(e, PeerClosed) and e.peer_id == "viewer" for e in harness.events),
        what="PeerClosed for the viewer",
    )
    stats = await server.stats("r")
    assert "viewer" not in stats.peers
    assert not [c for c in stats.consumers if c.subscriber_id == "viewer"]


async def test_whep_named_producers_and_silent_sections(
    harness: Harness, players: list[WhepPlayer]
) -> None:
    server = harness.server
    await screen_then_presenter(harness)
    await server.join("r", "viewer", VIEWER, auto_subscribe=False)
    player = WhepPlayer()
    players.append(player)
    answer = await server.consume_offer(
        "r", "viewer", await player.offer("audio", "video"), producer_ids=["sharer:0"]
    )
    await player.accept(answer)
    # nothing to send on the audio section: answered inactive
    assert directions(answer) == ["inactive", "sendonly"]
    await wait_for(
        lambda: "sharer:0" in player.received and len(player.received["sharer:0"].numbers) >= 10,
        what="the named screen share",
    )
    assert list(player.received) == ["sharer:0"]
    screen = player.received["sharer:0"]
    assert all(abs(b - 60) <= 8 for _, b in screen.numbers)

    # the producer goes away: no renegotiation, the section falls silent
    await server.leave("r", "sharer")
    await asyncio.sleep(0.3)
    frames = len(screen.numbers)
    await asyncio.sleep(0.7)
    assert len(screen.numbers) <= frames + 1
    assert not [c for c in (await server.stats("r")).consumers if c.subscriber_id == "viewer"]
    assert "viewer" in (await server.stats("r")).peers


async def test_whep_bad_offers_change_nothing(harness: Harness, players: list[WhepPlayer]) -> None:
    server = harness.server
    await screen_then_presenter(harness)
    await server.join("r", "viewer", VIEWER, auto_subscribe=False)
    await server.join("r", "auto", VIEWER)  # auto_subscribe: has a subscribe connection
    await server.join("r", "mute", Permissions(may_subscribe=False), auto_subscribe=False)
    await wait_for(
        lambda: any(isinstance(e, SubscribeOffer) and e.peer_id == "auto" for e in harness.events),
        what="the offer to the auto-subscribing peer",
    )
    before = await server.stats("r")
    player = WhepPlayer()
    players.append(player)
    offer = await player.offer("audio", "video")
    # passes the SDP checks, but aiortc accepts no H.264 of that profile
    odd_h264 = WhepPlayer()
    players.append(odd_h264)
    h264_offer = await odd_h264.offer("video", video_codec="video/H264")
    h264_offer = re.sub(r"profile-level-id=\w+", "profile-level-id=ffffff", h264_offer)

    bad = {
        "garbage": "v=0\r\nnot an sdp at all\r\nm=",
        "empty": "",
        "truncated": offer[: len(offer) // 3],
        "no fingerprint": "\r\n".join(
            line for line in offer.split("\r\n") if not line.startswith("a=fingerprint")
        ),
        "unknown codecs only": re.sub(r"(a=rtpmap:\d+ )\w+/", r"\1NOPE/", offer),
        "no codec aiortc can answer": h264_offer,
    }
    for name, sdp in bad.items():
        with pytest.raises(BadSdp):
            await server.consume_offer("r", "viewer", sdp)
        assert ids(await server.stats("r")) == ids(before), name
    audio_only = WhepPlayer()
    players.append(audio_only)
    with pytest.raises(BadSdp, match="presenter:1"):
        # named, but the offer has no video section
        await server.consume_offer(
            "r", "viewer", await audio_only.offer("audio"), producer_ids=["presenter:1"]
        )
    with pytest.raises(UnknownProducer):
        await server.consume_offer("r", "viewer", offer, producer_ids=["nobody:0"])
    with pytest.raises(InvalidState, match="auto_subscribe"):
        await server.consume_offer("r", "auto", offer)
    with pytest.raises(NotPermitted):
        await server.consume_offer("r", "mute", offer)
    assert ids(await server.stats("r")) == ids(before)
    assert not [e for e in harness.events if isinstance(e, PeerClosed)]

    # after all that the viewer still plays, once
    await player.accept(await server.consume_offer("r", "viewer", offer))
    await wait_for(lambda: any(len(r.numbers) > 5 for r in player.received.values()), what="video")
    with pytest.raises(InvalidState, match="renegotiate"):
        await server.consume_offer("r", "viewer", offer)
