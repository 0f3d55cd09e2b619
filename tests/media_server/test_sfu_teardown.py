"""Peers that leave, hang up or vanish are removed, and nothing of them is left."""

import asyncio
import os
import threading

import pytest
from sfu_clients import (
    Client,
    Harness,
    NumberedVideoTrack,
    ToneTrack,
    cut_network,
    requires_network,
    wait_for,
)

from media_server.api import MediaConfig
from media_server.events import PeerClosed, ProducerRemoved

pytestmark = [requires_network, pytest.mark.timeout(60)]


def closed(harness: Harness) -> dict[str, str]:
    return {e.peer_id: e.reason for e in harness.events if isinstance(e, PeerClosed)}


async def three_peers(harness: Harness) -> tuple[Client, Client, Client]:
    await harness.server.create_room("r")
    clients = [await harness.join("r", name) for name in ("alice", "bob", "carol")]
    for client in clients:
        await client.publish(ToneTrack(loud=False), NumberedVideoTrack())
    await wait_for(
        lambda: (
            all(len(c.received) == 4 for c in clients)
            and all(r.frames > 0 for c in clients for r in c.received.values())
        ),
        timeout=15,
        what="everyone receiving everyone",
    )
    return clients[0], clients[1], clients[2]


async def test_vanished_peer_is_dropped_and_others_renegotiate(harness: Harness) -> None:
    alice, _, carol = await three_peers(harness)
    offers_before = len(alice.offers)
    assert carol.subscribe_pc is not None
    cut_network(carol.publish_pc, carol.subscribe_pc)

    # media_timeout is 2 s in the harness
    await wait_for(lambda: "carol" in closed(harness), timeout=10, what="carol dropped")
    assert closed(harness)["carol"] == PeerClosed.MEDIA_TIMEOUT
    removed = {e.producer_id for e in harness.events if isinstance(e, ProducerRemoved)}
    assert removed == {"carol:0", "carol:1"}
    stats = await harness.server.stats("r")
    assert stats.peers == ("alice", "bob")
    assert {p.peer_id for p in stats.producers} == {"alice", "bob"}
    assert all("carol" not in (c.subscriber_id, c.producer_id) for c in stats.consumers)
    # the others got a new offer in which carol's sections are inactive
    await wait_for(lambda: len(alice.offers) > offers_before, what="re-offer to alice")
    assert alice.subscribe_pc is not None
    directions = {
        t.receiver.track.id: t.currentDirection for t in alice.subscribe_pc.getTransceivers()
    }
    assert directions["carol:0"] == directions["carol:1"] == "inactive"
    assert directions["bob:0"] == directions["bob:1"] == "recvonly"
    # and alice still receives bob
    video = alice.received["bob:1"]
    frames = len(video.numbers)
    await wait_for(lambda: len(video.numbers) > frames + 10, what="bob's video after the drop")


async def test_peer_that_hangs_up_is_removed(harness: Harness) -> None:
    alice, _, carol = await three_peers(harness)
    await carol.publish_pc.close()
    assert carol.subscribe_pc is not None
    await carol.subscribe_pc.close()
    await wait_for(lambda: "carol" in closed(harness), what="carol closed")
    assert closed(harness)["carol"] == PeerClosed.CONNECTION_CLOSED
    await wait_for(lambda: alice.received["carol:1"].ended, what="carol's track ends at alice")


async def test_leave_removes_producers_and_consumers(harness: Harness) -> None:
    await three_peers(harness)
    await harness.server.leave("r", "bob")
    await wait_for(lambda: bool(closed(harness)), what="PeerClosed")
    assert closed(harness) == {"bob": PeerClosed.LEFT}
    stats = await harness.server.stats("r")
    assert stats.peers == ("alice", "carol")
    assert len(stats.producers) == 4
    assert sorted((c.subscriber_id, c.producer_id) for c in stats.consumers) == [
        ("alice", "carol:0"),
        ("alice", "carol:1"),
        ("carol", "alice:0"),
        ("carol", "alice:1"),
    ]


def media_threads() -> int:
    """Threads other than the default executor's workers, which grow to a bound."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_join_leave_cycles_leak_no_task_thread_or_socket(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    await alice.publish(NumberedVideoTrack())

    async def cycle(name: str) -> None:
        client = await harness.join("r", name)
        await client.publish(ToneTrack(loud=False))
        await wait_for(lambda: any(r.frames for r in client.received.values()), what="video")
        # the client goes silent first, so the server's own teardown is what is tested
        assert client.subscribe_pc is not None
        cut_network(client.publish_pc, client.subscribe_pc)
        await harness.server.leave("r", name)
        await client.close()
        del harness.clients[("r", name)]

    await cycle("warmup")
    await asyncio.sleep(0.5)
    tasks, threads, fds = len(asyncio.all_tasks()), media_threads(), open_fds()
    for i in range(8):
        await cycle(f"guest{i}")
    await wait_for(
        lambda: (
            len(asyncio.all_tasks()) <= tasks and media_threads() <= threads and open_fds() <= fds
        ),
        timeout=10,
        what=f"tasks {tasks}, threads {threads}, fds {fds} after the cycles",
    )
    stats = await harness.server.stats("r")
    assert stats.peers == ("alice",)
    assert stats.consumers == ()


async def test_peer_with_nothing_to_receive_is_not_dropped(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob", auto_subscribe=False)
    await alice.publish(ToneTrack(loud=False))
    await wait_for(lambda: bool(harness.events), what="alice's producer")
    await harness.server.subscribe("r", "bob", "alice:0")
    await wait_for(lambda: any(r.frames for r in bob.received.values()), what="audio at bob")
    await harness.server.unsubscribe("r", "bob", "alice:0")
    await wait_for(lambda: bob.answers == 2, what="the unsubscribe answer")
    # bob now sends no RTCP at all; the 2 s media timeout must not apply
    await asyncio.sleep(3)
    assert "bob" not in closed(harness)
    assert (await harness.server.stats("r")).peers == ("alice", "bob")


async def test_a_subscriber_that_never_answers_is_dropped_and_holds_nobody_back() -> None:
    """An offer left unanswered would hold back every later change for that peer:
    after answer_timeout (2 s here) the peer is dropped (its client starts over)."""
    harness = Harness(MediaConfig(media_timeout=2.0, answer_timeout=2.0, liveness_interval=0.5))
    try:
        await answer_timeout_drops_the_peer(harness)
    finally:
        await harness.close()


async def answer_timeout_drops_the_peer(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    bob.answer_subscribe_offers = False
    await alice.publish(NumberedVideoTrack())
    await wait_for(lambda: bool(bob.offers), what="a subscribe offer for bob")
    await wait_for(lambda: "bob" in closed(harness), timeout=10, what="bob dropped")
    assert closed(harness)["bob"] == PeerClosed.ANSWER_TIMEOUT
    # bob comes back with a client that answers: he receives alice again
    await harness.clients.pop(("r", "bob")).close()
    bob = await harness.join("r", "bob")
    await wait_for(
        lambda: any(len(r.numbers) > 10 for r in bob.received.values()), what="bob decodes alice"
    )
    assert "alice" in (await harness.server.stats("r")).peers
