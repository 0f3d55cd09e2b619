"""The stream allocator's decisions, on a timeline it is given.

The consumers here are stand-ins with what the allocator reads of a
consumer (its producer's live encodings and their measured rates, which
encoding it sends) and what it sets (the encoding to switch to); real
consumers, on real connections, are in tests/web_client's simulcast tests.
"""

import itertools
from dataclasses import dataclass, field
from typing import Any

from media_server.allocator import (
    AUDIO_RESERVE_BPS,
    TICK_S,
    StreamAllocator,
)
from media_server.permissions import TrackSource
from media_server.producer import Layer

RATES = {"q": 120_000, "h": 450_000, "f": 1_400_000}


@dataclass
class Producer:
    id: str
    source: TrackSource = TrackSource.CAMERA
    kind: str = "video"
    rids: list[str] = field(default_factory=lambda: ["q", "h", "f"])
    encodings: list[Layer] = field(default_factory=list)
    peer_id: str = ""

    def layers(self, now: float) -> list[Layer]:
        for layer in self.encodings:
            layer.last_packet = now  # all three are being sent
        return self.encodings


def producer(name: str, source: TrackSource = TrackSource.CAMERA) -> Producer:
    p = Producer(name, source)
    for i, rid in enumerate(RATES):
        layer = Layer(rid, 1000 * (len(name) + i), i, 0.0)
        layer.bitrate = RATES[rid]
        layer.measured = True
        p.encodings.append(layer)
    return p


@dataclass
class Consumer:
    producer: Any
    attached: bool = True
    paused: bool = False
    current_layer_ssrc: int | None = None

    def select_layer(self, ssrc: int | None) -> None:
        self.current_layer_ssrc = ssrc  # as if its keyframe came at once

    @property
    def rid(self) -> str | None:
        for layer in self.producer.encodings:
            if layer.ssrc == self.current_layer_ssrc:
                return str(layer.rid)
        return None


def by_source(consumer: Any) -> int:
    return 0 if consumer.producer.source is TrackSource.SCREEN else 2


def run(
    allocator: StreamAllocator,
    consumers: list[Consumer],
    seconds: float,
    now: float,
    remb: float | None = None,
    loss: float | None = None,
) -> float:
    """Tick for `seconds`; the subscriber reports `remb` and `loss` at each tick."""
    end = now + seconds
    while now < end:
        now += TICK_S
        if remb is not None:
            allocator.estimate.on_feedback(int(remb), loss, now)
        allocator.tick(consumers, now)  # type: ignore[arg-type]
    return now


def test_before_any_estimate_a_video_starts_at_its_best_then_follows_the_link() -> None:
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    now = run(allocator, [camera], 2.0, now=0.0)
    assert camera.rid == "f"
    # a thin link's REMB: a first value, then it falls as the queue grows
    now = run(allocator, [camera], 1.0, now, remb=600_000)
    run(allocator, [camera], 3.0, now, remb=250_000)
    assert camera.rid == "q"


def test_an_ample_link_climbs_to_the_best_encoding_by_probing() -> None:
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    now = 0.0
    # A browser's REMB: 1.5 times what it receives, as long as its link has room.
    for _ in range(int(30 / TICK_S)):
        sent = RATES[camera.rid] if camera.rid else 0
        now = run(allocator, [camera], TICK_S, now, remb=1.5 * (sent + AUDIO_RESERVE_BPS))
    assert camera.rid == "f"


def test_a_thin_link_stays_on_the_lowest_and_backs_off_its_probes() -> None:
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    now = 0.0
    capacity = 300_000
    seen: list[str | None] = []
    for _ in range(int(60 / TICK_S)):
        sent = (RATES[camera.rid] if camera.rid else 0) + AUDIO_RESERVE_BPS
        # room: REMB climbs to 1.5x what arrives; over the link: it falls to 0.85x
        remb = 1.5 * sent if sent <= capacity else 0.85 * capacity
        now = run(allocator, [camera], TICK_S, now, remb=remb)
        seen.append(camera.rid)
    assert seen[-1] == "q"
    probes = sum(1 for a, b in itertools.pairwise(seen) if a == "q" and b == "h")
    # probing every PROBE_FIRST_S would try 60 / (PROBE_FIRST_S + PROBE_HOLD_S) times
    assert 1 <= probes <= 5, seen


def test_the_presented_screen_keeps_the_link_and_the_camera_waits() -> None:
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    screen = Consumer(producer("screen", TrackSource.SCREEN))
    budget = RATES["q"] * 1.5 + AUDIO_RESERVE_BPS  # one lowest encoding, not two
    now = run(allocator, [camera, screen], 1.0, 0.0)
    # the link says it carries less than the two lowest encodings, again and again
    run(allocator, [camera, screen], 10.0, now, remb=budget * 0.8, loss=0.1)
    assert screen.rid == "q"
    assert camera.rid is None  # paused: audio and the screen keep the link


def test_a_low_estimate_without_loss_reduces_but_pauses_nobody() -> None:
    """REMB is delay-based: an SFU slow to send (a loaded machine) reads as a
    queue growing, with nothing lost. Everyone stays on the screen, small."""
    allocator = StreamAllocator(by_source)
    cameras = [Consumer(producer("cam1")), Consumer(producer("cam2"))]
    now = run(allocator, cameras, 1.0, 0.0)
    now = run(allocator, cameras, 10.0, now, remb=RATES["q"] * 1.2, loss=0.0)
    assert [c.rid for c in cameras] == ["q", "q"]
    # the same link then loses packets: the second gives way, the first stays
    seen = []
    for _ in range(int(3 / TICK_S)):
        now = run(allocator, cameras, TICK_S, now, remb=RATES["q"] * 1.2, loss=0.08)
        seen.append(tuple(c.rid for c in cameras))
    assert ("q", None) in seen, seen
    assert all(rids[0] == "q" for rids in seen), seen


def ample(consumers: list[Consumer], share: float = 1.25) -> float:
    """A browser's REMB on a link with room: a little above what it receives."""
    sent = sum(RATES[c.rid] for c in consumers if c.rid) + AUDIO_RESERVE_BPS * len(consumers)
    return share * sent


def test_a_newcomers_video_is_seen_at_once_then_yields_if_the_link_is_full() -> None:
    allocator = StreamAllocator(by_source)
    first = Consumer(producer("cam1"))
    capacity = 200_000  # room for one lowest encoding, not two

    def remb(consumers: list[Consumer]) -> float:
        sent = sum(RATES[c.rid] for c in consumers if c.rid)
        return 1.3 * sent if sent <= capacity else 0.85 * capacity

    def loss(consumers: list[Consumer]) -> float:
        sent = sum(RATES[c.rid] for c in consumers if c.rid)
        return 0.0 if sent <= capacity else 1 - capacity / sent

    now = run(allocator, [first], 20.0, 0.0, remb=remb([first]))
    while first.rid != "q" or allocator.budget is None or allocator.budget > capacity:
        now = run(allocator, [first], TICK_S, now, remb=remb([first]))  # a probe ends
    # a participant joins: REMB (1.3x what arrives) has no room for a second
    # lowest encoding, yet the newcomer is seen at once, at its lowest
    second = Consumer(producer("cam2"))
    both = [first, second]
    now = run(allocator, both, TICK_S, now, remb=remb([first]))
    assert second.rid == "q", "the newcomer's video waited for a probe"
    # the link is full: the newcomer gives way within seconds, the first keeps its
    # picture, and the newcomer's returns (probes) come less and less often
    seen = []
    for _ in range(int(60 / TICK_S)):
        now = run(allocator, both, TICK_S, now, remb=remb(both), loss=loss(both))
        seen.append(second.rid)
        assert first.rid == "q"
    assert None in seen[: int(6 / TICK_S)], seen
    returns = sum(1 for a, b in itertools.pairwise(seen) if a is None and b == "q")
    assert 1 <= returns <= 4, seen
    assert seen.count(None) > 0.7 * len(seen), seen


def test_a_paused_video_comes_back_before_another_climbs() -> None:
    allocator = StreamAllocator(by_source)
    cameras = [Consumer(producer("cam1")), Consumer(producer("cam2"))]
    now = run(allocator, cameras, 1.0, 0.0)
    # a late joiner's first REMB: room for one lowest encoding, and loss
    now = run(allocator, cameras, 2.0, now, remb=RATES["q"] * 1.5, loss=0.1)
    assert [c.rid for c in cameras] == ["q", None]
    seen = []
    for _ in range(int(60 / TICK_S)):
        now = run(allocator, cameras, TICK_S, now, remb=ample(cameras, 1.5))
        seen.append(tuple(c.rid for c in cameras))
    # both are seen from the first room there is, and neither is paused again for
    # the other to climb (everyone small before anyone sharp)
    assert seen[0] == ("q", "q"), seen
    assert all(None not in rids for rids in seen), seen
    assert seen[-1] == ("f", "f")


def test_a_lossy_link_is_not_probed_for_a_higher_encoding() -> None:
    """300 kbit/s with 5 % random loss: each probe of the 360p encoding overflowed
    the link's queue and froze the 180p picture (bench/field.py, scenario 2)."""
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    now = run(allocator, [camera], 2.0, 0.0, remb=250_000, loss=0.05)
    seen: list[str | None] = []
    for _ in range(int(60 / TICK_S)):
        sent = RATES[camera.rid] if camera.rid else 0
        # at its ceiling all along (1.5x what arrives): a lossless link would be probed
        now = run(
            allocator, [camera], TICK_S, now, remb=1.5 * (sent + AUDIO_RESERVE_BPS), loss=0.05
        )
        seen.append(camera.rid)
    assert set(seen) == {"q"}, seen
    # once the loss is over (and out of the allocator's memory), it climbs again
    for _ in range(int(120 / TICK_S)):
        sent = RATES[camera.rid] if camera.rid else 0
        now = run(allocator, [camera], TICK_S, now, remb=1.5 * (sent + AUDIO_RESERVE_BPS), loss=0.0)
    assert camera.rid == "f"


def test_an_encoding_not_measured_yet_is_not_taken_for_free() -> None:
    """A browser starts its 720p encoding once its own estimate allows: in its first
    second the SFU knows no rate for it, and taking it as free sent 1.5 Mbit/s
    into a 300 kbit/s link (bench/field.py, scenario 2)."""
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    best = camera.producer.encodings[-1]
    best.measured, best.bitrate = False, 0.0  # just started
    now, seen = 0.0, []
    for _ in range(int(10 / TICK_S)):
        now = run(allocator, [camera], TICK_S, now, remb=250_000, loss=0.0)
        seen.append(camera.rid)
    assert "f" not in seen and seen[-1] is not None, seen
    # measured, it is one more encoding up, which 250 kbit/s does not carry
    best.measured, best.bitrate = True, RATES["f"]
    run(allocator, [camera], 5.0, now, remb=250_000, loss=0.0)
    assert camera.rid != "f"


def test_a_little_loss_does_not_stop_the_climb() -> None:
    """A link with a little loss (3 %, over the 2 % a pause needs) is still probed
    for a higher encoding: 1 Mbit/s with 2 % random drops stayed on 180p though
    360p fits it (bench/field.py, scenario 4)."""
    allocator = StreamAllocator(by_source)
    camera = Consumer(producer("cam"))
    now, seen = 0.0, []
    for _ in range(int(20 / TICK_S)):
        sent = RATES[camera.rid] if camera.rid else 0
        remb = min(1.5 * (sent + AUDIO_RESERVE_BPS), 900_000)
        now = run(allocator, [camera], TICK_S, now, remb=remb, loss=0.03)
        seen.append(camera.rid)
    assert "h" in seen, seen
