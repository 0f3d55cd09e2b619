"""Producer: one incoming track of a peer, forwarded to its consumers as RTP."""

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpTransceiver, clock
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket, unwrap_rtx

from . import aiortc_internals as internals
from . import red
from .duplicates import RecentSequences
from .keyframe import is_keyframe_start, vp8_keyframe_width
from .permissions import TrackSource

if TYPE_CHECKING:
    from .consumer import Consumer

logger = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None]], None]

RtpTap = Callable[[RtpPacket, RTCRtpCodecParameters, float], None]
"""Sees each incoming packet (RTX unwrapped), its codec and its arrival (wall clock, s).

Called synchronously on the forwarding path: it must be quick and must
not keep the packet (copy what it needs)."""


# Video silent this long and then back (the publisher's link dropped and returned):
# what was lost cannot be repaired by NACK, so a keyframe is asked for at once
# rather than when each subscriber's decoder gives up (~2 s later).
RESUME_GAP_S = 0.5


# Media streams (SSRCs) whose arrivals are remembered: three encodings and
# what replaced them.
MAX_STREAMS = 8

# An encoding counts as sent, for the taps' choice, with a packet this recent.
TAP_LIVE_S = 1.0

# A layer's bitrate is measured over at least this long (bit/s, smoothed).
BITRATE_WINDOW_S = 1.0
_BITRATE_SMOOTHING = 0.5


def _is_rtx(mime_type: str) -> bool:
    return mime_type.lower() == "video/rtx"


class Layer:
    """One encoding of a simulcast producer (a spatial layer): its SSRC, RID,
    picture width (from its last VP8 keyframe) and measured bitrate."""

    __slots__ = (
        "_bytes",
        "_since",
        "bitrate",
        "last_packet",
        "measured",
        "order",
        "rid",
        "ssrc",
        "width",
    )

    def __init__(self, rid: str, ssrc: int, order: int, now: float) -> None:
        self.rid = rid
        self.ssrc = ssrc
        self.order = order  # its place in the offer's a=simulcast
        self.width = 0
        self.bitrate = 0.0
        self.measured = False  # a first window has passed
        self._bytes = 0
        self._since = now
        self.last_packet = now

    def count(self, size: int, now: float) -> None:
        self._bytes += size
        self.last_packet = now

    def measure(self, now: float) -> float:
        """The bitrate, updated when a window has passed (not per packet)."""
        elapsed = now - self._since
        if elapsed >= BITRATE_WINDOW_S:
            rate = self._bytes * 8 / elapsed
            if now - self.last_packet > BITRATE_WINDOW_S:
                self.bitrate = 0.0  # the publisher stopped sending it (its uplink shrank)
            elif not self.bitrate:
                self.bitrate = rate
            else:
                self.bitrate = _BITRATE_SMOOTHING * self.bitrate + (1 - _BITRATE_SMOOTHING) * rate
            self._bytes, self._since = 0, now
            self.measured = True
        return self.bitrate


class Producer:
    """Receives one track without decoding it and fans its packets out.

    Keyframe requests from all consumers are merged: at most one PLI per
    `keyframe_interval` goes to the publisher, and a request that falls
    inside the interval is sent when it ends rather than dropped.
    """

    def __init__(
        self,
        producer_id: str,
        peer_id: str,
        source: TrackSource,
        transceiver: RTCRtpTransceiver,
        spawn: Spawn,
        keyframe_interval: float = 0.5,
    ) -> None:
        self.id = producer_id
        self.peer_id = peer_id
        self.kind: str = transceiver.kind
        self.source = source
        self.mid: str | None = transceiver.mid
        self.codecs = [
            c for c in internals.negotiated_codecs(transceiver) if not _is_rtx(c.mimeType)
        ]
        # what the taps are given of a RED packet (see _plain_opus)
        self._opus = next((c for c in self.codecs if c.mimeType.lower() == "audio/opus"), None)
        self.media_ssrc: int | None = None
        # simulcast: the RIDs negotiated (empty: one encoding), and what arrived
        self.rids: list[str] = []
        self._layers: dict[int, Layer] = {}  # by SSRC
        self._seen: dict[int, RecentSequences] = {}  # what arrived, by media SSRC
        self._rtx_layers: dict[int, int] = {}  # RTX SSRC -> media SSRC, learnt
        self._keyframe_pending = False  # asked for before the first packet
        self._tap_ssrc: int | None = None  # the encoding the taps see (simulcast)
        self.packets_received = 0
        self.bytes_received = 0
        self.keyframe_requests_sent = 0
        self.last_packet_time: float | None = None
        self._consumers: dict[str, Consumer] = {}
        self._receiver = transceiver.receiver
        self._spawn = spawn
        self._keyframe_interval = keyframe_interval
        # one PLI per interval per encoding (key: its SSRC)
        self._last_pli: dict[int, float] = {}
        self._pli_timers: dict[int, asyncio.TimerHandle] = {}
        self._closed = False
        self._taps: list[RtpTap] = []
        # audio level (RFC 6464: 0 is loudest, 127 silence), averaged between reads
        self._level_sum = 0
        self._level_count = 0
        internals.install_receive_hook(self._receiver, self._on_rtp)

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def consumers(self) -> list["Consumer"]:
        return list(self._consumers.values())

    def add_consumer(self, consumer: "Consumer") -> None:
        self._consumers[consumer.subscriber_id] = consumer

    def remove_consumer(self, subscriber_id: str) -> None:
        self._consumers.pop(subscriber_id, None)

    def _plain_opus(self, packet: RtpPacket) -> tuple[RtpPacket, RTCRtpCodecParameters] | None:
        opus = self._opus
        if opus is None or opus.payloadType is None:
            return None
        try:
            payload = red.primary(packet.payload)
        except red.RedError:
            return None
        plain = RtpPacket(
            payload_type=opus.payloadType,
            marker=packet.marker,
            sequence_number=packet.sequence_number,
            timestamp=packet.timestamp,
            ssrc=packet.ssrc,
            payload=payload,
        )
        plain.extensions = packet.extensions
        return plain, opus

    def add_tap(self, tap: RtpTap) -> None:
        self._taps.append(tap)

    def remove_tap(self, tap: RtpTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)
        if not self._taps:
            self._tap_ssrc = None  # the next recording chooses again

    @property
    def simulcast(self) -> bool:
        return bool(self.rids)

    def set_simulcast(self, rids: list[str]) -> None:
        """The encodings the publisher was answered it may send (before any packet)."""
        self.rids = list(rids)

    def layers(self, now: float | None = None) -> list[Layer]:
        """The encodings that arrived, lowest quality first, bitrates current."""
        now = time.monotonic() if now is None else now
        for layer in self._layers.values():
            layer.measure(now)
        return sorted(self._layers.values(), key=lambda layer: (layer.width, layer.order))

    def layer(self, ssrc: int) -> Layer | None:
        return self._layers.get(ssrc)

    def close(self) -> None:
        self._closed = True
        self._taps.clear()
        self._consumers.clear()
        for timer in self._pli_timers.values():
            timer.cancel()
        self._pli_timers.clear()

    def take_audio_level(self) -> int | None:
        """Mean audio level since the last call, or None if none was received."""
        if not self._level_count:
            return None
        level = self._level_sum // self._level_count
        self._level_sum = self._level_count = 0
        return level

    def request_keyframe(self, ssrc: int | None = None) -> None:
        """A keyframe of the encoding `ssrc`, or of every encoding (None).

        Merged per encoding, at most one per interval; a subscriber's own
        requests are spaced by its consumer (see Consumer).
        """
        if self.kind != "video" or self._closed:
            return
        if ssrc is not None:
            targets = [ssrc]
        elif self._layers:
            targets = list(self._layers)
        elif self.media_ssrc is not None:
            targets = [self.media_ssrc]
        else:
            # nothing arrived yet (a section that sends again): ask at its first packet
            self._keyframe_pending = True
            return
        for target in targets:
            if target in self._pli_timers:
                continue
            last = self._last_pli.get(target, -self._keyframe_interval)
            wait = last + self._keyframe_interval - time.monotonic()
            if wait <= 0:
                self._send_pli(target)
            else:
                loop = asyncio.get_running_loop()
                self._pli_timers[target] = loop.call_later(wait, self._send_pli, target)

    def _send_pli(self, ssrc: int) -> None:
        self._pli_timers.pop(ssrc, None)
        if self._closed:
            return
        self._last_pli[ssrc] = time.monotonic()
        self.keyframe_requests_sent += 1
        self._spawn(internals.send_pli(self._receiver, ssrc))

    def _layer_of(self, packet: RtpPacket, now: float) -> Layer | None:
        """The encoding a simulcast packet belongs to, learnt from its RID."""
        layer = self._layers.get(packet.ssrc)
        if layer is not None:
            return layer
        rid = packet.extensions.rtp_stream_id
        if rid not in self.rids or len(self._layers) >= 2 * len(self.rids):
            return None  # before its first packet with a RID, or too many streams
        for known in list(self._layers.values()):
            if known.rid == rid:  # the browser restarted that encoding
                del self._layers[known.ssrc]
        layer = self._layers[packet.ssrc] = Layer(rid, packet.ssrc, self.rids.index(rid), now)
        self.request_keyframe(packet.ssrc)  # a consumer switching to it needs one
        return layer

    def _taps_take(self, layer: Layer, keyframe: bool, now: float) -> bool:
        """Taps (the recorder) see one encoding of a simulcast producer, for good:
        the best one sent when they start, from one of its keyframes. One SSRC,
        one sequence and timestamp space, as a recorded track must be; if that
        encoding stops, the recording has a gap rather than a switch."""
        if self._tap_ssrc is None:
            live = [x for x in self._layers.values() if now - x.last_packet < TAP_LIVE_S]
            best = max(live, key=lambda x: x.order, default=None)
            if best is not layer or not keyframe:
                return False
            self._tap_ssrc = layer.ssrc
        return layer.ssrc == self._tap_ssrc

    def _rtx_media_ssrc(self, packet: RtpPacket) -> int | None:
        ssrc = internals.receiver_rtx_ssrcs(self._receiver).get(packet.ssrc)
        if ssrc is not None or not self.rids:
            return ssrc if ssrc is not None else self.media_ssrc
        ssrc = self._rtx_layers.get(packet.ssrc)
        if ssrc is None:
            rid = packet.extensions.repaired_rtp_stream_id
            layer = next((x for x in self._layers.values() if x.rid == rid), None)
            if layer is None:
                return None
            ssrc = self._rtx_layers[packet.ssrc] = layer.ssrc
            internals.note_rtx_ssrc(self._receiver, packet.ssrc, ssrc)
        return ssrc

    async def _on_rtp(self, packet: RtpPacket) -> None:
        if self._closed:
            return
        codecs = internals.receiver_codecs(self._receiver)
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        if _is_rtx(codec.mimeType):
            # learnt first: a browser names an RTX stream's encoding (repaired-RID)
            # only until it is acknowledged, often in its padding-only probes
            ssrc = self._rtx_media_ssrc(packet)
            apt = codec.parameters.get("apt")
            if len(packet.payload) < 2 or not isinstance(apt, int) or apt not in codecs:
                return  # padding-only probe, nothing to forward
            if ssrc is None:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=ssrc)
            codec = codecs[apt]
        elif self.media_ssrc is None and not self.rids:
            self.media_ssrc = packet.ssrc
            if self._keyframe_pending:
                self._keyframe_pending = False
                self.request_keyframe()

        now = time.monotonic()
        layer = None
        if self.rids:
            layer = self._layer_of(packet, now)
            if layer is None:
                return
        seen = self._seen.get(packet.ssrc)
        if seen is None:
            if len(self._seen) >= MAX_STREAMS:
                self._seen.pop(next(iter(self._seen)))  # the oldest
            seen = self._seen[packet.ssrc] = RecentSequences()
        if not seen.first_time(packet.sequence_number):
            return  # a copy: a browser's padding, or the network's (see duplicates.py)
        if layer is not None:
            layer.count(len(packet.payload), now)
        if (
            self.last_packet_time is not None
            and now - self.last_packet_time > RESUME_GAP_S
            and self.kind == "video"
        ):
            self.request_keyframe()
        self.packets_received += 1
        self.bytes_received += len(packet.payload)
        self.last_packet_time = now
        if packet.extensions.audio_level is not None:
            self._level_sum += packet.extensions.audio_level[1]
            self._level_count += 1
        if not self._consumers and not self._taps:
            return
        keyframe = self.kind == "video" and is_keyframe_start(codec.name, packet.payload)
        if keyframe and layer is not None and codec.name == "VP8":
            layer.width = vp8_keyframe_width(packet.payload) or layer.width
        if self._taps and (layer is None or self._taps_take(layer, keyframe, now)):
            self._run_taps(packet, codec)

        if not self._consumers:
            return
        ntp_time = clock.current_ntp_time()
        abs_send_time = (ntp_time >> 14) & 0x00FFFFFF
        for consumer in tuple(self._consumers.values()):
            try:
                await consumer.forward(packet, codec, keyframe, abs_send_time, ntp_time, now)
            except Exception:
                # one broken leg must not stop the others
                logger.exception("forwarding to %s failed", consumer.subscriber_id)

    def _run_taps(self, packet: RtpPacket, codec: RTCRtpCodecParameters) -> None:
        arrival = time.time()
        if codec.mimeType.lower() == red.RED_MIME:
            # recorders take Opus: the packet's own frame (see red.py)
            plain = self._plain_opus(packet)
            if plain is None:
                return
            packet, codec = plain
        for tap in tuple(self._taps):
            try:
                tap(packet, codec, arrival)
            except Exception:
                # a failing recorder must never disturb forwarding
                logger.exception("RTP tap on %s failed", self.id)
