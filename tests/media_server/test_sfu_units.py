"""The media plane's pure parts: rewriting, keyframe detection, speaker detection, WHEP choice."""

import itertools
from dataclasses import dataclass, field

import pytest
from aiortc.rtcrtpparameters import (
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpParameters,
)
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media_server.active_speaker import ActiveSpeakerDetector
from media_server.errors import BadSdp, InvalidState
from media_server.keyframe import is_h264_keyframe_start, is_keyframe_start, is_vp8_keyframe_start
from media_server.permissions import TrackSource
from media_server.playback import choose_playback
from media_server.rewriter import RtpRewriter, seq_newer
from media_server.rtp_writer import ABS_SEND_TIME_URI, AUDIO_LEVEL_URI, MID_URI, RtpWriter
from media_server.sdp_guard import OfferedMedia


def test_seq_newer_wraps() -> None:
    assert seq_newer(1, 0) and seq_newer(0, 65535) and not seq_newer(65535, 0)
    assert not seq_newer(5, 5)


def test_rewriter_keeps_gaps_and_places_late_packets() -> None:
    rw = RtpRewriter(90000)
    first = rw.rewrite(1000, 5000, now=0.0)
    assert first is not None
    seq0, ts0 = first
    assert rw.rewrite(1002, 8000, now=0.1) == ((seq0 + 2) & 0xFFFF, ts0 + 3000)
    # a retransmission of the hole lands in the hole
    assert rw.rewrite(1001, 5000, now=0.2) == ((seq0 + 1) & 0xFFFF, ts0)
    # older than the segment: useless to the subscriber
    assert rw.rewrite(999, 2000, now=0.2) is None


def test_rewriter_continues_after_a_pause() -> None:
    rw = RtpRewriter(90000)
    out: list[tuple[int, int]] = []
    for seq in range(65530, 65536):
        mapped = rw.rewrite(seq, seq * 3000, now=seq / 30)
        assert mapped is not None
        out.append(mapped)
    last_seq, last_ts = out[-1]
    rw.resync()
    # the producer moved on while paused: 2 s later, far away in its numbering
    resumed = rw.rewrite(300, 12345, now=65535 / 30 + 2.0)
    assert resumed == ((last_seq + 1) & 0xFFFF, (last_ts + 180000) & 0xFFFFFFFF)
    following = rw.rewrite(301, 12345 + 3000, now=65535 / 30 + 2.1)
    assert following == ((last_seq + 2) & 0xFFFF, (last_ts + 183000) & 0xFFFFFFFF)
    # sequence numbers on the leg never jumped
    seqs = [s for s, _ in [*out, resumed, following]]
    assert all(((b - a) & 0xFFFF) == 1 for a, b in itertools.pairwise(seqs))


def test_vp8_keyframe_detection() -> None:
    # descriptor S=1 PID=0, no extension; frame tag P=0 (keyframe) / P=1 (delta)
    assert is_vp8_keyframe_start(bytes([0x10, 0x00, 0x00, 0x9D]))
    assert not is_vp8_keyframe_start(bytes([0x10, 0x01, 0x00, 0x9D]))
    # not the start of a frame
    assert not is_vp8_keyframe_start(bytes([0x00, 0x00, 0x00]))
    # extended descriptor with a 15-bit picture id, as aiortc sends
    assert is_vp8_keyframe_start(bytes([0x90, 0x80, 0x80, 0x01, 0x00]))
    assert not is_vp8_keyframe_start(bytes([0x90, 0x80, 0x80, 0x01, 0x01]))
    # truncated input is not a keyframe, and does not raise
    assert not is_vp8_keyframe_start(bytes([0x90, 0x80]))
    assert not is_vp8_keyframe_start(b"")
    assert is_keyframe_start("VP8", bytes([0x10, 0x00]))
    assert not is_keyframe_start("opus", bytes([0x10, 0x00]))


def test_h264_keyframe_detection() -> None:
    assert is_h264_keyframe_start(bytes([0x67, 0x42]))  # SPS
    assert is_h264_keyframe_start(bytes([0x65, 0x88]))  # IDR slice
    assert not is_h264_keyframe_start(bytes([0x41, 0x9A]))  # non-IDR slice
    stap_a = bytes([0x78, 0x00, 0x02, 0x67, 0x42, 0x00, 0x02, 0x68, 0xCE])
    assert is_h264_keyframe_start(stap_a)
    assert is_h264_keyframe_start(bytes([0x7C, 0x85, 0x00]))  # FU-A start of IDR
    assert not is_h264_keyframe_start(bytes([0x7C, 0x05, 0x00]))  # FU-A middle of IDR
    assert not is_h264_keyframe_start(bytes([0x78, 0xFF]))
    assert is_keyframe_start("H264", bytes([0x65]))


def test_active_speaker_needs_to_hold_and_falls_silent() -> None:
    detector = ActiveSpeakerDetector(hold=2, silence=3)
    assert not detector.update({"a": 30, "b": 127})
    assert detector.update({"a": 30, "b": 127}) and detector.speaker == "a"
    # one loud interval of b (a cough) does not switch
    assert not detector.update({"a": 40, "b": 20})
    assert not detector.update({"a": 30, "b": 127})
    assert detector.speaker == "a"
    # b talks for two intervals: switch
    detector.update({"a": 50, "b": 20})
    assert detector.update({"a": 50, "b": 20}) and detector.speaker == "b"
    # silence (all quieter than -60 dBov) for 3 intervals: nobody
    assert not detector.update({"a": 100, "b": 127})
    assert not detector.update({})
    assert detector.update({"a": 127}) and detector.speaker is None


def test_rtp_writer_writes_what_aiortc_would() -> None:
    ids = {MID_URI: 1, AUDIO_LEVEL_URI: 2, ABS_SEND_TIME_URI: 3}
    extensions_map = HeaderExtensionsMap()
    extensions_map.configure(
        RTCRtpParameters(
            headerExtensions=[RTCRtpHeaderExtensionParameters(id=i, uri=u) for u, i in ids.items()]
        )
    )
    writer = RtpWriter(ssrc=0x11223344, mid="7", extension_ids=ids)
    for audio_level, marker in (((True, 42), 0), (None, 1)):
        packet = RtpPacket(payload_type=111, marker=marker, payload=b"\x01\x02\x03payload")
        packet.extensions.audio_level = audio_level
        data = writer.write(packet, 96, 65535, 0xFFFFFFFF, 0x123456)

        reference = RtpPacket(
            payload_type=96,
            marker=marker,
            sequence_number=65535,
            timestamp=0xFFFFFFFF,
            ssrc=0x11223344,
            payload=packet.payload,
        )
        reference.extensions.mid = "7"
        reference.extensions.abs_send_time = 0x123456
        reference.extensions.audio_level = audio_level
        assert data == reference.serialize(extensions_map)

    packet = RtpPacket(payload=b"")
    packet.padding_size = 200
    parsed = RtpPacket.parse(writer.write(packet, 97, 1, 2, None), extensions_map)
    assert (parsed.payload, parsed.padding_size, parsed.extensions.mid) == (b"", 200, "7")
    bare = RtpPacket.parse(RtpWriter(5, None, {}).write(packet, 97, 1, 2, 3))
    assert (bare.ssrc, bare.payload_type, bare.sequence_number, bare.timestamp) == (5, 97, 1, 2)


@dataclass
class FakeProducer:
    id: str
    source: TrackSource
    mime_types: tuple[str, ...] = ()
    peer_id: str = field(init=False)
    kind: str = field(init=False)
    codecs: list[RTCRtpCodecParameters] = field(init=False)

    def __post_init__(self) -> None:
        self.peer_id = self.id.split(":")[0]
        self.kind = "audio" if self.source is TrackSource.MICROPHONE else "video"
        default = ("audio/opus",) if self.kind == "audio" else ("video/VP8",)
        self.codecs = [
            RTCRtpCodecParameters(mimeType=m, clockRate=48000 if self.kind == "audio" else 90000)
            for m in self.mime_types or default
        ]


def section(mid: str, kind: str, direction: str = "recvonly", *codecs: str) -> OfferedMedia:
    default = ("audio/opus",) if kind == "audio" else ("video/vp8", "video/h264")
    return OfferedMedia(mid, kind, direction, 9, frozenset(codecs or default))


def test_whep_choice_defaults_to_microphones_then_cameras_then_screens() -> None:
    screen = FakeProducer("a:0", TrackSource.SCREEN)
    cam_b = FakeProducer("b:1", TrackSource.CAMERA)
    mic_b = FakeProducer("b:0", TrackSource.MICROPHONE)
    cam_c = FakeProducer("c:0", TrackSource.CAMERA, ("video/H264",))
    room = [screen, mic_b, cam_b, cam_c]
    offer = [section("0", "audio"), section("1", "video")]
    assert choose_playback(offer, room, "viewer") == {"0": mic_b, "1": cam_b}
    # more video sections: the next camera, then the screen; sendonly/inactive ones carry nothing
    offer = [
        section("0", "video"),
        section("1", "video", "sendonly"),
        section("2", "video", "sendrecv"),
        section("3", "video", "inactive"),
        section("4", "video"),
        section("5", "video"),
    ]
    assert choose_playback(offer, room, "viewer") == {"0": cam_b, "2": cam_c, "4": screen}
    # a section takes what it can decode: the H.264 camera, skipping the VP8 one
    assert choose_playback([section("0", "video", "recvonly", "video/h264")], room, "x") == {
        "0": cam_c
    }
    # a peer does not see itself
    assert choose_playback([section("0", "video")], room, "b") == {"0": cam_c}


def test_whep_choice_of_named_producers() -> None:
    screen = FakeProducer("a:0", TrackSource.SCREEN)
    cam = FakeProducer("b:1", TrackSource.CAMERA)
    offer = [section("0", "audio"), section("1", "video"), section("2", "video")]
    # the caller's order, whatever the sources
    assert choose_playback(offer, [screen, cam], "viewer", named=True) == {
        "1": screen,
        "2": cam,
    }
    with pytest.raises(BadSdp, match="b:1"):
        choose_playback(offer[:2], [screen, cam], "viewer", named=True)
    with pytest.raises(InvalidState):
        choose_playback(offer, [cam], "b", named=True)
