"""Consumer: one producer forwarded to one subscriber over its subscribe connection."""

import asyncio
import logging
import time
from collections.abc import Callable
from functools import partial
from typing import NoReturn

from aiortc import MediaStreamTrack, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from . import aiortc_internals as internals
from . import red
from .pacer import Pacer, Priority, abs_send_time_now
from .producer import Producer
from .rewriter import RtpRewriter
from .rtp_writer import RtpWriter

logger = logging.getLogger(__name__)

# A subscriber's own keyframe requests (PLI/FIR) reach the publisher at most this often.
SUBSCRIBER_PLI_INTERVAL_S = 2.0

# Packets kept for NACKs: ~1.7 s of 720p video at 1.5 Mb/s, many seconds of audio.
HISTORY_SIZE = 256

# How a producer's packets of one codec leave on this leg: the leg's payload
# type, and a change of payload (RED for a leg without it, or with other
# numbers) or None.
Output = tuple[int, Callable[[bytes], bytes] | None]


class ForwardedTrack(MediaStreamTrack):
    """The track a consumer's sender carries: it never yields a frame.

    Packets are sent around the sender's encoder, which then waits here
    for ever instead of polling, and stops when the sender stops.
    """

    def __init__(self, kind: str, track_id: str) -> None:
        super().__init__()
        self.kind = kind
        self._id = track_id
        self._ended = asyncio.Event()

    async def recv(self) -> NoReturn:
        await self._ended.wait()
        raise MediaStreamError

    def stop(self) -> None:
        super().stop()
        self._ended.set()


class Consumer:
    """Rewrites a producer's packets for one subscriber leg and sends them.

    SSRC, payload type and header extension ids are the leg's; sequence
    numbers and timestamps come from an :class:`RtpRewriter`, so pausing
    and resuming never break the subscriber's stream. Video (re)starts at
    a keyframe. The history holds the producer's packet objects (shared by
    all consumers), and is re-serialized only when a NACK asks for it.
    """

    def __init__(
        self,
        producer: Producer,
        subscriber_id: str,
        transceiver: RTCRtpTransceiver,
        on_feedback: internals.FeedbackHook | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.producer = producer
        self.subscriber_id = subscriber_id
        self.transceiver = transceiver
        self.paused = False
        self.packets_sent = 0
        self.bytes_sent = 0
        self.packets_retransmitted = 0
        self.nacks_received = 0  # packets the subscriber asked for again
        self.nacks_unanswered = 0  # of those, not in the history
        self._sender = transceiver.sender
        # the subscriber's pacer (shared by its consumers); a lone leg is not paced
        self._pacer = pacer if pacer is not None else Pacer()
        self._priority = Priority.AUDIO if producer.kind == "audio" else Priority.VIDEO
        self._abs_send_time_offset: int | None = None
        self._ready = False
        self._need_keyframe = producer.kind == "video"
        clock_rate = producer.codecs[0].clockRate if producer.codecs else 90000
        self._rewriter = RtpRewriter(clock_rate)
        self._outputs: dict[str, Output] = {}
        self._ssrc = internals.sender_ssrc(self._sender)
        self._writer: RtpWriter | None = None
        self._history: list[tuple[int, int, int, RtpPacket, bytes | None] | None] = [
            None
        ] * HISTORY_SIZE
        self._last_sequence: int | None = None
        # simulcast: the encoding sent (by SSRC), and the one to switch to at its
        # next keyframe; the stream allocator sets the target
        self._current_ssrc: int | None = None
        self._target_ssrc: int | None = None
        self._last_pli_at = -SUBSCRIBER_PLI_INTERVAL_S
        internals.set_sender_stream_id(self._sender, producer.peer_id)
        internals.install_send_hooks(self._sender, self._on_nack, self._on_keyframe_request)
        if on_feedback is not None:
            internals.install_feedback_hook(self._sender, on_feedback)

    def attach(self) -> None:
        """The subscriber accepted the leg: learn its payload types and start."""
        self._outputs = _outputs(
            self.producer.codecs, internals.negotiated_codecs(self.transceiver)
        )
        self._writer = RtpWriter(
            self._ssrc,
            self.transceiver.mid,
            internals.negotiated_header_extensions(self.transceiver),
        )
        self._abs_send_time_offset = self._writer.abs_send_time_offset
        self._ready = True
        if self._sender.transport.state == "connected":
            # otherwise the peer asks once the leg is up: a keyframe now would be lost
            self.request_keyframe()

    @property
    def attached(self) -> bool:
        return self._ready

    def detach(self) -> None:
        self._ready = False

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        if not self.paused:
            return
        self.paused = False
        self._need_keyframe = self.producer.kind == "video"
        self._rewriter.resync()
        self.request_keyframe()

    def request_keyframe(self) -> None:
        if self._need_keyframe:
            self.producer.request_keyframe(self._target_ssrc)
        elif self._target_ssrc is not None and self._target_ssrc != self._current_ssrc:
            self.producer.request_keyframe(self._target_ssrc)

    def _on_keyframe_request(self) -> None:
        """The subscriber's PLI/FIR: a keyframe of what it is sent, or is to be sent.

        One per SUBSCRIBER_PLI_INTERVAL_S: a subscriber whose link loses frames
        asks twice a second, which turned a 120 kbit/s encoding into 600 and
        buried the very link that asked; a browser asks again while it waits.
        Others' requests (a new consumer, the recorder) are not held back.
        """
        now = time.monotonic()
        if now - self._last_pli_at < SUBSCRIBER_PLI_INTERVAL_S:
            return
        self._last_pli_at = now
        ssrc = self._current_ssrc if self._current_ssrc is not None else self._target_ssrc
        self.producer.request_keyframe(ssrc)

    @property
    def current_layer_ssrc(self) -> int | None:
        return self._current_ssrc

    @property
    def current_layer_rid(self) -> str | None:
        layer = self.producer.layer(self._current_ssrc) if self._current_ssrc is not None else None
        return layer.rid if layer else None

    @property
    def target_layer_ssrc(self) -> int | None:
        return self._target_ssrc

    def select_layer(self, ssrc: int | None) -> None:
        """Simulcast: send the encoding `ssrc` from its next keyframe on (None:
        none, the subscriber's link has no room for this video)."""
        if ssrc == self._target_ssrc:
            return
        self._target_ssrc = ssrc
        if ssrc is None:
            return
        if ssrc != self._current_ssrc:
            self.producer.request_keyframe(ssrc)

    async def forward(
        self,
        packet: RtpPacket,
        codec: RTCRtpCodecParameters,
        keyframe: bool,
        abs_send_time: int,
        ntp_time: int,
        now: float,
    ) -> None:
        writer = self._writer
        if not self._ready or self.paused or writer is None:
            return
        transport = self._sender.transport
        if transport.state != "connected":
            return
        if self.producer.rids:
            # simulcast: one encoding at a time; a switch waits for a keyframe of the
            # target, the current one going on until then (no black gap)
            if packet.ssrc != self._current_ssrc:
                if packet.ssrc != self._target_ssrc or not keyframe:
                    return
                if self._current_ssrc is not None:
                    self._rewriter.resync()
                self._current_ssrc = packet.ssrc
                self._need_keyframe = False
            elif self._target_ssrc is None:
                self._current_ssrc = None  # paused for the link: resume at a keyframe
                self._rewriter.resync()
                return
        if self._need_keyframe:
            if not keyframe:
                return
            self._need_keyframe = False
        output = self._outputs.get(codec.mimeType.lower())
        if output is None:
            return
        payload_type, change = output
        payload = None
        if change is not None:
            try:
                payload = change(packet.payload)
            except red.RedError:
                return
        mapped = self._rewriter.rewrite(packet.sequence_number, packet.timestamp, now)
        if mapped is None:
            return
        sequence_number, timestamp = mapped
        self._last_sequence = sequence_number
        self._history[sequence_number % HISTORY_SIZE] = (
            sequence_number,
            timestamp,
            payload_type,
            packet,
            payload,
        )
        data = writer.write(
            packet, payload_type, sequence_number, timestamp, abs_send_time, payload
        )
        try:
            await self._pacer.send(transport, data, self._priority, self._abs_send_time_offset, now)
        except ConnectionError:
            return
        internals.note_rtp_sent(
            self._sender, timestamp, len(packet.payload if payload is None else payload), ntp_time
        )
        self.packets_sent += 1
        self.bytes_sent += len(data)

    async def _on_nack(self, sequence_number: int) -> None:
        self.nacks_received += 1
        entry = self._history[sequence_number % HISTORY_SIZE]
        if entry is None or entry[0] != sequence_number:
            self.nacks_unanswered += 1
            if self._beyond_history(sequence_number) and self.producer.kind == "video":
                # the subscriber lost more than the history holds (its link was
                # down): only a keyframe repairs that, so ask now, not after its
                # decoder gives up
                self.producer.request_keyframe()
            return
        _, timestamp, payload_type, packet, payload = entry
        if self._writer is None:
            return
        data = self._writer.write(
            packet, payload_type, sequence_number, timestamp, abs_send_time_now(), payload
        )
        priority = Priority.AUDIO if self._priority is Priority.AUDIO else Priority.RETRANSMISSION
        try:
            await self._pacer.send(
                self._sender.transport,
                data,
                priority,
                self._abs_send_time_offset,
                time.monotonic(),
            )
        except ConnectionError:
            return
        self.packets_retransmitted += 1

    def _beyond_history(self, sequence_number: int) -> bool:
        """Sent, and since overwritten (a packet the producer has not received yet,
        being repaired upstream, is not: its slot is empty or ahead)."""
        if self._last_sequence is None:
            return False
        age = (self._last_sequence - sequence_number) % 65536
        return HISTORY_SIZE <= age < 32768


def _outputs(
    produced: list[RTCRtpCodecParameters], negotiated: list[RTCRtpCodecParameters]
) -> dict[str, Output]:
    """Per codec the producer receives (by MIME type), how this leg sends it."""
    leg: dict[str, int] = {}
    for codec in negotiated:
        if codec.payloadType is not None:
            leg.setdefault(codec.mimeType.lower(), codec.payloadType)
    outputs: dict[str, Output] = {mime: (pt, None) for mime, pt in leg.items()}
    if red.RED_MIME not in {c.mimeType.lower() for c in produced}:
        return outputs
    opus = leg.get("audio/opus")
    published_opus = next(
        (c.payloadType for c in produced if c.mimeType.lower() == "audio/opus"), None
    )
    if red.RED_MIME in leg:
        if opus is not None and opus != published_opus:
            outputs[red.RED_MIME] = (
                leg[red.RED_MIME],
                partial(red.with_block_type, payload_type=opus),
            )
    elif opus is not None:
        outputs[red.RED_MIME] = (opus, red.primary)
    return outputs
