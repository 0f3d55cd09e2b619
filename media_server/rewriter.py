"""Sequence number and timestamp rewriting for one consumer leg.

A subscriber sees one continuous RTP stream per consumer, whatever the
producer does and however often the consumer is paused. Each run of
forwarded packets (a "segment") maps the producer's numbers onto the leg
by a constant offset, so that gaps and late retransmissions inside a
segment keep their place; a new segment starts right after the last
packet sent, with the timestamp advanced by the wall-clock time that
passed.
"""

import random

_SEQ_MASK = 0xFFFF
_TS_MASK = 0xFFFFFFFF


def seq_newer(a: int, b: int) -> bool:
    """Whether sequence number `a` comes after `b`, modulo 2^16."""
    return a != b and ((a - b) & _SEQ_MASK) < 0x8000


class RtpRewriter:
    def __init__(self, clock_rate: int) -> None:
        self._clock_rate = clock_rate
        self._seq_offset = 0
        self._ts_offset = 0
        self._segment_start: int | None = None
        self._last_seq: int | None = None
        self._last_ts = 0
        self._last_time = 0.0

    def resync(self) -> None:
        """Start a new segment at the next packet (after a pause or a switch)."""
        self._segment_start = None

    def rewrite(self, sequence_number: int, timestamp: int, now: float) -> tuple[int, int] | None:
        """Map an incoming packet to (sequence number, timestamp) on this leg.

        Returns None for a packet older than the current segment, which the
        subscriber can no longer use.
        """
        if self._segment_start is None:
            if self._last_seq is None:
                # like aiortc, start in the lower half to stay clear of SRTP rollover trouble
                out_seq = random.randrange(0x8000)  # noqa: S311 - not a secret
                out_ts = random.randrange(1 << 32)  # noqa: S311 - not a secret
            else:
                out_seq = (self._last_seq + 1) & _SEQ_MASK
                elapsed = max(1, int((now - self._last_time) * self._clock_rate))
                out_ts = (self._last_ts + elapsed) & _TS_MASK
            self._seq_offset = (out_seq - sequence_number) & _SEQ_MASK
            self._ts_offset = (out_ts - timestamp) & _TS_MASK
            self._segment_start = sequence_number
        elif seq_newer(self._segment_start, sequence_number):
            return None

        out_seq = (sequence_number + self._seq_offset) & _SEQ_MASK
        out_ts = (timestamp + self._ts_offset) & _TS_MASK
        if self._last_seq is None or seq_newer(out_seq, self._last_seq):
            self._last_seq = out_seq
            self._last_ts = out_ts
            self._last_time = now
        return out_seq, out_ts
