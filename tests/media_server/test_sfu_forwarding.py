"""Media flows through the SFU between real aiortc clients, decoded and checked."""

import asyncio
import itertools
import logging

import av
import pytest
from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, requires_network, wait_for

from media_server.errors import (
    InvalidState,
    NotPermitted,
    UnknownConsumer,
    UnknownProducer,
)
from media_server.events import ActiveSpeakerChanged, ProducerAdded
from media_server.permissions import Permissions, TrackSource

pytestmark = [requires_network, pytest.mark.timeout(60)]


def ascending(numbers: list[tuple[int, int]]) -> bool:
    """Frame numbers go up (modulo the counter's range), as sent."""
    values = [n for n, _ in numbers]
    return all(((b - a) % 1024) < 512 for a, b in itertools.pairwise(values))


async def test_two_peers_see_each_other(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(ToneTrack(loud=True), NumberedVideoTrack(base=0))
    await bob.publish(ToneTrack(loud=False), NumberedVideoTrack(base=40))

    def both_see_video() -> bool:
        return all(any(len(r.numbers) >= 30 for r in c.received.values()) for c in (alice, bob))

    await wait_for(both_see_video, timeout=15, what="30 decoded frames at each peer")

    added = [e for e in harness.events if isinstance(e, ProducerAdded)]
    assert sorted((e.peer_id, e.kind) for e in added) == [
        ("alice", "audio"),
        ("alice", "video"),
        ("bob", "audio"),
        ("bob", "video"),
    ]
    for client, other, base in ((alice, "bob", 40), (bob, "alice", 0)):
        tracks = {r.track.kind: r for r in client.received.values()}
        assert set(tracks) == {"audio", "video"}
        assert all(track_id.startswith(f"{other}:") for track_id in client.received)
        assert tracks["audio"].frames > 0
        video = tracks["video"]
        # the picture is the other peer's: its colour, its counter
        assert all(abs(b - base) <= 8 for _, b in video.numbers)
        assert ascending(video.numbers)
        assert len({n for n, _ in video.numbers}) >= 30


async def test_five_peers_all_receive_all_others(harness: Harness) -> None:
    await harness.server.create_room("r")
    names = ["p0", "p1", "p2", "p3", "p4"]
    clients = [await harness.join("r", name) for name in names]
    for i, client in enumerate(clients):
        await client.publish(ToneTrack(loud=False), NumberedVideoTrack(base=20 * i))

    def everyone_sees_everyone() -> bool:
        for client in clients:
            videos = [r for r in client.received.values() if r.track.kind == "video"]
            audios = [r for r in client.received.values() if r.track.kind == "audio"]
            if len(videos) != 4 or len(audios) != 4:
                return False
            if any(len(v.numbers) < 10 for v in videos) or any(a.frames == 0 for a in audios):
                return False
        return True

    await wait_for(everyone_sees_everyone, timeout=20, what="4 audio + 4 video at each peer")
    for i, client in enumerate(clients):
        bases = set()
        for track_id, received in client.received.items():
            sender = names.index(track_id.split(":")[0])
            assert sender != i
            if received.track.kind == "video":
                assert all(abs(b - 20 * sender) <= 8 for _, b in received.numbers)
                assert ascending(received.numbers)
                bases.add(sender)
        assert bases == set(range(5)) - {i}


async def test_late_joiner_gets_a_keyframe_within_a_second(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    # aiortc's VP8 encoder makes a keyframe only every 3000 frames or on request
    await alice.publish(NumberedVideoTrack())
    watcher = await harness.join("r", "watcher")
    await wait_for(lambda: any(r.numbers for r in watcher.received.values()), what="video")
    await asyncio.sleep(2)  # well past the first keyframe

    stats = await harness.server.stats("r")
    requests_before = stats.producers[0].keyframe_requests_sent
    bob = await harness.join("r", "bob")
    await wait_for(lambda: any(r.numbers for r in bob.received.values()), what="late video")
    (video,) = bob.received.values()
    assert video.first_frame_time is not None
    assert video.first_frame_time - bob.answer_times[0] <= 1.0
    stats = await harness.server.stats("r")
    assert stats.producers[0].keyframe_requests_sent > requests_before


async def test_paused_consumer_sends_nothing_and_resumes_cleanly(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack())
    await wait_for(lambda: any(len(r.numbers) > 10 for r in bob.received.values()), what="video")
    (producer_id,) = bob.received
    video = bob.received[producer_id]
    assert bob.subscribe_pc is not None
    receiver = bob.subscribe_pc.getReceivers()[0]

    async def packets_at_bob() -> int:
        report = await receiver.getStats()
        return sum(s.packetsReceived for s in report.values() if s.type == "inbound-rtp")

    async def packets_sent() -> int:
        stats = await harness.server.stats("r")
        (consumer,) = [c for c in stats.consumers if c.subscriber_id == "bob"]
        return consumer.packets_sent

    await harness.server.pause_consumer("r", "bob", producer_id)
    await asyncio.sleep(0.3)  # let packets in flight land
    sent, received, frames = await packets_sent(), await packets_at_bob(), len(video.numbers)
    await asyncio.sleep(1.0)
    assert await packets_sent() == sent
    assert await packets_at_bob() == received
    assert len(video.numbers) <= frames + 1
    assert (await harness.server.stats("r")).consumers[0].paused

    await harness.server.resume_consumer("r", "bob", producer_id)
    await wait_for(lambda: len(video.numbers) > frames + 20, what="video after resume")
    assert await packets_sent() > sent
    # the stream picked up at a keyframe, later in the counter, without errors
    assert ascending(video.numbers)
    assert video.numbers[-1][0] != video.numbers[frames - 1][0]
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]


async def test_screen_share_is_a_second_video_producer(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(
        NumberedVideoTrack(base=0),
        NumberedVideoTrack(base=60),
        sources={0: TrackSource.CAMERA, 1: TrackSource.SCREEN},
    )
    await wait_for(
        lambda: len(bob.received) == 2 and all(len(r.numbers) > 5 for r in bob.received.values()),
        what="camera and screen at bob",
    )
    added = {e.producer_id: e.source for e in harness.events if isinstance(e, ProducerAdded)}
    assert sorted(added.values()) == [TrackSource.CAMERA, TrackSource.SCREEN]
    for producer_id, source in added.items():
        base = 60 if source is TrackSource.SCREEN else 0
        assert all(abs(b - base) <= 8 for _, b in bob.received[producer_id].numbers)


async def test_screen_share_needs_its_permission(harness: Harness) -> None:
    await harness.server.create_room("r")
    carol = await harness.join(
        "r", "carol", Permissions(may_publish_audio=True, may_publish_video=True)
    )
    with pytest.raises(NotPermitted, match="screen"):
        await carol.publish(NumberedVideoTrack(), sources={0: TrackSource.SCREEN})
    assert (await harness.server.stats("r")).producers == ()


async def test_active_speaker_is_the_loud_peer(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(ToneTrack(loud=False))
    await bob.publish(ToneTrack(loud=True))

    def speaker_events() -> list[str | None]:
        return [e.peer_id for e in harness.events if isinstance(e, ActiveSpeakerChanged)]

    await wait_for(lambda: bool(speaker_events()), what="an active speaker")
    assert speaker_events() == ["bob"]
    assert (await harness.server.stats("r")).active_speaker == "bob"


async def test_h264_is_forwarded(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack(base=30), video_codec="video/H264")
    await wait_for(
        lambda: any(len(r.numbers) >= 20 for r in bob.received.values()), what="H.264 at bob"
    )
    assert bob.subscribe_pc is not None
    (video,) = bob.received.values()
    assert all(abs(b - 30) <= 8 for _, b in video.numbers)
    assert ascending(video.numbers)
    # the SDP that bob answered carries H.264 only as the forwarded codec
    assert "H264/90000" in bob.offers[-1] and "VP8/90000" not in bob.offers[-1]


async def test_selective_subscription(harness: Harness) -> None:
    server = harness.server
    await server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob", auto_subscribe=False)
    await alice.publish(ToneTrack(loud=False), NumberedVideoTrack())
    await wait_for(lambda: len(alice.offers) == 0 and len(harness.events) >= 2, what="events")
    assert bob.offers == []
    with pytest.raises(UnknownProducer):
        await server.subscribe("r", "bob", "alice:9")
    with pytest.raises(InvalidState):
        await server.subscribe("r", "alice", "alice:1")

    await server.subscribe("r", "bob", "alice:1")
    await wait_for(lambda: any(len(r.numbers) > 5 for r in bob.received.values()), what="video")
    assert list(bob.received) == ["alice:1"]

    await server.unsubscribe("r", "bob", "alice:1")
    await wait_for(lambda: bob.received["alice:1"].ended, what="the track to end at bob")
    assert (await server.stats("r")).consumers == ()
    with pytest.raises(UnknownConsumer):
        await server.unsubscribe("r", "bob", "alice:1")


async def test_renegotiation_past_the_offer_size_limits(harness: Harness) -> None:
    """aiortc never recycles m-lines: churn grows the subscribe offer past 32 sections."""
    server = harness.server
    await server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob", auto_subscribe=False)
    await alice.publish(ToneTrack(loud=False))
    await wait_for(lambda: bool(harness.events), what="alice's producer")
    for i in range(34):
        await server.subscribe("r", "bob", "alice:0")
        await wait_for(lambda: bob.answers == 2 * i + 1, what=f"answer {2 * i + 1}")  # noqa: B023
        await server.unsubscribe("r", "bob", "alice:0")
        await wait_for(lambda: bob.answers == 2 * i + 2, what=f"answer {2 * i + 2}")  # noqa: B023
    await server.subscribe("r", "bob", "alice:0")
    await wait_for(lambda: bob.answers == 69, what="the last answer")
    assert bob.offers[-1].count("\nm=") == 35
    assert bob.subscribe_pc is not None
    (live,) = [t for t in bob.subscribe_pc.getTransceivers() if t.currentDirection == "recvonly"]
    received = next(r for r in bob.received.values() if r.track is live.receiver.track)
    await wait_for(lambda: received.frames > 10, what="audio on the 35th section")


async def test_sender_reports_count_the_forwarded_packets(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack())
    await wait_for(lambda: any(len(r.numbers) > 30 for r in bob.received.values()), what="video")
    assert bob.subscribe_pc is not None
    receiver = bob.subscribe_pc.getReceivers()[0]

    async def reports() -> tuple[int, int]:
        stats = (await receiver.getStats()).values()
        sent = [s.packetsSent for s in stats if s.type == "remote-outbound-rtp"]
        received = [s.packetsReceived for s in stats if s.type == "inbound-rtp"]
        return (sent[0] if sent else 0), (received[0] if received else 0)

    # an RTCP sender report comes every 0.5-1.5 s
    sent, received = 0, 0
    for _ in range(60):
        sent, received = await reports()
        if sent > 50:
            break
        await asyncio.sleep(0.1)
    # what the SFU's sender reports is what reached bob, up to one report interval
    assert 50 < sent <= received + 5
    assert received - sent < 300


async def test_a_late_joiner_receives_everyone_already_publishing(harness: Harness) -> None:
    """The late joiner's first subscribe offer carries two videos (and two audios):
    every one of them must reach it, not only the first of each kind."""
    await harness.server.create_room("r")
    early = [await harness.join("r", name) for name in ("alice", "bob")]
    for i, client in enumerate(early):
        await client.publish(ToneTrack(loud=False), NumberedVideoTrack(base=40 * i))
    await wait_for(
        lambda: all(any(len(r.numbers) >= 10 for r in c.received.values()) for c in early),
        timeout=15,
        what="the first two see each other",
    )
    carol = await harness.join("r", "carol")
    await carol.publish(ToneTrack(loud=True), NumberedVideoTrack(base=80))

    def carol_sees_both() -> bool:
        videos = [r for r in carol.received.values() if r.track.kind == "video"]
        audios = [r for r in carol.received.values() if r.track.kind == "audio"]
        return (
            len(videos) == 2
            and all(len(v.numbers) >= 20 for v in videos)
            and len(audios) == 2
            and all(a.frames > 0 for a in audios)
        )

    await wait_for(carol_sees_both, timeout=20, what="carol decodes alice's and bob's video")
    for track_id, received in carol.received.items():
        base = {"alice": 0, "bob": 40}[track_id.split(":")[0]]
        assert all(abs(b - base) <= 8 for _, b in received.numbers)  # each its own picture


class HeldVideoTrack(NumberedVideoTrack):
    """Stops sending for `hold` seconds once asked: a publisher's link that drops."""

    def __init__(self) -> None:
        super().__init__()
        self.hold = 0.0

    async def recv(self) -> av.VideoFrame:
        if self.hold:
            hold, self.hold = self.hold, 0.0
            await asyncio.sleep(hold)
        return await super().recv()


async def keyframe_requests(harness: Harness) -> int:
    return (await harness.server.stats("r")).producers[0].keyframe_requests_sent


async def test_video_back_after_a_gap_asks_the_publisher_for_a_keyframe(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    track = HeldVideoTrack()
    await alice.publish(track)
    await wait_for(lambda: any(len(r.numbers) > 10 for r in bob.received.values()), what="video")
    await asyncio.sleep(1.5)  # the join's own keyframe requests are over
    before = await keyframe_requests(harness)
    track.hold = 1.0
    await asyncio.sleep(0.3)
    assert await keyframe_requests(harness) == before  # silent: nothing asked yet
    deadline = asyncio.get_running_loop().time() + 5
    while await keyframe_requests(harness) == before:
        assert asyncio.get_running_loop().time() < deadline, "no keyframe asked after the gap"
        await asyncio.sleep(0.1)


async def test_a_nack_beyond_the_history_asks_for_a_keyframe(harness: Harness) -> None:
    """A subscriber whose link was down asks for packets long gone: only a keyframe
    repairs that. A packet not received yet (being repaired upstream) asks nothing."""
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack())
    await wait_for(
        lambda: any(len(r.numbers) > 300 for r in bob.received.values()), timeout=30, what="video"
    )
    await asyncio.sleep(1.5)
    (consumer,) = harness.server._rooms["r"].peers["bob"].consumers.values()
    latest = consumer._last_sequence
    assert latest is not None
    before = await keyframe_requests(harness)
    await consumer._on_nack((latest + 5) % 65536)  # not sent yet: nothing to do
    await asyncio.sleep(0.7)
    assert await keyframe_requests(harness) == before
    await consumer._on_nack((latest - 300) % 65536)  # fell out of the history
    await wait_for(
        lambda: consumer.producer.keyframe_requests_sent > before, what="a keyframe request"
    )
