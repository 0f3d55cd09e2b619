"""RTP payloads back into frames: VP8 descriptors, reordering, loss, wrap-around."""

from aiortc.codecs.vpx import VpxPayloadDescriptor

from recordings.depacketizer import EncodedFrame, for_codec


def vp8_packets(frame: bytes, picture_id: int, size: int = 4) -> list[bytes]:
    """Split `frame` as a sender does, with a full descriptor on every packet."""
    chunks = [frame[i : i + size] for i in range(0, len(frame), size)]
    return [
        bytes(
            VpxPayloadDescriptor(
                partition_start=int(i == 0),
                partition_id=0,
                picture_id=picture_id,
                tl0picidx=5,
                tid=(0, 1),
                keyidx=2,
            )
        )
        + chunk
        for i, chunk in enumerate(chunks)
    ]


KEY = bytes([0x10, 0x02, 0x00, 0x9D, 0x01, 0x2A, 0x40, 0x01, 0xF0, 0x00]) + b"key-data"
DELTA = bytes([0x01]) + b"delta-frame-data"


def feed(packets: list[tuple[int, int, bool, bytes]]) -> list[EncodedFrame]:
    depacketizer = for_codec("VP8", 90000)
    assert depacketizer is not None
    frames = []
    for seq, ts, marker, payload in packets:
        frames += depacketizer.push(seq, ts, marker, payload)
    return frames


def rtp(first_seq: int, ts: int, payloads: list[bytes]) -> list[tuple[int, int, bool, bytes]]:
    last = len(payloads) - 1
    return [((first_seq + i) & 0xFFFF, ts, i == last, p) for i, p in enumerate(payloads)]


def test_frames_come_back_whole_in_order_across_wrap_and_reordering() -> None:
    first = rtp(65533, 0xFFFFFF00, vp8_packets(KEY, 200))  # sequence numbers wrap inside
    second = rtp((65533 + len(first)) & 0xFFFF, 0xFFFFFF00 + 3000, vp8_packets(DELTA, 201))
    packets = first + second
    packets[1], packets[2] = packets[2], packets[1]
    packets[-1], packets[-2] = packets[-2], packets[-1]
    frames = feed(packets)
    assert [(f.data, f.keyframe) for f in frames] == [(KEY, True), (DELTA, False)]
    assert frames[1].timestamp - frames[0].timestamp == 3000  # timestamps unwrapped


def test_a_frame_missing_a_packet_is_given_up_after_a_newer_one_and_counted() -> None:
    depacketizer = for_codec("VP8", 90000)
    assert depacketizer is not None
    lost = rtp(100, 0, vp8_packets(DELTA, 1))
    del lost[1]
    out = []
    for packet in lost + rtp(110, 3000, vp8_packets(DELTA, 2)):
        out += depacketizer.push(*packet)
    assert out == [] and depacketizer.gaps == 0  # still waiting for the retransmission
    for packet in rtp(120, 3000 + 90000, vp8_packets(KEY, 3)):
        out += depacketizer.push(*packet)
    assert [f.timestamp for f in out] == [3000, 93000]
    assert depacketizer.gaps == 1
    assert depacketizer.push(101, 0, False, vp8_packets(DELTA, 1)[1]) == []  # too late


def test_opus_packets_are_frames() -> None:
    depacketizer = for_codec("opus", 48000)
    assert depacketizer is not None
    assert depacketizer.push(1, 960, False, b"abc") == [EncodedFrame(960, b"abc", True)]
    assert depacketizer.push(1, 960, False, b"abc") == []  # a duplicate
    assert for_codec("AV1", 90000) is None
