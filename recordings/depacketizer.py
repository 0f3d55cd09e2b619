"""RTP packets of one track back into encoded frames, without decoding them."""

from collections.abc import Callable
from dataclasses import dataclass, field

from aiortc.codecs.vpx import VpxPayloadDescriptor

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
        start_of_frame: Callable[[bytes], bool],
        depayload: Callable[[bytes], bytes],
        is_keyframe: Callable[[bytes], bool],
        one_packet_frames: bool = False,
    ) -> None:
        self._max_wait = int(MAX_WAIT * clock_rate)
        self._start_of_frame = start_of_frame
        self._depayload = depayload
        self._is_keyframe = is_keyframe
        self._one_packet_frames = one_packet_frames
        self._seq = _Unwrapper(16)
        self._ts = _Unwrapper(32)
        self._pending: dict[int, _Parts] = {}
        self._last_emitted: int | None = None
        self.gaps = 0

    def push(
        self, sequence_number: int, timestamp: int, marker: bool, payload: bytes
    ) -> list[EncodedFrame]:
        seq = self._seq.extend(sequence_number)
        ts = self._ts.extend(timestamp)
        if not payload or (self._last_emitted is not None and ts <= self._last_emitted):
            return []  # padding, or too late: that frame was emitted or given up
        if self._one_packet_frames:
            self._last_emitted = ts
            data = self._depayload(payload)
            return [EncodedFrame(ts, data, self._is_keyframe(data))]
        parts = self._pending.setdefault(ts, _Parts())
        parts.payloads[seq] = payload
        if self._start_of_frame(payload):
            parts.first = seq
        if marker:
            parts.last = seq
        return self._drain(ts)

    def _drain(self, newest: int) -> list[EncodedFrame]:
        out: list[EncodedFrame] = []
        newest = max(newest, *self._pending) if self._pending else newest
        while self._pending:
            oldest = min(self._pending)
            parts = self._pending[oldest]
            if parts.complete():
                assert parts.first is not None and parts.last is not None
                data = b"".join(
                    self._depayload(parts.payloads[s]) for s in range(parts.first, parts.last + 1)
                )
                out.append(EncodedFrame(oldest, data, self._is_keyframe(data)))
            elif newest - oldest > self._max_wait:
                self.gaps += 1
            else:
                break
            del self._pending[oldest]
            self._last_emitted = oldest
        return out


def _vp8_start(payload: bytes) -> bool:
    descriptor, _ = VpxPayloadDescriptor.parse(payload)
    return bool(descriptor.partition_start) and descriptor.partition_id == 0


def _vp8_depayload(payload: bytes) -> bytes:
    _, data = VpxPayloadDescriptor.parse(payload)
    return data


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
        return Depacketizer(clock_rate, _vp8_start, _vp8_depayload, _vp8_keyframe)
    if name == "opus":
        return Depacketizer(
            clock_rate, lambda _: True, lambda p: p, lambda _: True, one_packet_frames=True
        )
    return None
