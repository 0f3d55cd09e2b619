"""Fails loudly when an aiortc upgrade moves what media_server.aiortc_internals uses.

Each private name, its signature, and the behaviour of aiortc that the
hooks depend on is checked here; the last test checks the hooks on a
real connection.
"""

import asyncio
import inspect
import queue
import threading

import aiortc
import pytest
from aiortc import RTCPeerConnection, RTCRtpReceiver, RTCRtpSender, RTCSessionDescription
from aiortc.rtcdtlstransport import RTCDtlsTransport, RtpRouter
from aiortc.rtp import HeaderExtensionsMap, RtpPacket
from sfu_clients import NumberedVideoTrack, requires_network, wait_for

from media_server import aiortc_internals as internals


def params(function: object) -> list[str]:
    assert callable(function)
    return list(inspect.signature(function).parameters)


def source(function: object) -> str:
    assert callable(function)
    return inspect.getsource(function)


def test_aiortc_version_is_the_checked_one() -> None:
    assert aiortc.__version__.startswith("1.16."), aiortc.__version__


def test_method_signatures() -> None:
    assert params(RTCRtpReceiver._handle_rtp_packet) == ["self", "packet", "arrival_time_ms"]
    assert params(RTCRtpReceiver.receive) == ["self", "parameters"]
    assert params(RTCRtpReceiver._send_rtcp_pli) == ["self", "media_ssrc"]
    assert params(RTCRtpSender._retransmit) == ["self", "sequence_number"]
    assert params(RTCRtpSender._send_keyframe) == ["self"]
    assert params(RTCDtlsTransport._send_rtp) == ["self", "data"]
    assert params(RTCDtlsTransport._get_stats) == ["self"]
    assert params(aiortc.rtcrtpreceiver.decoder_worker) == [
        "loop",
        "input_q",
        "output_q",
        "decode_error",
    ]
    assert "ssrc_table" in source(RtpRouter.__init__)


def test_call_sites_the_hooks_rely_on() -> None:
    # the transport calls the (instance-overridable) hook with this keyword
    assert "receiver._handle_rtp_packet(packet, arrival_time_ms=arrival_time_ms)" in source(
        RTCDtlsTransport._handle_rtp_data
    )
    # the decoder thread reads the queue the receiver holds when it starts
    receive = source(RTCRtpReceiver.receive)
    assert "self.__decoder_queue" in receive and "decoder_worker" in receive
    assert "self.__decoder_queue.put(None)" in inspect.getsource(RTCRtpReceiver)
    # without a decoder thread, no encoded frame is queued and stop() sends nothing
    assert "if encoded_frame is not None and self.__decoder_thread:" in source(
        RTCRtpReceiver._handle_rtp_packet
    )
    assert "self.__decoder_thread = threading.Thread(" in receive
    # RTX SSRCs come from the encodings, and are not routed by aiortc itself
    assert "self.__rtx_ssrc[encoding.rtx.ssrc] = encoding.ssrc" in receive
    # subscriber feedback reaches the sender through these two methods
    handle = source(RTCRtpSender._handle_rtcp_packet)
    assert "await self._retransmit(seq)" in handle
    assert "self._send_keyframe()" in handle
    # sender reports are built from the counters note_rtp_sent keeps current
    rtcp = source(RTCRtpSender._run_rtcp)
    for name in ("ntp_timestamp", "rtp_timestamp", "packet_count", "octet_count"):
        assert f"self.__{name}" in rtcp
    # accept_red: an answer is written from, and a receiver started with, the
    # transceiver's negotiated codecs, which each description sets afresh
    assert "codecs=transceiver._codecs" in inspect.getsource(RTCPeerConnection)
    assert "transceiver._codecs = common" in source(RTCPeerConnection.setRemoteDescription)


async def test_private_attributes_exist_with_their_types() -> None:
    pc = RTCPeerConnection()
    try:
        transceiver = pc.addTransceiver("video")
        receiver, sender = transceiver.receiver, transceiver.sender
        assert isinstance(getattr(receiver, internals.RECEIVER_DECODER_QUEUE), queue.Queue)
        assert getattr(receiver, internals.RECEIVER_DECODER_THREAD) is None  # until receive()
        assert isinstance(getattr(receiver, internals.RECEIVER_CODECS), dict)
        assert isinstance(getattr(receiver, internals.RECEIVER_RTX_SSRC), dict)
        for name in (
            internals.SENDER_NTP_TIMESTAMP,
            internals.SENDER_RTP_TIMESTAMP,
            internals.SENDER_OCTET_COUNT,
            internals.SENDER_PACKET_COUNT,
        ):
            assert isinstance(sender.__dict__[name], int), name
        assert isinstance(sender._ssrc, int)
        assert isinstance(sender._stream_id, str)
        assert isinstance(transceiver._codecs, list)
        assert isinstance(transceiver._headerExtensions, list)
        assert internals.negotiated_header_extensions(transceiver) == {}
        transport = sender.transport
        assert isinstance(transport._rtp_header_extensions_map, HeaderExtensionsMap)
        assert isinstance(transport._rtp_router.ssrc_table, dict)
        assert internals.transport_packets_received(transport) == 0
        internals.note_rtp_sent(sender, rtp_timestamp=1234, payload_size=100)
        assert sender.__dict__[internals.SENDER_PACKET_COUNT] == 1
        assert sender.__dict__[internals.SENDER_OCTET_COUNT] == 100
        assert sender.__dict__[internals.SENDER_RTP_TIMESTAMP] == 1234
    finally:
        await pc.close()


@requires_network
@pytest.mark.timeout(30)
async def test_hooked_receiver_forwards_and_does_not_decode() -> None:
    client, server = RTCPeerConnection(), RTCPeerConnection()
    packets: list[RtpPacket] = []
    keyframe_requests: list[int] = []

    async def hook(packet: RtpPacket) -> None:
        packets.append(packet)
        if len(packets) == 5:
            raise RuntimeError("a failing hook must not stop the media")

    try:
        client_sender = client.addTransceiver(NumberedVideoTrack(), direction="sendonly").sender
        await client.setLocalDescription(await client.createOffer())
        await server.setRemoteDescription(client.localDescription)
        receiver = server.getTransceivers()[0].receiver
        internals.install_receive_hook(receiver, hook)
        await server.setLocalDescription(await server.createAnswer())
        await client.setRemoteDescription(
            RTCSessionDescription(server.localDescription.sdp, "answer")
        )
        await wait_for(lambda: len(packets) > 60, what="packets at the hook")
        assert internals.receiver_codecs(receiver)
        extensions = internals.negotiated_header_extensions(server.getTransceivers()[0])
        assert extensions["urn:ietf:params:rtp-hdrext:sdes:mid"] == 1
        # aiortc's own handling still runs: the server receiver sends reports
        await wait_for(
            lambda: internals.transport_packets_received(client_sender.transport) > 0,
            what="RTCP from the hooked receiver",
        )
        # nothing was decoded and no decoder thread is left
        assert getattr(receiver, internals.RECEIVER_DECODER_THREAD) is None
        assert not [t for t in threading.enumerate() if t.name == "video-decoder"]
        ssrc = packets[0].ssrc
        # a PLI sent by the SFU's receiver reaches the publisher's sender hook
        internals.install_send_hooks(
            client_sender, lambda seq: asyncio.sleep(0), lambda: keyframe_requests.append(1)
        )
        await internals.send_pli(receiver, ssrc)
        await wait_for(lambda: bool(keyframe_requests), what="PLI at the sender hook")
        # hooked again (a new producer on the same section): the new hook replaces
        # the old one, which sees nothing more
        later: list[RtpPacket] = []

        async def new_hook(packet: RtpPacket) -> None:
            later.append(packet)

        internals.install_receive_hook(receiver, new_hook)
        seen = len(packets)
        await wait_for(lambda: len(later) > 30, what="packets at the new hook")
        assert len(packets) - seen <= 1  # at most one in flight while swapping
    finally:
        await client.close()
        await server.close()


def test_opus_parameters_are_shared_with_the_capabilities() -> None:
    """declare_opus_fec_and_dtx edits aiortc's codec table in place; capabilities
    and codec preferences must see the same parameters, or filtering drops Opus."""
    from aiortc.codecs import CODECS

    internals.declare_opus_fec_and_dtx(111)
    (opus,) = [c for c in CODECS["audio"] if c.mimeType.lower() == "audio/opus"]
    assert opus.parameters == internals.OPUS_PARAMETERS
    (capability,) = [
        c for c in RTCRtpSender.getCapabilities("audio").codecs if c.mimeType == "audio/opus"
    ]
    assert capability.parameters is opus.parameters
