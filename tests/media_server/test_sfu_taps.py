"""Taps see a producer's packets as they arrive; a failing tap disturbs nothing."""

import pytest
from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket
from sfu_clients import Harness, NumberedVideoTrack, requires_network, wait_for

from media_server.events import ProducerAdded

pytestmark = [requires_network, pytest.mark.timeout(60)]


async def test_a_raising_tap_does_not_stop_forwarding_or_other_taps(harness: Harness) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    bob = await harness.join("r", "bob")
    await alice.publish(NumberedVideoTrack(base=0))
    await wait_for(lambda: any(isinstance(e, ProducerAdded) for e in harness.events))
    producer_id = next(e.producer_id for e in harness.events if isinstance(e, ProducerAdded))

    seen: list[tuple[int, str]] = []

    def broken(packet: RtpPacket, codec: RTCRtpCodecParameters, arrival: float) -> None:
        raise RuntimeError("recorder bug")

    def counting(packet: RtpPacket, codec: RTCRtpCodecParameters, arrival: float) -> None:
        seen.append((packet.sequence_number, codec.name))

    await harness.server.add_tap("r", producer_id, broken)
    await harness.server.add_tap("r", producer_id, counting)

    def bob_sees_video() -> bool:
        return any(len(r.numbers) >= 30 for r in bob.received.values())

    await wait_for(bob_sees_video, timeout=15, what="30 frames at bob despite the broken tap")
    assert len(seen) >= 30 and {name for _, name in seen} == {"VP8"}

    await harness.server.remove_tap("r", producer_id, counting)
    count = len(seen)
    frames = max(len(r.numbers) for r in bob.received.values())
    await wait_for(
        lambda: max(len(r.numbers) for r in bob.received.values()) >= frames + 10,
        what="more frames after the tap was removed",
    )
    assert len(seen) == count
