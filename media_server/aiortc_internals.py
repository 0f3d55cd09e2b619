"""Every use of aiortc's private API, and nowhere else.

aiortc 1.16 has no way to forward encoded media: its receiver always
decodes and its sender always encodes. The SFU bends it here. Each name
below is checked, with its signature, by
tests/media_server/test_aiortc_internals.py, so that an aiortc upgrade
that moves one fails that test loudly instead of silently stopping media.

What is bent, and why:

- A receiver's decoder queue is swapped for one that drops encoded
  frames, and the decoder thread it starts is ended at once, so nothing
  is decoded and no thread per producer is kept.
- `RTCRtpReceiver._handle_rtp_packet` is wrapped: the SFU sees every
  packet first, then aiortc's own handling still runs, so receiver
  reports, NACKs and REMB keep reaching the publisher.
- RTX SSRCs are added to the transport's RTP router: with two bundled
  video receivers sharing payload types (camera and screen), aiortc would
  otherwise drop every retransmission.
- On the subscribe side, packets are sent with the DTLS transport's
  `_send_rtp`, using the sender's SSRC and the leg's negotiated codecs
  and header extension ids; `_retransmit` and `_send_keyframe` are
  replaced so that NACKs are answered from the consumer's history and
  PLI/FIR go to the producer; the sender's name-mangled counters are
  kept current so that its RTCP sender reports match what was sent.

- aiortc's Opus codec entry (module-level `aiortc.codecs.CODECS`) gets
  the fmtp parameters `useinbandfec=1; usedtx=1; minptime=10`: aiortc
  writes none, and a browser whose answer or offer lacks `useinbandfec`
  sends no in-band FEC, which is what keeps speech intelligible on a
  lossy link. Only signalling changes: the SFU forwards Opus untouched.

Hooks run inside aiortc's transport loop, where an exception would stop
all of a peer's media; every hook installed here is guarded.
"""

import logging
import queue
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver, clock
from aiortc.codecs import CODECS
from aiortc.rtcdtlstransport import RTCDtlsTransport
from aiortc.rtcrtpparameters import RTCRtpCodecParameters, RTCRtpReceiveParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

logger = logging.getLogger(__name__)

# name-mangled attributes
RECEIVER_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
RECEIVER_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
RECEIVER_CODECS = "_RTCRtpReceiver__codecs"
RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
SENDER_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
SENDER_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
SENDER_OCTET_COUNT = "_RTCRtpSender__octet_count"
SENDER_PACKET_COUNT = "_RTCRtpSender__packet_count"

RtpHook = Callable[[RtpPacket], Awaitable[None]]

# What the SFU declares it decodes of Opus (RFC 7587): in-band FEC, DTX.
OPUS_PARAMETERS: dict[str, int] = {"minptime": 10, "useinbandfec": 1, "usedtx": 1}

# where install_receive_hook keeps a receiver's current hook (an attribute of ours)
_HOOK_CELL = "_sfu_receive_hook"


class DiscardQueue(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue: drops encoded frames.

    Only the `None` that tells the decoder thread to stop gets through.
    """

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)


def install_receive_hook(
    receiver: RTCRtpReceiver, hook: RtpHook, *, keep_aiortc_handling: bool = True
) -> None:
    """Route `receiver`'s incoming RTP to `hook`, and keep it from decoding.

    Must be called before the receiver starts, i.e. right after the
    remote description that created it was applied. Called again on the
    same receiver (a section that stopped sending and sends again is a new
    producer), it replaces the hook rather than wrapping another layer.
    Load-test clients pass `keep_aiortc_handling=False` to skip aiortc's
    reports, NACKs and jitter buffer as well; the SFU never does.
    """
    installed: list[RtpHook] | None = getattr(receiver, _HOOK_CELL, None)
    if installed is not None:
        installed[0] = hook
        return
    cell = [hook]
    setattr(receiver, _HOOK_CELL, cell)
    setattr(receiver, RECEIVER_DECODER_QUEUE, DiscardQueue())

    original_handle = receiver._handle_rtp_packet
    original_receive = receiver.receive

    async def handle_rtp_packet(packet: RtpPacket, arrival_time_ms: int) -> None:
        try:
            await cell[0](packet)
        except Exception:
            logger.exception("RTP hook failed")
        if not keep_aiortc_handling:
            return
        try:
            await original_handle(packet, arrival_time_ms)
        except Exception:
            logger.exception("aiortc receiver failed on an RTP packet")

    async def receive(parameters: RTCRtpReceiveParameters) -> None:
        await original_receive(parameters)
        thread = getattr(receiver, RECEIVER_DECODER_THREAD)
        if thread is not None:
            # the None that stop() would send; without a thread aiortc queues no frames
            getattr(receiver, RECEIVER_DECODER_QUEUE).put(None)
            setattr(receiver, RECEIVER_DECODER_THREAD, None)
        router = receiver.transport._rtp_router
        for encoding in parameters.encodings:
            if encoding.rtx is not None:
                router.ssrc_table[encoding.rtx.ssrc] = receiver

    setattr(receiver, "_handle_rtp_packet", handle_rtp_packet)  # noqa: B010
    setattr(receiver, "receive", receive)  # noqa: B010


def receiver_codecs(receiver: RTCRtpReceiver) -> dict[int, RTCRtpCodecParameters]:
    """The receiver's codecs by payload type (set when it starts)."""
    codecs: dict[int, RTCRtpCodecParameters] = getattr(receiver, RECEIVER_CODECS)
    return codecs


def receiver_rtx_ssrcs(receiver: RTCRtpReceiver) -> dict[int, int]:
    """RTX SSRC -> media SSRC, as announced in the remote description."""
    ssrcs: dict[int, int] = getattr(receiver, RECEIVER_RTX_SSRC)
    return ssrcs


async def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> None:
    """Ask the publisher of `media_ssrc` for a keyframe."""
    await receiver._send_rtcp_pli(media_ssrc)


def install_send_hooks(
    sender: RTCRtpSender,
    on_nack: Callable[[int], Awaitable[None]],
    on_keyframe_request: Callable[[], None],
) -> None:
    """Answer the subscriber's NACKs and PLI/FIR with the SFU's handlers."""

    async def retransmit(sequence_number: int) -> None:
        try:
            await on_nack(sequence_number)
        except Exception:
            logger.exception("NACK hook failed")

    def send_keyframe() -> None:
        try:
            on_keyframe_request()
        except Exception:
            logger.exception("keyframe hook failed")

    setattr(sender, "_retransmit", retransmit)  # noqa: B010
    setattr(sender, "_send_keyframe", send_keyframe)  # noqa: B010


def sender_ssrc(sender: RTCRtpSender) -> int:
    ssrc: int = sender._ssrc
    return ssrc


def set_sender_stream_id(sender: RTCRtpSender, stream_id: str) -> None:
    """Group a publisher's tracks in one MediaStream at the subscriber (msid)."""
    sender._stream_id = stream_id


def note_rtp_sent(
    sender: RTCRtpSender, rtp_timestamp: int, payload_size: int, ntp_time: int | None = None
) -> None:
    """Keep the sender's RTCP sender report counters current."""
    state = sender.__dict__
    state[SENDER_NTP_TIMESTAMP] = clock.current_ntp_time() if ntp_time is None else ntp_time
    state[SENDER_RTP_TIMESTAMP] = rtp_timestamp
    state[SENDER_OCTET_COUNT] += payload_size
    state[SENDER_PACKET_COUNT] += 1


def negotiated_codecs(transceiver: RTCRtpTransceiver) -> list[RTCRtpCodecParameters]:
    codecs: list[RTCRtpCodecParameters] = transceiver._codecs
    return codecs


def negotiated_header_extensions(transceiver: RTCRtpTransceiver) -> dict[str, int]:
    """Header extension URI -> id negotiated for this transceiver."""
    return {ext.uri: ext.id for ext in transceiver._headerExtensions}


def header_extensions_map(transport: RTCDtlsTransport) -> HeaderExtensionsMap:
    """The header extension ids negotiated on this (bundled) transport."""
    extensions: HeaderExtensionsMap = transport._rtp_header_extensions_map
    return extensions


async def send_rtp(transport: RTCDtlsTransport, data: bytes) -> None:
    """Protect and send one serialized RTP packet (raises ConnectionError if closed)."""
    await transport._send_rtp(data)


def transport_packets_received(transport: RTCDtlsTransport) -> int:
    """Datagrams received on a transport, media and RTCP alike (liveness)."""
    total = 0
    for stats in transport._get_stats().values():
        total += getattr(stats, "packetsReceived", 0)
    return total


def declare_opus_fec_and_dtx() -> None:
    """Every SDP aiortc writes from now on offers or answers Opus with FEC and DTX.

    In place, because aiortc's capabilities and codec preferences share
    these parameter dicts, and compare them when filtering.
    """
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_PARAMETERS)
