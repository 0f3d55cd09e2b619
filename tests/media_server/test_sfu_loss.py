"""Loss on the publisher's leg is repaired (NACK, RTX unwrapped) before subscribers see it."""

import logging

import pytest
from aiortc import RTCPeerConnection
from aiortc.rtp import RtpPacket, wrap_rtx
from sfu_clients import (
    EncodedVideoTrack,
    Harness,
    LossyReceiver,
    LossyTransport,
    encode_numbered_clip,
    requires_network,
    wait_for,
)

pytestmark = [requires_network, pytest.mark.timeout(60)]

VP8_PAYLOAD_TYPE = 97  # aiortc's offer, kept by the server's answer


async def test_two_percent_loss_on_the_publisher_leg_still_decodes(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    clip = encode_numbered_clip(frames=300)
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    track = EncodedVideoTrack(clip)
    await alice.publish(track)
    lossy = LossyTransport(alice.publish_pc, VP8_PAYLOAD_TYPE, loss=0.02)

    await wait_for(lambda: lossy.sent >= 1000, timeout=20, what="1000 packets sent by alice")
    # let the last retransmissions and frames through
    sent_frames = track.index
    await wait_for(
        lambda: any(len(r.numbers) >= sent_frames - 5 for r in bob.received.values()),
        timeout=5,
        what="bob decoding what alice sent",
    )
    assert lossy.dropped >= 10
    (video,) = bob.received.values()
    numbers = [n for n, _ in video.numbers]
    # every frame arrived, in order, despite the loss: no gaps in the counter
    first = numbers[0]
    assert numbers == list(range(first, first + len(numbers)))
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    stats = await harness.server.stats("r")
    assert stats.producers[0].packets_received >= lossy.sent - lossy.dropped


async def test_loss_on_the_subscriber_leg_is_repaired_from_the_consumer_history(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    clip = encode_numbered_clip(frames=400)
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    track = EncodedVideoTrack(clip)
    await alice.publish(track)
    # media flows (DTLS is up) before the loss starts
    await wait_for(lambda: any(r.numbers for r in bob.received.values()), what="bob's video")
    assert bob.subscribe_pc is not None
    lossy = LossyReceiver(bob.subscribe_pc, loss=0.02, spare_retransmissions=True)

    try:
        await wait_for(lambda: lossy.received >= 800, timeout=20, what="800 packets at bob")
    except AssertionError as exc:
        stats = await harness.server.stats("r")
        raise AssertionError(
            f"{exc}: {lossy.received} received, {stats}, {harness.events[-3:]}"
        ) from None
    sent_frames = track.index
    await wait_for(
        lambda: any(len(r.numbers) >= sent_frames - 5 for r in bob.received.values()),
        timeout=5,
        what="bob decoding what alice sent",
    )
    assert lossy.dropped >= 8
    (video,) = bob.received.values()
    numbers = [n for n, _ in video.numbers]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    (consumer,) = (await harness.server.stats("r")).consumers
    assert consumer.packets_retransmitted >= lossy.dropped // 2
    assert lossy.spared >= lossy.dropped // 2  # repairs, each let through


class PaddingCopies:
    """Sends a copy of each video packet on the RTX stream as well, as a browser
    pads up to its estimate with copies of what it sent ("payload padding").

    Test-only: wraps the client's DTLS transport `_send_rtp` (as LossyTransport).
    """

    def __init__(self, pc: RTCPeerConnection, payload_type: int) -> None:
        self.media = 0
        self.copies = 0
        transceiver = pc.getTransceivers()[0]
        transport = transceiver.sender.transport
        rtx = next(
            c
            for c in transceiver._codecs
            if c.mimeType.lower() == "video/rtx" and c.parameters.get("apt") == payload_type
        )
        rtx_ssrc = transceiver.sender._rtx_ssrc
        original = transport._send_rtp

        async def send_rtp(data: bytes) -> None:
            await original(data)
            if len(data) > 12 and data[1] & 0x7F == payload_type:
                self.media += 1
                copy = wrap_rtx(
                    RtpPacket.parse(data),
                    payload_type=rtx.payloadType,
                    sequence_number=self.copies,
                    ssrc=rtx_ssrc,
                )
                self.copies += 1
                await original(copy.serialize())

        transport._send_rtp = send_rtp  # type: ignore[method-assign]


async def test_a_browsers_padding_copies_are_not_forwarded(harness: Harness) -> None:
    """Unwrapped, a copy on RTX looks like a retransmission: forwarded, it doubled
    what a thin subscriber's link was sent (see media_server/duplicates.py)."""
    clip = encode_numbered_clip(frames=300)
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    track = EncodedVideoTrack(clip)
    await alice.publish(track)
    padding = PaddingCopies(alice.publish_pc, VP8_PAYLOAD_TYPE)
    await wait_for(lambda: padding.copies >= 500, timeout=20, what="500 copies sent by alice")
    await wait_for(
        lambda: any(len(r.numbers) >= 100 for r in bob.received.values()),
        timeout=10,
        what="bob decoding alice",
    )
    stats = await harness.server.stats("r")
    (consumed,) = [c for c in stats.consumers if c.subscriber_id == "bob"]
    (produced,) = stats.producers
    # each packet once (a few in flight when the stats were read); bob's leg
    # started some packets after alice's first
    assert 0.9 * padding.media <= produced.packets_received <= padding.media + 5, (
        produced,
        padding.media,
    )
    assert 0 < consumed.packets_sent <= produced.packets_received, (consumed, produced)
