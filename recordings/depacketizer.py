"""RTP packets of one track back into encoded frames, without decoding them."""

from collections.abc import Callable
from dataclasses import dataclass, field

from . import h264

# A frame still incomplete when a frame this much newer (in seconds) has
# arrived is given up: a retransmission has had its chance.
MAX_WAIT = 0.3


@dataclass(frozen=True)
class EncodedFrame:
    timestamp: int
    """Extended (unwrapped) RTP timestamp."""
    data: bytes
    keyframe: bool


@dataclass
class _Parts:
    payloads: dict[int, bytes] = field(default_factory=dict)  # by extended sequence number
    first: int | None = None
    last: int | None = None

    def complete(self) -> bool:
        if self.first is None or self.last is None:
            return False
        return len(self.payloads) == self.last - self.first + 1


class _Unwrapper:
    """Extends a wrapping counter (16 or 32 bits) into a monotonic-ish integer."""

    def __init__(self, bits: int) -> None:
        self._modulus = 1 << bits
        self._last: int | None = None

    def extend(self, value: int) -> int:
        if self._last is None:
            self._last = value
            return value
        delta = (value - self._last) % self._modulus
        if delta >= self._modulus // 2:
            delta -= self._modulus
        extended = self._last + delta
        if delta > 0:
            self._last = extended
        return extended


class Depacketizer:
    """Reassembles frames of one codec; emits them in timestamp order.

    Packets may come reordered or late (retransmissions); a frame waits for
    its missing packets until a frame `MAX_WAIT` newer exists, then is
    dropped and `gaps` counts it, so the writer can wait for a keyframe.
    """

    def __init__(
        self,
        clock_rate: int,
        parse: Callable[[bytes], tuple[bool, bytes]],
        is_keyframe: Callable[[bytes], bool],
        one_packet_frames: bool = False,
    ) -> None:
        self._max_wait = int(MAX_WAIT * clock_rate)
        self._parse = parse
        self._is_keyframe = is_keyframe
        self._one_packet_frames = one_packet_frames
        self._seq = _Unwrapper(16)
        self._ts = _Unwrapper(32)
        self._pending: dict[int, _Parts] = {}
        self._last_emitted: int | None = None
        self._newest = 0
        self.gaps = 0

    def push(
        self, sequence_number: int, timestamp: int, marker: bool, payload: bytes
    ) -> list[EncodedFrame]:
        seq = self._seq.extend(sequence_number)
        ts = self._ts.extend(timestamp)
        if not payload or (self._last_emitted is not None and ts <= self._last_emitted):
            return []  # padding, or too late: that frame was emitted or given up
        try:
            start, data = self._parse(payload)
        except (ValueError, IndexError):
            return []  # malformed: left to the frame's timeout, as a lost packet is
        if self._one_packet_frames:
            self._last_emitted = ts
            return [EncodedFrame(ts, data, self._is_keyframe(data))]
        parts = self._pending.get(ts)
        if parts is None:
            parts = self._pending[ts] = _Parts()
        parts.payloads[seq] = data
        if start and (parts.first is None or seq < parts.first):
            parts.first = seq  # H.264: the earliest of the NAL units that may lead
        if marker:
            parts.last = seq
        if ts > self._newest:
            self._newest = ts
        if not parts.complete() and len(self._pending) == 1:
            return []  # the usual case: the frame is still arriving
        return self._drain()

    def _drain(self) -> list[EncodedFrame]:
        out: list[EncodedFrame] = []
        newest = self._newest
        while self._pending:
            oldest = min(self._pending)
            parts = self._pending[oldest]
            if parts.complete():
                assert parts.first is not None and parts.last is not None
                data = b"".join(parts.payloads[s] for s in range(parts.first, parts.last + 1))
                out.append(EncodedFrame(oldest, data, self._is_keyframe(data)))
            elif newest - oldest > self._max_wait:
                self.gaps += 1
            else:
                break
            del self._pending[oldest]
            self._last_emitted = oldest
        return out


def _vp8_parse(payload: bytes) -> tuple[bool, bytes]:
    """(starts a frame, VP8 data) of an RTP payload (RFC 7741 4.2); byte tests, on the hot path."""
    first = payload[0]
    pos = 1
    if first & 0x80 and len(payload) > 1:  # X: extension byte follows
        extension = payload[1]
        pos = 2
        if extension & 0x80:  # I: picture id, 7 or 15 bits
            pos += 2 if len(payload) > pos and payload[pos] & 0x80 else 1
        if extension & 0x40:  # L: TL0PICIDX
            pos += 1
        if extension & 0x30:  # T or K: TID/KEYIDX byte
            pos += 1
    start = bool(first & 0x10) and not first & 0x07
    return start, payload[pos:]


def _whole(payload: bytes) -> tuple[bool, bytes]:
    return True, payload


def _vp8_keyframe(frame: bytes) -> bool:
    return len(frame) >= 10 and not frame[0] & 0x01


def vp8_size(keyframe: bytes) -> tuple[int, int]:
    """Width and height from a VP8 keyframe's header (RFC 6386 9.1)."""
    width = int.from_bytes(keyframe[6:8], "little") & 0x3FFF
    height = int.from_bytes(keyframe[8:10], "little") & 0x3FFF
    return width, height


def for_codec(name: str, clock_rate: int) -> Depacketizer | None:
    """A depacketizer for a codec the recorder supports, or None."""
    name = name.lower()
    if name == "vp8":
        return Depacketizer(clock_rate, _vp8_parse, _vp8_keyframe)
    if name == "h264":
        return Depacketizer(clock_rate, h264.parse, h264.is_keyframe)
    if name == "opus":
        return Depacketizer(clock_rate, _whole, lambda _: True, one_packet_frames=True)
    return None
