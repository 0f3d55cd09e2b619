"""Media flows through the SFU between real aiortc clients, decoded and checked."""

import itertools

import pytest
from sfu_clients import Harness, NumberedVideoTrack, ToneTrack, requires_network, wait_for

from media_server.events import ProducerAdded

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
