"""A two-party session through the real SFU, recorded per track, checked by decoding."""

import asyncio
import itertools
import time
from pathlib import Path

import av
import pytest
from sfu_clients import (
    Harness,
    NumberedVideoTrack,
    ToneTrack,
    read_number,
    requires_network,
    wait_for,
)

from media_server.events import ProducerAdded
from recordings import sidecar
from recordings.finish import sha256_of
from recordings.recorder import Recorder

pytestmark = [requires_network, pytest.mark.timeout(90)]

SESSION = 4.0


def ascending(values: list[int]) -> bool:
    return all(((b - a) % 1024) < 512 for a, b in itertools.pairwise(values))


async def record_two_party(harness: Harness, directory: Path) -> tuple[Recorder, float]:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(ToneTrack(loud=True), NumberedVideoTrack(base=0))
    # another pitch: two equal tones can cancel out in the mix, by their phases
    await bob.publish(ToneTrack(loud=True, frequency=660.0), NumberedVideoTrack(base=60))

    def flowing() -> bool:
        return all(any(len(r.numbers) >= 5 for r in c.received.values()) for c in (alice, bob))

    await wait_for(flowing, timeout=15, what="video at both peers")
    recorder = Recorder(harness.server, directory)
    started = time.monotonic()
    for event in harness.events:
        if isinstance(event, ProducerAdded):
            await recorder.start("r", event.peer_id, event.producer_id, event.kind)
    await asyncio.sleep(SESSION)
    return recorder, time.monotonic() - started


async def test_two_party_session_is_recorded_per_track(harness: Harness, tmp_path: Path) -> None:
    recorder, session = await record_two_party(harness, tmp_path)
    infos = await recorder.stop_room("r")

    assert sorted((i.peer_id, i.kind, i.codec.lower()) for i in infos) == [
        ("alice", "audio", "opus"),
        ("alice", "video", "vp8"),
        ("bob", "audio", "opus"),
        ("bob", "video", "vp8"),
    ]
    for info in infos:
        media = tmp_path / "r" / info.media
        stored = sidecar.read(media.with_suffix(".json"))
        assert stored.state == "finished"
        assert stored.sha256 == sha256_of(media)
        assert stored.duration is not None and abs(stored.duration - session) <= 0.5
        assert stored.start_wall is not None and stored.first_rtp_timestamp is not None
        with av.open(str(media)) as container:
            stream = container.streams[0]
            assert stream.codec_context.name == ("vp8" if info.kind == "video" else "opus")
            frames = list(container.decode(stream))  # raises on a decode error
        if info.kind == "video":
            numbers = [read_number(f) for f in frames]
            base = 0 if info.peer_id == "alice" else 60
            assert all(abs(b - base) <= 8 for _, b in numbers), "another sender's picture"
            assert ascending([n for n, _ in numbers])
            assert len({n for n, _ in numbers}) >= 25 * (session - 0.5)
        else:
            samples = sum(f.samples for f in frames)
            assert abs(samples / 48000 - session) <= 0.5


async def test_h264_is_recorded_into_matroska(harness: Harness, tmp_path: Path) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack(base=0), video_codec="video/H264")
    await wait_for(
        lambda: any(len(r.numbers) >= 5 for r in bob.received.values()), what="video at bob"
    )
    recorder = Recorder(harness.server, tmp_path)
    added = next(e for e in harness.events if isinstance(e, ProducerAdded))
    await recorder.start("r", "alice", added.producer_id, "video")
    started = time.monotonic()
    await asyncio.sleep(3.0)
    (info,) = await recorder.stop_room("r")
    session = time.monotonic() - started

    assert info.codec == "H264" and info.media.endswith(".mkv")
    assert info.duration is not None and abs(info.duration - session) <= 0.5
    with av.open(str(tmp_path / "r" / info.media)) as container:
        assert container.streams[0].codec_context.name == "h264"
        assert (container.streams[0].width, container.streams[0].height) == (320, 240)
        numbers = [read_number(f) for f in container.decode(video=0)]
    assert all(abs(b) <= 8 for _, b in numbers)
    assert ascending([n for n, _ in numbers])
    assert len({n for n, _ in numbers}) >= 25 * (session - 0.5)
