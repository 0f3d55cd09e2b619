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
from .keyframe import is_keyframe_start
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


def _is_rtx(mime_type: str) -> bool:
    return mime_type.lower() == "video/rtx"


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
        self.media_ssrc: int | None = None
        self.packets_received = 0
        self.bytes_received = 0
        self.keyframe_requests_sent = 0
        self.last_packet_time: float | None = None
        self._consumers: dict[str, Consumer] = {}
        self._receiver = transceiver.receiver
        self._spawn = spawn
        self._keyframe_interval = keyframe_interval
        self._last_pli = -keyframe_interval
        self._pli_timer: asyncio.TimerHandle | None = None
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

    def add_tap(self, tap: RtpTap) -> None:
        self._taps.append(tap)

    def remove_tap(self, tap: RtpTap) -> None:
        if tap in self._taps:
            self._taps.remove(tap)

    def close(self) -> None:
        self._closed = True
        self._taps.clear()
        self._consumers.clear()
        if self._pli_timer is not None:
            self._pli_timer.cancel()
            self._pli_timer = None

    def take_audio_level(self) -> int | None:
        """Mean audio level since the last call, or None if none was received."""
        if not self._level_count:
            return None
        level = self._level_sum // self._level_count
        self._level_sum = self._level_count = 0
        return level

    def request_keyframe(self) -> None:
        if self.kind != "video" or self._closed or self._pli_timer is not None:
            return
        wait = self._last_pli + self._keyframe_interval - time.monotonic()
        if wait <= 0:
            self._send_pli()
        else:
            self._pli_timer = asyncio.get_running_loop().call_later(wait, self._send_pli)

    def _send_pli(self) -> None:
        self._pli_timer = None
        if self._closed or self.media_ssrc is None:
            return
        self._last_pli = time.monotonic()
        self.keyframe_requests_sent += 1
        self._spawn(internals.send_pli(self._receiver, self.media_ssrc))

    async def _on_rtp(self, packet: RtpPacket) -> None:
        if self._closed:
            return
        codecs = internals.receiver_codecs(self._receiver)
        codec = codecs.get(packet.payload_type)
        if codec is None:
            return
        if _is_rtx(codec.mimeType):
            apt = codec.parameters.get("apt")
            if len(packet.payload) < 2 or not isinstance(apt, int) or apt not in codecs:
                return  # padding-only probe, nothing to forward
            ssrc = internals.receiver_rtx_ssrcs(self._receiver).get(packet.ssrc, self.media_ssrc)
            if ssrc is None:
                return
            packet = unwrap_rtx(packet, payload_type=apt, ssrc=ssrc)
            codec = codecs[apt]
        elif self.media_ssrc is None:
            self.media_ssrc = packet.ssrc

        now = time.monotonic()
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
        if self._taps:
            self._run_taps(packet, codec)

        if not self._consumers:
            return
        keyframe = self.kind == "video" and is_keyframe_start(codec.name, packet.payload)
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
        for tap in tuple(self._taps):
            try:
                tap(packet, codec, arrival)
            except Exception:
                # a failing recorder must never disturb forwarding
                logger.exception("RTP tap on %s failed", self.id)
