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

- Simulcast (RFC 8853), which aiortc does not know: the RID and
  repaired-RID header extensions join aiortc's video extensions (so an
  answer accepts them and packets carry their `rtp_stream_id`); a packet
  of an SSRC no SDP announced is routed by its MID extension (a browser
  announces no SSRC for simulcast encodings, and aiortc routes unknown
  SSRCs by payload type only, which two video sections share); a
  receiver keeps one NACK generator per SSRC (aiortc's one, fed three
  encodings, asked for packets of one stream by the numbers of another)
  and no jitter buffer (nothing is decoded; it only cost time) and no
  bitrate estimator (see install_receive_hook); RTX SSRCs
  learnt from the repaired-RID extension are given to the receiver.
- A consumer's sender hands REMB and receiver reports to the SFU before
  aiortc handles them (aiortc applies REMB to an encoder, which a
  forwarded track does not have): per-subscriber bandwidth estimation.
- aiortc's Opus codec entry (module-level `aiortc.codecs.CODECS`) gets
  the fmtp parameters `useinbandfec=1; usedtx=1; minptime=10`: aiortc
  writes none, and a browser whose answer or offer lacks `useinbandfec`
  sends no in-band FEC, which is what keeps speech intelligible on a
  lossy link. Only signalling changes: the SFU forwards Opus untouched.
  Its payload type becomes 111, a browser's, for RED (next).
- RED for Opus (RFC 2198, see red.py), which aiortc drops from every
  negotiation, is put back into a transceiver's negotiated codecs.

Hooks run inside aiortc's transport loop, where an exception would stop
all of a peer's media; every hook installed here is guarded.
"""

import logging
import queue
from collections.abc import Awaitable, Callable
from typing import Any

from aiortc import RTCRtpReceiver, RTCRtpSender, RTCRtpTransceiver, clock
from aiortc.codecs import CODECS, HEADER_EXTENSIONS
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiveParameters,
)
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import (
    RTCP_PSFB_APP,
    AnyRtcpPacket,
    HeaderExtensionsMap,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtpPacket,
    unpack_remb_fci,
)

logger = logging.getLogger(__name__)

# name-mangled attributes
RECEIVER_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
RECEIVER_DECODER_THREAD = "_RTCRtpReceiver__decoder_thread"
RECEIVER_CODECS = "_RTCRtpReceiver__codecs"
RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
RECEIVER_NACK_GENERATOR = "_RTCRtpReceiver__nack_generator"
RECEIVER_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
RECEIVER_BITRATE_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
SENDER_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
SENDER_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
SENDER_OCTET_COUNT = "_RTCRtpSender__octet_count"
SENDER_PACKET_COUNT = "_RTCRtpSender__packet_count"

RtpHook = Callable[[RtpPacket], Awaitable[None]]

# What the SFU declares it decodes of Opus (RFC 7587): in-band FEC, DTX.
OPUS_PARAMETERS: dict[str, int] = {"minptime": 10, "useinbandfec": 1, "usedtx": 1}

# where install_receive_hook keeps a receiver's current hook (an attribute of ours)
_HOOK_CELL = "_sfu_receive_hook"
# set on an RtpRouter whose route_rtp falls back to the MID extension (ours)
_MID_ROUTING = "_sfu_routes_by_mid"

RID_URI = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
REPAIRED_RID_URI = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
# ids for the SFU's own offers: aiortc uses 1 (mid), 2 (audio level), 3 (abs-send-time)
_SIMULCAST_EXTENSIONS = ((RID_URI, 4), (REPAIRED_RID_URI, 5))
# SSRCs one receiver tracks NACKs for: three encodings, and what replaced them
MAX_STREAMS_PER_RECEIVER = 8


class NoFrames:
    """Stands in for a receiver's jitter buffer: the SFU assembles no frame."""

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        return False, None


class NackGenerators:
    """aiortc's NACK generator, one per SSRC, behind the one interface it has.

    aiortc's receiver reads `missing` right after `add`, with nothing
    awaited in between, so `missing` is that of the packet's stream.
    """

    def __init__(self) -> None:
        self._streams: dict[int, NackGenerator] = {}
        self.missing: set[int] = set()

    def add(self, packet: RtpPacket) -> bool:
        generator = self._streams.get(packet.ssrc)
        if generator is None:
            if len(self._streams) >= MAX_STREAMS_PER_RECEIVER:
                self._streams.pop(next(iter(self._streams)))  # the oldest
            generator = self._streams[packet.ssrc] = NackGenerator()
        missed = generator.add(packet)
        self.missing = generator.missing
        return missed


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
    setattr(receiver, RECEIVER_JITTER_BUFFER, NoFrames())
    # No REMB to the publisher: aiortc times arrivals when the event loop gets to
    # them, so a busy SFU reads its own stalls as a congested link and held a
    # browser's camera at 150-450 kbit/s on an idle loopback. The browser's
    # loss-based estimate (from receiver reports) governs its sending instead.
    setattr(receiver, RECEIVER_BITRATE_ESTIMATOR, None)
    if getattr(receiver, RECEIVER_NACK_GENERATOR) is not None:  # video
        setattr(receiver, RECEIVER_NACK_GENERATOR, NackGenerators())

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
        _route_unknown_ssrcs_by_mid(router)

    setattr(receiver, "_handle_rtp_packet", handle_rtp_packet)  # noqa: B010
    setattr(receiver, "receive", receive)  # noqa: B010


def _route_unknown_ssrcs_by_mid(router: RtpRouter) -> None:
    """An SSRC the router does not know goes to the receiver its MID names."""
    if getattr(router, _MID_ROUTING, False):
        return
    setattr(router, _MID_ROUTING, True)
    original = router.route_rtp

    def route_rtp(packet: RtpPacket) -> Any:
        found = original(packet)
        if found is None and packet.extensions.mid is not None:
            found = router.mid_table.get(packet.extensions.mid)
            if found is not None:
                router.ssrc_table[packet.ssrc] = found
        return found

    setattr(router, "route_rtp", route_rtp)  # noqa: B010


def note_rtx_ssrc(receiver: RTCRtpReceiver, rtx_ssrc: int, media_ssrc: int) -> None:
    """An RTX stream learnt from its repaired-RID: aiortc then unwraps it too,
    and its NACK generator sees the repairs."""
    receiver_rtx_ssrcs(receiver)[rtx_ssrc] = media_ssrc


def declare_simulcast_header_extensions() -> None:
    """Every SDP aiortc writes from now on offers or accepts the RID extensions."""
    video = HEADER_EXTENSIONS["video"]
    known = {ext.uri for ext in video}
    for uri, ext_id in _SIMULCAST_EXTENSIONS:
        if uri not in known:
            video.append(RTCRtpHeaderExtensionParameters(id=ext_id, uri=uri))


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


FeedbackHook = Callable[[int | None, float | None], None]
"""(REMB bitrate in bit/s, or None; fraction lost in a receiver report, or None)."""


def install_feedback_hook(sender: RTCRtpSender, on_feedback: FeedbackHook) -> None:
    """Show the subscriber's REMB and receiver reports about `sender` to the SFU,
    then let aiortc handle them as before (RTT, stats, NACK, PLI)."""
    original = sender._handle_rtcp_packet
    ssrc = sender._ssrc

    async def handle_rtcp_packet(packet: AnyRtcpPacket) -> None:
        try:
            if isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
                bitrate, _ = unpack_remb_fci(packet.fci)
                on_feedback(bitrate, None)
            elif isinstance(packet, RtcpRrPacket):
                for report in packet.reports:
                    if report.ssrc == ssrc:
                        on_feedback(None, report.fraction_lost / 256)
        except Exception:
            logger.exception("feedback hook failed")
        await original(packet)

    setattr(sender, "_handle_rtcp_packet", handle_rtcp_packet)  # noqa: B010


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


def accept_red(transceiver: RTCRtpTransceiver, payload_type: int, opus_payload_type: int) -> None:
    """RED (see red.py), which aiortc drops from every negotiation, joins the
    transceiver's negotiated codecs, first: an answer written from them asks
    the browser to send RED, and the receiver accepts its payload type."""
    codecs = negotiated_codecs(transceiver)
    if any(c.mimeType.lower() == "audio/red" for c in codecs):
        return
    if not any(c.payloadType == opus_payload_type for c in codecs):
        return
    red = RTCRtpCodecParameters(
        mimeType="audio/red",
        clockRate=48000,
        channels=2,
        payloadType=payload_type,
        parameters={f"{opus_payload_type}/{opus_payload_type}": None},
    )
    codecs.insert(0, red)


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


def declare_opus_fec_and_dtx(payload_type: int) -> None:
    """Every SDP aiortc writes from now on offers or answers Opus with FEC and DTX,
    and offers it as `payload_type` (a browser's own, so that the Opus blocks
    inside its RED pass to other browsers unchanged).

    In place, because aiortc's capabilities and codec preferences share
    these parameter dicts, and compare them when filtering.
    """
    for codec in CODECS["audio"]:
        if codec.mimeType.lower() == "audio/opus":
            codec.parameters.update(OPUS_PARAMETERS)
            codec.payloadType = payload_type
