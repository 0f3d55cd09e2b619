"""Keyframe detection in RTP payloads, without depacketizing.

A consumer that starts or resumes forwarding video must begin at the
first packet of a keyframe, or the subscriber's decoder sees references
to pictures it never had.
"""


def _vp8_frame_start(payload: bytes) -> int | None:
    """Where the VP8 frame of `payload` (RFC 7741) starts, if it is the first
    packet of a frame; None otherwise."""
    if not payload:
        return None
    first = payload[0]
    # S bit set and partition index 0: the start of a frame
    if not (first & 0x10) or (first & 0x07):
        return None
    pos = 1
    if first & 0x80:
        if len(payload) <= pos:
            return None
        ext = payload[pos]
        pos += 1
        if ext & 0x80:  # I: picture id, one or two bytes
            if len(payload) <= pos:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/KEYIDX
            pos += 1
    if len(payload) <= pos:
        return None
    return pos


def is_vp8_keyframe_start(payload: bytes) -> bool:
    """Whether `payload` (RFC 7741) is the first packet of a VP8 keyframe."""
    pos = _vp8_frame_start(payload)
    # the P bit of the VP8 frame tag is 0 for a keyframe
    return pos is not None and not (payload[pos] & 0x01)


def vp8_keyframe_width(payload: bytes) -> int | None:
    """The picture width of the VP8 keyframe `payload` starts (RFC 6386 9.1:
    a 3-byte frame tag, the start code 9d 01 2a, then 14 bits of width)."""
    pos = _vp8_frame_start(payload)
    if pos is None or payload[pos] & 0x01 or len(payload) < pos + 8:
        return None
    if payload[pos + 3 : pos + 6] != b"\x9d\x01\x2a":
        return None
    return int.from_bytes(payload[pos + 6 : pos + 8], "little") & 0x3FFF


_H264_IDR = 5
_H264_SPS = 7
_H264_STAP_A = 24
_H264_FU_A = 28


def is_h264_keyframe_start(payload: bytes) -> bool:
    """Whether `payload` (RFC 6184) starts an H.264 keyframe (SPS or IDR)."""
    if not payload:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in (_H264_IDR, _H264_SPS):
        return True
    if nal_type == _H264_STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = (payload[pos] << 8) | payload[pos + 1]
            if payload[pos + 2] & 0x1F in (_H264_IDR, _H264_SPS):
                return True
            pos += 2 + size
        return False
    if nal_type == _H264_FU_A and len(payload) >= 2:
        start = payload[1] & 0x80
        return bool(start) and (payload[1] & 0x1F) in (_H264_IDR, _H264_SPS)
    return False


def is_keyframe_start(codec_name: str, payload: bytes) -> bool:
    """Dispatch on the codec name as aiortc spells it ("VP8", "H264")."""
    if codec_name == "VP8":
        return is_vp8_keyframe_start(payload)
    if codec_name == "H264":
        return is_h264_keyframe_start(payload)
    return False
