"""The pacer spreads a subscriber's video at its link's pace; audio never waits."""

import asyncio
import time

import pytest

from media_server.pacer import MAX_QUEUE_S, PACING_FACTOR, Pacer, Priority, restamp

PACKET = 1200


class Link:
    """Where the pacer's packets go: (when, what) in the order they left."""

    def __init__(self) -> None:
        self.sent: list[tuple[float, bytes]] = []
        self.closed = False

    async def send(self, transport: object, data: bytes) -> None:
        if self.closed:
            raise ConnectionError("closed")
        self.sent.append((time.monotonic(), data))


def packet(tag: int, size: int = PACKET) -> bytes:
    return tag.to_bytes(4, "big") + bytes(size - 4)


def tags(sent: list[tuple[float, bytes]]) -> list[int]:
    return [int.from_bytes(data[:4], "big") for _, data in sent]


async def send_all(pacer: Pacer, first: int, count: int, priority: Priority) -> None:
    for tag in range(first, first + count):
        await pacer.send(None, packet(tag), priority, None, time.monotonic())


async def until_sent(link: Link, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(link.sent) < count:
        assert time.monotonic() < deadline, f"{len(link.sent)} of {count} sent"
        await asyncio.sleep(0.01)


async def test_nothing_is_paced_before_the_first_estimate() -> None:
    link = Link()
    pacer = Pacer(link.send)
    await send_all(pacer, 0, 50, Priority.VIDEO)
    assert tags(link.sent) == list(range(50))  # all sent before send() returned
    assert pacer.packets_queued == 0


async def test_a_keyframe_burst_leaves_at_the_pace_of_the_estimate() -> None:
    link = Link()
    pacer = Pacer(link.send)
    estimate = 100_000
    pacer.set_estimate(estimate)
    await send_all(pacer, 0, 10, Priority.VIDEO)
    assert len(link.sent) < 10  # not all at once
    await until_sent(link, 10)
    assert tags(link.sent) == list(range(10))
    spread = link.sent[-1][0] - link.sent[0][0]
    paced = 10 * PACKET * 8 / (estimate * PACING_FACTOR)  # 0.38 s
    # the first two packets fill the budget's depth; the rest leave at the rate
    assert 0.6 * paced < spread < 2 * paced, spread


async def test_audio_leaves_at_once_ahead_of_queued_video() -> None:
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(100_000)
    await send_all(pacer, 0, 10, Priority.VIDEO)
    before = len(link.sent)
    await send_all(pacer, 100, 1, Priority.AUDIO)
    assert tags(link.sent)[-1] == 100  # sent within send(), video still queued
    assert before < 10
    await until_sent(link, 11)
    assert sorted(tags(link.sent)) == [*range(10), 100]


async def test_a_retransmission_leaves_ahead_of_queued_video() -> None:
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(100_000)
    await send_all(pacer, 0, 10, Priority.VIDEO)
    await send_all(pacer, 200, 1, Priority.RETRANSMISSION)
    await until_sent(link, 11)
    order = tags(link.sent)
    assert order.index(200) < order.index(9)
    assert [t for t in order if t != 200] == list(range(10))


async def test_a_long_queue_leaves_within_its_bound() -> None:
    """An estimate far too low (a REMB that collapsed) must not hold video for seconds."""
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(10_000)  # 25 kbit/s: 60 packets would take 23 s
    started = time.monotonic()
    await send_all(pacer, 0, 60, Priority.VIDEO)
    await until_sent(link, 60)
    assert time.monotonic() - started < 3 * MAX_QUEUE_S
    assert pacer.longest_wait < 3 * MAX_QUEUE_S
    assert tags(link.sent) == list(range(60))


async def test_a_packet_that_waited_leaves_with_the_time_it_left() -> None:
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(50_000)
    stale = bytes(3)  # abs-send-time 0 at offset 4
    for tag in range(6):
        data = tag.to_bytes(4, "big") + stale + bytes(PACKET - 7)
        await pacer.send(None, data, Priority.VIDEO, 4, time.monotonic())
    await until_sent(link, 6)
    restamped = [tags([(0, data)])[0] for _, data in link.sent if data[4:7] != stale]
    # what left at once keeps its time; what waited was stamped when it left
    assert pacer.packets_queued >= 3
    assert restamped == list(range(6 - pacer.packets_queued, 6))
    assert all(len(data) == PACKET for _, data in link.sent)


def test_restamp_changes_only_the_three_bytes() -> None:
    data = bytes(range(20))
    again = restamp(data, 8)
    assert again[:8] == data[:8] and again[11:] == data[11:]
    assert len(again) == len(data)


async def test_a_closed_leg_drops_its_queue_and_the_pacer_goes_on() -> None:
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(100_000)
    await send_all(pacer, 0, 10, Priority.VIDEO)
    link.closed = True
    deadline = time.monotonic() + 5
    while pacer.queued_bytes:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.01)
    link.closed = False
    await send_all(pacer, 50, 1, Priority.AUDIO)
    assert tags(link.sent)[-1] == 50


async def test_close_stops_sending() -> None:
    link = Link()
    pacer = Pacer(link.send)
    pacer.set_estimate(100_000)
    await send_all(pacer, 0, 10, Priority.VIDEO)
    pacer.close()
    sent = len(link.sent)
    await asyncio.sleep(0.3)
    assert len(link.sent) == sent
    assert pacer.queued_bytes == 0


@pytest.mark.parametrize("estimate", [None, 0])
async def test_no_estimate_means_not_paced(estimate: int | None) -> None:
    pacer = Pacer(Link().send)
    pacer.set_estimate(100_000)
    pacer.set_estimate(estimate)
    assert pacer.rate is None


async def test_an_estimate_lower_than_what_is_sent_does_not_throttle_it() -> None:
    """Choosing what fits is the allocator's; the pacer only spreads bursts."""
    link = Link()
    pacer = Pacer(link.send)
    started = time.monotonic()
    await send_all(pacer, 0, 100, Priority.VIDEO)  # 120 kB in the last "tick"
    pacer.set_estimate(10_000, now=started + 0.5)  # 1.9 Mbit/s sent, REMB 10 kbit/s
    assert pacer.sending > 1_000_000
    rate = pacer.rate
    assert rate is not None and rate >= PACING_FACTOR * pacer.sending
