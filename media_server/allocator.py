"""Stream allocation for one subscriber: which encoding of each video its link carries.

The subscriber's browser says what its link carries in REMB, its estimate
from the abs-send-time of what arrives. The allocator keeps a video budget
from it and shares it between the subscriber's simulcast consumers by
priority (the presented screen, then the active speaker, then the others
in the order they came), after a reserve for each audio consumer (audio is
never allocated: it is small, and always forwarded). Every video gets its
lowest encoding first, by priority, then each in turn the highest that
what is left allows; a video that does not fit even at its lowest is
paused, so that audio keeps the link, and comes back (before any other
climbs) when the budget has room again, except the first by priority,
which keeps its lowest encoding; and none is paused unless the link lost
packets lately (REMB alone also falls when the SFU is slow to send).
Before the first estimate, each gets its best. A video newly added (a
participant joined) is given its lowest at once, as a probe: if the link is
full, it gives way again.

A congestion is REMB falling from its recent peak (the browser saw its
queues grow), or REMB well under what is sent for a while; the budget then
drops under what was being sent.

A browser's REMB never exceeds about 1.5 times what it receives, so a
subscriber sent the lowest encoding can never report room for the next
one: the allocator probes. When nothing was congested for `probe_wait`
and the estimate is at its ceiling, the budget grows by one step (one
consumer one encoding up, or one paused video back at its lowest); a
congestion within `PROBE_HOLD_S` of that undoes it and doubles the wait.
Mediasoup's and LiveKit's allocators do the same with padding probes. A link
that lost 4 % lately is probed only to bring a paused video back, never for
a higher encoding: such a probe overflowed a thin link's queue.

Everything here runs on the peer's timer (`TICK_S`), never per packet.
"""

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .consumer import Consumer
from .producer import Layer

TICK_S = 0.5
# A fall of the subscriber's REMB below this share of its recent peak: its
# browser saw queues grow (REMB falls to ~0.85 of what arrives on overuse).
DROP_SHARE = 0.9
PEAK_WINDOW_S = 2.0
# REMB this far under what is sent, for this long: the link carries less.
UNDER_SHARE = 0.8
UNDER_FOR_S = 2.0
# REMB at least this share of what arrives: the estimate is at its ceiling
# (a browser's REMB is at most ~1.5x what it receives; 1.2-1.3x was seen).
HEADROOM_SHARE = 1.15
# What is kept of what was sent when the link is congested (queues must drain).
BACKOFF_SHARE = 0.85
# Kept for each audio consumer (Opus with in-band FEC) before video is shared.
AUDIO_RESERVE_BPS = 50_000
PROBE_FIRST_S = 3.0
PROBE_MAX_S = 60.0
# Long enough for a congestion to show: REMB rises for a window still, then
# must stay under what is sent for UNDER_FOR_S.
PROBE_HOLD_S = PEAK_WINDOW_S + UNDER_FOR_S + 2 * TICK_S
# A video is paused for the link only once the link has lost this share of
# packets (smoothed) within LOSS_MEMORY_S: on loopback, beside three Chromium
# pages on two cores, REMB fell below two lowest encodings with nothing lost,
# and pausing then hid a participant from the others of a consultation. The
# memory is long, so a video paused on a lossy link does not come straight
# back once the pause has stopped the loss.
PAUSE_LOSS = 0.02
# A link that lost this share lately is not probed for a higher encoding (see
# _update_budget): 300 kbit/s with 5 % loss reads 0.02-0.13; 1 Mbit/s with 2 %
# stayed on 180p with the pause's threshold, though 360p fits it.
NO_PROBE_LOSS = 0.04
LOSS_MEMORY_S = 30.0
# A layer is taken as sent when it had packets this recently, at this rate.
LIVE_LAYER_S = 1.5
MIN_LAYER_BPS = 30_000

Priority = Callable[[Consumer], int]
"""Lower first: 0 the presented screen, 1 the active speaker, 2 the rest."""


@dataclass
class Choice:
    consumer: Consumer
    layer: Layer | None
    best: Layer | None = None  # the best encoding its publisher sends now

    @property
    def paused(self) -> bool:
        """Paused for the link: sent, and not even its lowest fits."""
        return self.layer is None and self.best is not None

    @property
    def reduced(self) -> bool:
        return self.layer is not None and self.best is not None and self.layer is not self.best


class BandwidthEstimate:
    """What the subscriber's browser reports: REMB, with its recent peak, and
    the loss in its receiver reports.

    Loss does not size the budget (a forwarded stream carries the publisher's
    own gaps too), but it is the evidence a pause needs: REMB is delay-based,
    and a loaded SFU's late sends read as a queue growing, with nothing lost.
    """

    def __init__(self) -> None:
        self.remb: float | None = None
        self.loss = 0.0
        self.lossy_at: float | None = None  # when the smoothed loss last passed PAUSE_LOSS
        self.very_lossy_at: float | None = None  # ... and NO_PROBE_LOSS
        self._history: deque[tuple[float, float]] = deque()

    def on_feedback(
        self, remb: int | None, fraction_lost: float | None, now: float | None = None
    ) -> None:
        now = time.monotonic() if now is None else now
        if remb is not None:
            self.remb = float(remb)
            self._history.append((now, self.remb))
            while self._history and now - self._history[0][0] > PEAK_WINDOW_S:
                self._history.popleft()
        if fraction_lost is not None:
            self.loss = 0.7 * self.loss + 0.3 * fraction_lost
            if self.loss >= PAUSE_LOSS:
                self.lossy_at = now
            if self.loss >= NO_PROBE_LOSS:
                self.very_lossy_at = now

    def lossy(self, now: float) -> bool:
        """Whether the link lost packets lately: a congestion that drops, not
        only delays."""
        return self.lossy_at is not None and now - self.lossy_at < LOSS_MEMORY_S

    def too_lossy_to_probe(self, now: float) -> bool:
        return self.very_lossy_at is not None and now - self.very_lossy_at < LOSS_MEMORY_S

    def rising(self) -> bool:
        """Whether REMB is above where it was a window ago: the browser's estimate
        climbs (by ~8 % a second) towards what its link has room for."""
        if self.remb is None or len(self._history) < 2:
            return False
        return self.remb > self._history[0][1]

    def dropped(self) -> bool:
        """Whether REMB fell from its recent peak: the browser saw overuse."""
        if self.remb is None or not self._history:
            return False
        return self.remb < DROP_SHARE * max(value for _, value in self._history)


class StreamAllocator:
    def __init__(self, priority: Priority) -> None:
        self.estimate = BandwidthEstimate()
        self.budget: float | None = None  # bit/s for video; None: no feedback yet
        self._priority = priority
        self._probe_wait = PROBE_FIRST_S
        self._probed_at: float | None = None
        self._changed_at = time.monotonic()
        self._under_since: float | None = None
        self._known: set[int] = set()  # the video consumers of the last tick
        self._may_pause = False

    def on_feedback(self, remb: int | None, fraction_lost: float | None) -> None:
        self.estimate.on_feedback(remb, fraction_lost)

    def tick(self, consumers: Sequence[Consumer], now: float | None = None) -> list[Choice]:
        """Choose an encoding for each simulcast video consumer; returns the choices."""
        now = time.monotonic() if now is None else now
        videos = [
            c
            for c in consumers
            if c.attached and not c.paused and c.producer.kind == "video" and c.producer.rids
        ]
        if not videos:
            return []
        audio = AUDIO_RESERVE_BPS * sum(
            1 for c in consumers if c.attached and c.producer.kind == "audio"
        )
        videos.sort(key=self._priority)
        options = {id(c): _live_layers(c, now) for c in videos}
        sending = sum(_rate_of(c, options[id(c)]) for c in videos)
        known, self._known = self._known, {id(c) for c in videos}
        newcomer = any(id(c) not in known for c in videos)
        self._may_pause = self.estimate.lossy(now)
        self._update_budget(videos, options, sending, audio, now, newcomer)
        choices = self._fit(videos, options, self.budget)
        for choice in choices:
            choice.consumer.select_layer(choice.layer.ssrc if choice.layer else None)
        return choices

    def _update_budget(
        self,
        videos: Sequence[Consumer],
        options: dict[int, list[Layer]],
        sending: float,
        audio: float,
        now: float,
        newcomer: bool,
    ) -> None:
        remb = self.estimate.remb
        if remb is None:
            return  # no feedback yet: the best encodings (see _fit)
        if self.budget is None:
            self.budget = max(0.0, remb - audio)
            self._changed_at = now
        under = (
            sending > 0 and remb < UNDER_SHARE * (sending + audio) and not self.estimate.rising()
        )
        if not under:
            self._under_since = None
        elif self._under_since is None:
            self._under_since = now
        persistent = self._under_since is not None and now - self._under_since >= UNDER_FOR_S
        if self.estimate.dropped() or persistent:
            cut = BACKOFF_SHARE * min(remb - audio, sending) if sending else remb - audio
            if cut < self.budget:
                if self._probed_at is not None and now - self._probed_at < PROBE_HOLD_S:
                    self._probe_wait = min(2 * self._probe_wait, PROBE_MAX_S)
                self._probed_at = None
                self.budget = max(0.0, cut)
                self._changed_at = now
                self._under_since = None
            return
        if self._probed_at is not None and now - self._probed_at >= PROBE_HOLD_S:
            self._probed_at = None  # the probe held
            self._probe_wait = PROBE_FIRST_S
        self.budget = max(self.budget, remb - audio)  # the estimate shows room
        if newcomer:
            # someone's video was just added (a participant joined, a screen was
            # shared): it is seen at once at its lowest, not after a probe or two;
            # a congestion that follows takes it back as it would a probe
            # (a newcomer not paused adds load all the same: no probe on top of it)
            step = self._unpause_step(videos, options, self.budget)
            if step is not None:
                self.budget = step
            self._probed_at = self._changed_at = now
            return
        at_ceiling = remb >= HEADROOM_SHARE * (sending + audio)
        if at_ceiling and now - self._changed_at >= self._probe_wait:
            # a link that lost packets lately is not probed for a higher encoding
            # (a paused video may still come back): on 300 kbit/s with 5 % loss,
            # each probe of the 360p encoding overflowed the link's queue, and the
            # 180p picture that was there froze for seconds
            up = not self.estimate.too_lossy_to_probe(now)
            step = self._next_step(videos, options, self.budget, up=up)
            if step is not None:
                self.budget = step
                self._probed_at = self._changed_at = now

    def _fit(
        self, videos: Sequence[Consumer], options: dict[int, list[Layer]], budget: float | None
    ) -> list[Choice]:
        """Every video its lowest encoding first, by priority, as long as they fit;
        then, by priority again, each as high as what is left allows: a clinician
        would rather see everyone small than one participant sharp and one not."""
        if budget is None:
            # before the first estimate: the best; a thin link's REMB falls within
            # seconds, while from the lowest an ample link climbed too slowly
            # (REMB is capped at ~1.5x what arrives, a probe a step at a time)
            best = [options[id(c)][-1] if options[id(c)] else None for c in videos]
            return [Choice(c, layer, layer) for c, layer in zip(videos, best, strict=True)]
        chosen: list[Layer | None] = []
        left = budget
        for consumer in videos:
            layers = options[id(consumer)]
            lowest = layers[0] if layers else None
            if lowest is not None and (lowest.bitrate <= left or not chosen or not self._may_pause):
                # The first video keeps its lowest encoding even when it does not
                # fit: REMB collapses on a thin link's bursts, and pausing then left
                # a district doctor with no picture at all. The others keep theirs
                # while the link loses nothing (see PAUSE_LOSS).
                left -= lowest.bitrate
                chosen.append(lowest)
            else:
                chosen.append(None)
        for i, consumer in enumerate(videos):
            current = chosen[i]
            if current is None:
                continue
            layers = options[id(consumer)]
            better = [
                layer
                for layer in layers[layers.index(current) + 1 :]
                if layer.bitrate - current.bitrate <= left
            ]
            if better:
                left -= better[-1].bitrate - current.bitrate
                chosen[i] = better[-1]
        return [
            Choice(c, layer, options[id(c)][-1] if options[id(c)] else None)
            for c, layer in zip(videos, chosen, strict=True)
        ]

    def _unpause_step(
        self, videos: Sequence[Consumer], options: dict[int, list[Layer]], budget: float
    ) -> float | None:
        """The budget at which a video paused for the link comes back at its lowest."""
        current = self._fit(videos, options, budget)
        used = sum(c.layer.bitrate for c in current if c.layer is not None)
        for choice in current:
            layers = options[id(choice.consumer)]
            if layers and choice.layer is None:
                return used + layers[0].bitrate * 1.05
        return None

    def _next_step(
        self,
        videos: Sequence[Consumer],
        options: dict[int, list[Layer]],
        budget: float,
        up: bool = True,
    ) -> float | None:
        """The smallest budget above `budget` that changes the allocation: a paused
        video back first, then (if `up`) one video one encoding up, by priority."""
        unpause = self._unpause_step(videos, options, budget)
        if unpause is not None or not up:
            return unpause
        current = self._fit(videos, options, budget)
        used = sum(c.layer.bitrate for c in current if c.layer is not None)
        for choice in current:
            layers = options[id(choice.consumer)]
            if not layers or choice.layer is None:
                continue
            # the next encoding up whose rate is known (a cheaper, higher one would
            # be a publisher limiting its own; a zero one is not measured yet)
            above = [
                layer
                for layer in layers[layers.index(choice.layer) + 1 :]
                if layer.bitrate > choice.layer.bitrate
            ]
            if above:
                return used - choice.layer.bitrate + above[0].bitrate * 1.05
        return None


def _live_layers(consumer: Consumer, now: float) -> list[Layer]:
    """The encodings the publisher sends now, lowest first. One not measured yet
    (its first second) counts only while none is: its cost is unknown, and taken
    as free, a 720p encoding the browser had just started was chosen for a
    300 kbit/s link, whose estimate then fell to a fifth. One measured under
    MIN_LAYER_BPS is an encoding the browser switched off for its own uplink
    (it still sends a few packets on it), which would never give the keyframe a
    switch waits for."""
    live = [
        layer
        for layer in consumer.producer.layers(now)
        if now - layer.last_packet < LIVE_LAYER_S
        and (not layer.measured or layer.bitrate >= MIN_LAYER_BPS)
    ]
    measured = [layer for layer in live if layer.measured]
    return measured or live


def _rate_of(consumer: Consumer, layers: list[Layer]) -> float:
    ssrc = consumer.current_layer_ssrc
    return next((layer.bitrate for layer in layers if layer.ssrc == ssrc), 0.0)
