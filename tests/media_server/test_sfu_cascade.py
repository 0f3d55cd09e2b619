"""Cascading: an origin MediaServer's room piped to an edge MediaServer over WebRTC."""

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator

import pytest
from sfu_clients import (
    Harness,
    NumberedVideoTrack,
    Pipe,
    ToneTrack,
    msids,
    requires_network,
    wait_for,
)

from media_server.api import MediaConfig
from media_server.errors import BadSdp, InvalidState, NotPermitted
from media_server.events import PeerClosed, ProducerAdded, ProducerRemoved, RoomStats
from media_server.permissions import Permissions, TrackSource

pytestmark = [requires_network, pytest.mark.timeout(60)]

PIPE_PERMISSIONS = Permissions(
    may_publish_audio=True, may_publish_video=True, may_publish_screen=True, may_subscribe=False
)


def ascending(numbers: list[tuple[int, int]]) -> bool:
    values = [n for n, _ in numbers]
    return all(((b - a) % 1024) < 512 for a, b in itertools.pairwise(values))


def ids(stats: RoomStats) -> tuple[object, ...]:
    return (
        stats.peers,
        [(p.producer_id, p.peer_id) for p in stats.producers],
        [(c.subscriber_id, c.producer_id) for c in stats.consumers],
    )


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[Harness, Harness]]:
    """Two nodes in one process, each with room "r"."""
    config = MediaConfig(media_timeout=2.0, liveness_interval=0.5)
    origin, edge = Harness(config), Harness(config)
    await origin.server.create_room("r")
    await edge.server.create_room("r")
    try:
        yield origin, edge
    finally:
        await edge.close()
        await origin.close()


async def test_edge_subscriber_sees_the_origin_publisher(
    nodes: tuple[Harness, Harness], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    origin, edge = nodes
    alice = await origin.join("r", "alice")
    await alice.publish(ToneTrack(loud=True), NumberedVideoTrack(base=0))
    pipe = Pipe(origin, edge, "r")
    await pipe.start()
    viewer = await edge.join("r", "viewer", Permissions())

    await wait_for(
        lambda: (
            set(viewer.received) == {"alice:0", "alice:1"}
            and len(viewer.received["alice:1"].numbers) >= 30
            and viewer.received["alice:0"].frames > 20
        ),
        timeout=15,
        what="alice's audio and 30 frames at the edge viewer",
    )
    video = viewer.received["alice:1"]
    # the same track and stream ids as a subscriber on the origin would see
    assert video.stream_id == "alice" and viewer.received["alice:0"].stream_id == "alice"
    assert all(abs(b) <= 8 for _, b in video.numbers)
    assert ascending(video.numbers)
    assert len({n for n, _ in video.numbers}) >= 30
    added = [e for e in edge.events if isinstance(e, ProducerAdded)]
    assert [(e.peer_id, e.producer_id, e.source) for e in added] == [
        ("alice", "alice:0", TrackSource.MICROPHONE),
        ("alice", "alice:1", TrackSource.CAMERA),
    ]
    # lookups by producer id work on the edge, and stats name the origin's peer
    stats = await edge.server.stats("r")
    assert {(p.producer_id, p.peer_id) for p in stats.producers} == {
        ("alice:0", "alice"),
        ("alice:1", "alice"),
    }
    assert sorted(stats.peers) == ["pipe", "viewer"]
    await edge.server.request_keyframe("r", "alice:1")
    await edge.server.pause_consumer("r", "viewer", "alice:1")
    await edge.server.resume_consumer("r", "viewer", "alice:1")

    # a second publisher on the origin (a screen share) reaches the edge by renegotiation
    bob = await origin.join("r", "bob")
    await bob.publish(NumberedVideoTrack(base=60), sources={0: TrackSource.SCREEN})
    await wait_for(
        lambda: "bob:0" in viewer.received and len(viewer.received["bob:0"].numbers) >= 10,
        what="bob's screen at the edge viewer",
    )
    assert viewer.received["bob:0"].stream_id == "bob"
    assert all(abs(b - 60) <= 8 for _, b in viewer.received["bob:0"].numbers)
    assert [e.source for e in edge.events if isinstance(e, ProducerAdded)][-1] is (
        TrackSource.SCREEN
    )
    assert msids(pipe.offers[-1])  # the origin's offer named its producers

    # bob leaves the origin: his producer leaves the edge, and its track ends there
    await origin.server.leave("r", "bob")

    def removed() -> list[str]:
        return [e.producer_id for e in edge.events if isinstance(e, ProducerRemoved)]

    await wait_for(lambda: removed() == ["bob:0"], what="ProducerRemoved bob:0 on the edge")
    await wait_for(lambda: viewer.received["bob:0"].ended, what="bob's track to end at the viewer")
    assert [p.producer_id for p in (await edge.server.stats("r")).producers] == [
        "alice:0",
        "alice:1",
    ]
    frames = len(video.numbers)
    await wait_for(lambda: len(video.numbers) > frames + 10, what="alice still flowing")
    assert ascending(video.numbers)

    # bob comes back: the origin names his producer anew ("bob:0.1"), and so does the edge
    bob = await origin.join("r", "bob")
    await bob.publish(NumberedVideoTrack(base=60), sources={0: TrackSource.SCREEN})
    await wait_for(
        lambda: "bob:0.1" in viewer.received and len(viewer.received["bob:0.1"].numbers) > 5,
        what="bob's screen again at the edge viewer",
    )
    assert viewer.received["bob:0"].ended
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]

    # the pipe leaves the origin: the edge loses its connection, its pipe peer and producers
    await origin.server.leave("r", "pipe")
    await wait_for(
        lambda: any(isinstance(e, PeerClosed) and e.peer_id == "pipe" for e in edge.events),
        what="the pipe peer to close on the edge",
    )
    assert sorted(removed()) == ["alice:0", "alice:1", "bob:0", "bob:0.1"]
    assert (await edge.server.stats("r")).producers == ()


async def test_late_edge_subscriber_gets_a_keyframe_through_the_pipe(
    nodes: tuple[Harness, Harness],
) -> None:
    origin, edge = nodes
    alice = await origin.join("r", "alice")
    # aiortc's VP8 encoder makes a keyframe only every 3000 frames or on request
    await alice.publish(NumberedVideoTrack())
    await Pipe(origin, edge, "r").start()
    first = await edge.join("r", "first", Permissions())
    await wait_for(lambda: any(r.numbers for r in first.received.values()), what="video at edge")
    await asyncio.sleep(2)  # well past the first keyframe and every throttle interval

    async def requests(node: Harness) -> int:
        (producer,) = (await node.server.stats("r")).producers
        return producer.keyframe_requests_sent

    origin_before, edge_before = await requests(origin), await requests(edge)
    late = await edge.join("r", "late", Permissions())
    await wait_for(lambda: any(r.numbers for r in late.received.values()), what="late video")
    (video,) = late.received.values()
    assert video.first_frame_time is not None
    assert video.first_frame_time - late.answer_times[0] <= 1.0
    # the PLI went from the edge's producer over the pipe, and on to alice
    assert await requests(edge) > edge_before
    assert await requests(origin) > origin_before


async def test_bad_pipe_offers_change_nothing(nodes: tuple[Harness, Harness]) -> None:
    origin, edge = nodes
    alice = await origin.join("r", "alice")
    await alice.publish(ToneTrack(loud=False), NumberedVideoTrack())
    pipe = Pipe(origin, edge, "r")
    await pipe.start()
    viewer = await edge.join("r", "viewer", Permissions())
    await wait_for(lambda: any(r.numbers for r in viewer.received.values()), what="video at edge")
    offer = pipe.offers[0]
    await edge.server.join("r", "pipe2", PIPE_PERMISSIONS)
    await edge.server.join("r", "audio-only", Permissions(may_publish_audio=True), False)
    alice_at_edge = await edge.join("r", "alice")  # a local peer of the same name
    before = await edge.server.stats("r")

    no_msid = "\r\n".join(line for line in offer.split("\r\n") if not line.startswith("a=msid:"))
    with pytest.raises(BadSdp, match="msid"):
        await edge.server.pipe_offer("r", "pipe2", no_msid)
    with pytest.raises(BadSdp):
        await edge.server.pipe_offer("r", "pipe2", offer[: len(offer) // 2])
    # the same producers once more: the room has them already
    with pytest.raises(InvalidState, match="already exists"):
        await edge.server.pipe_offer("r", "pipe2", offer)
    with pytest.raises(NotPermitted):
        await edge.server.pipe_offer("r", "audio-only", offer)
    # a pipe's connection does not take a client's own offers
    with pytest.raises(InvalidState, match="pipe"):
        await edge.server.publish_offer("r", "pipe", offer)
    # a local "alice" would publish "alice:0", which the pipe already brought
    with pytest.raises(InvalidState, match="already exists"):
        await alice_at_edge.publish(ToneTrack(loud=False))

    assert ids(await edge.server.stats("r")) == ids(before)
    assert not [e for e in edge.events if isinstance(e, PeerClosed)]
    (video,) = [r for r in viewer.received.values() if r.track.kind == "video"]
    frames = len(video.numbers)
    await wait_for(lambda: len(video.numbers) > frames + 10, what="video still flowing")
