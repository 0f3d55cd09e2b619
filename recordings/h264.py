"""The little of H.264 the recorder needs: frame starts, keyframes, parameter sets, size."""

from aiortc.codecs.h264 import H264PayloadDescriptor

STAP_A, FU_A = 24, 28
SLICE, IDR, SEI, SPS, PPS, AUD = 1, 5, 6, 7, 8, 9
START_CODE = b"\x00\x00\x00\x01"
# profiles whose SPS carries chroma format and bit depths (ITU-T H.264 7.3.2.1.1)
HIGH_PROFILES = {100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135}


def parse(payload: bytes) -> tuple[bool, bytes]:
    """(may start an access unit, Annex B data) of an RTP payload (RFC 6184)."""
    _, data = H264PayloadDescriptor.parse(payload)
    kind = payload[0] & 0x1F
    if kind == STAP_A:
        return True, data  # parameter sets, sent ahead of a picture
    if kind == FU_A:
        if not payload[1] & 0x80:
            return False, data
        kind, header = payload[1] & 0x1F, payload[2:3]
    else:
        header = payload[1:2]
    if kind in (SEI, SPS, PPS, AUD):
        return True, data
    # a picture's first slice has first_mb_in_slice = 0: ue(v) "1"
    return kind in (SLICE, IDR) and bool(header) and bool(header[0] & 0x80), data


def nal_units(annex_b: bytes) -> list[bytes]:
    return [n for n in annex_b.split(START_CODE) if n]


def is_keyframe(annex_b: bytes) -> bool:
    """An IDR picture with its parameter sets: a decoder (and a file) can start here."""
    kinds = {n[0] & 0x1F for n in nal_units(annex_b)}
    return {IDR, SPS, PPS} <= kinds


def parameter_sets(annex_b: bytes) -> bytes:
    """SPS and PPS as Annex B, for the stream's extradata."""
    return b"".join(START_CODE + n for n in nal_units(annex_b) if n[0] & 0x1F in (SPS, PPS))


class _Bits:
    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def bit(self) -> int:
        byte = self._data[self._pos >> 3]
        value = (byte >> (7 - (self._pos & 7))) & 1
        self._pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while not self.bit():
            zeros += 1
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def size(annex_b: bytes) -> tuple[int, int]:
    """Width and height from the SPS in `annex_b` (7.3.2.1.1, 7.4.2.1.1)."""
    sps = next(n for n in nal_units(annex_b) if n[0] & 0x1F == SPS)
    bits = _Bits(sps[1:].replace(b"\x00\x00\x03", b"\x00\x00"))
    profile = bits.bits(8)
    bits.bits(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in HIGH_PROFILES:
        chroma_format = bits.ue()
        if chroma_format == 3:
            bits.bit()
        bits.ue(), bits.ue(), bits.bit()  # bit depths, qpprime bypass
        if bits.bit():
            raise ValueError("SPS with scaling matrices is not supported")
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.bit(), bits.se(), bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue(), bits.bit()  # max_num_ref_frames, gaps allowed
    width = (bits.ue() + 1) * 16
    map_units = bits.ue() + 1
    frame_mbs_only = bits.bit()
    height = (2 - frame_mbs_only) * map_units * 16
    if not frame_mbs_only:
        bits.bit()
    bits.bit()  # direct_8x8_inference
    if bits.bit():  # cropping
        left, right, top, bottom = bits.ue(), bits.ue(), bits.ue(), bits.ue()
        unit_x = 1 if chroma_format in (0, 3) else 2
        unit_y = (2 - frame_mbs_only) * (2 if chroma_format == 1 else 1)
        width -= unit_x * (left + right)
        height -= unit_y * (top + bottom)
    return width, height
