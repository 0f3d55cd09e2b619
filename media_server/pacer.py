"""Pacing: what one subscriber is sent leaves at its link's pace, not in bursts.

A keyframe is tens of packets that arrive from the publisher at once. Sent
on in one burst, a thin link's queue (a 300 kbit/s rural line; the `tbf`
of the field tests) drops its tail: the subscriber asks for those packets
again, then for another keyframe, and its browser's delay-based estimate
(REMB) falls. As libwebrtc's pacer does, video leaves at PACING_FACTOR
times a rate, from a small budget (a token bucket); the rate is the
subscriber's estimate or what it was sent over the last tick, whichever is
higher. Choosing what fits the link is the stream allocator's job; the
pacer only spreads bursts, so an estimate that is wrong low (aiortc's
receivers read their own event loop's stalls as congestion) must not
throttle a stream below what is sent on average.

- Audio is never queued: it leaves at once, ahead of any queued video, and
  its bytes count against the budget, so video yields to it.
- Retransmissions leave ahead of queued video (a NACKed packet holds up a
  frame the subscriber already waits for).
- A packet that waited gets its abs-send-time written when it leaves: the
  subscriber's estimator reads the wait as link delay otherwise.
- No packet waits longer than MAX_QUEUE_S: past it, it leaves anyway (the
  estimate was too low, and latency then matters more than a burst).
- Before the subscriber's first estimate nothing is paced.

One pacer per subscriber (its subscribe connection is bundled); its rate
is set on the peer's allocation timer, never per packet.
"""

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from enum import IntEnum
from typing import Any

from aiortc import clock

from . import aiortc_internals as internals

logger = logging.getLogger(__name__)

# libwebrtc paces at 2.5x its target rate: room for a keyframe to leave in a
# few frame intervals, little enough that a thin link's queue keeps it.
PACING_FACTOR = 2.5
# The budget's depth: sent in one go at most (5 ms in libwebrtc's pacer,
# at least two full packets here so a small rate still moves a frame).
BURST_S = 0.005
MIN_BURST_BYTES = 2 * 1200
# Longest a packet waits here; past it, it leaves whatever the budget.
MAX_QUEUE_S = 0.5
# Shortest wait between two sends from the queue (timer wake-ups cost more
# than the packets they send).
MIN_WAIT_S = 0.002

Send = Callable[[Any, bytes], Awaitable[None]]
"""Sends one serialized RTP packet on a transport (raises ConnectionError)."""


class Priority(IntEnum):
    AUDIO = 0
    RETRANSMISSION = 1
    VIDEO = 2


def abs_send_time_now() -> int:
    """The abs-send-time of now: 6.18 fixed-point seconds of the NTP clock."""
    return (clock.current_ntp_time() >> 14) & 0x00FFFFFF


def restamp(data: bytes, offset: int) -> bytes:
    """`data` with its abs-send-time (3 bytes at `offset`) set to now."""
    return data[:offset] + abs_send_time_now().to_bytes(3, "big") + data[offset + 3 :]


class Pacer:
    def __init__(self, send: Send = internals.send_rtp) -> None:
        self._send = send
        self._byte_rate: float | None = None  # None: not paced
        self._tokens = 0.0
        self._refilled_at = time.monotonic()
        # (transport, data, abs-send-time offset or None, queued at)
        self._video: deque[tuple[Any, bytes, int | None, float]] = deque()
        self._retransmissions: deque[tuple[Any, bytes, int | None, float]] = deque()
        self._queued_bytes = 0
        self._task: asyncio.Task[None] | None = None
        self._bytes_sent = 0  # since the last set_estimate
        self._measured_at = time.monotonic()
        self.sending = 0.0  # bit/s sent over the last tick
        self.packets_queued = 0
        self.longest_wait = 0.0

    @property
    def rate(self) -> float | None:
        """Bit/s that video leaves at, None when not paced."""
        return None if self._byte_rate is None else self._byte_rate * 8

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def set_estimate(self, estimate_bps: float | None, now: float | None = None) -> None:
        """The subscriber's bandwidth estimate (REMB), or None: not paced. Called
        on a timer: what was sent since the last call is measured here."""
        now = time.monotonic() if now is None else now
        elapsed = now - self._measured_at
        if elapsed > 0:
            self.sending = self._bytes_sent * 8 / elapsed
        self._bytes_sent = 0
        self._measured_at = now
        if estimate_bps is None or estimate_bps <= 0:
            self._byte_rate = None
        else:
            self._byte_rate = max(estimate_bps, self.sending) * PACING_FACTOR / 8

    async def send(
        self,
        transport: Any,
        data: bytes,
        priority: Priority,
        abs_send_time_offset: int | None,
        now: float,
    ) -> None:
        """Send now, or queue to send at the link's pace.

        The fast path (audio, or video with budget and nothing queued) is a
        few comparisons more than sending directly.
        """
        self._bytes_sent += len(data)
        byte_rate = self._byte_rate
        if byte_rate is None:
            await self._send(transport, data)
            return
        self._refill(now, byte_rate)
        if priority is Priority.AUDIO or (self._tokens > 0 and not self._queued_bytes):
            self._tokens -= len(data)
            await self._send(transport, data)
            return
        queue = self._retransmissions if priority is Priority.RETRANSMISSION else self._video
        queue.append((transport, data, abs_send_time_offset, now))
        self._queued_bytes += len(data)
        self.packets_queued += 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._drain())

    def close(self) -> None:
        self._video.clear()
        self._retransmissions.clear()
        self._queued_bytes = 0
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def _refill(self, now: float, byte_rate: float) -> None:
        depth = max(byte_rate * BURST_S, MIN_BURST_BYTES)
        self._tokens = min(depth, self._tokens + (now - self._refilled_at) * byte_rate)
        self._refilled_at = now

    async def _drain(self) -> None:
        try:
            while self._retransmissions or self._video:
                now = time.monotonic()
                queue = self._retransmissions or self._video
                byte_rate = self._byte_rate
                if byte_rate is not None:
                    self._refill(now, byte_rate)
                    waited = now - queue[0][3]
                    if self._tokens <= 0 and waited < MAX_QUEUE_S:
                        wait = max(-self._tokens / byte_rate, MIN_WAIT_S)
                        await asyncio.sleep(min(wait, MAX_QUEUE_S - waited))
                        continue
                transport, data, offset, queued_at = queue.popleft()
                self._queued_bytes -= len(data)
                # a packet past its wait leaves anyway; the debt it leaves is
                # bounded, so pacing resumes once the backlog is gone
                self._tokens = max(self._tokens - len(data), -MIN_BURST_BYTES)
                self.longest_wait = max(self.longest_wait, now - queued_at)
                if offset is not None:
                    data = restamp(data, offset)
                try:
                    await self._send(transport, data)
                except ConnectionError:
                    pass  # the leg closed; its consumer stops on its own
        except Exception:
            # a failing send must not leave packets queued for ever
            logger.exception("pacing failed")
            self._video.clear()
            self._retransmissions.clear()
            self._queued_bytes = 0
        finally:
            self._task = None
