"""The image size a compressed frame declares in its own header.

Decoders size their output from the codestream, not from DICOM's Rows and
Columns: a 150 KB JPEG 2000 frame of a 512x512 CT whose SIZ marker says
20000x20000 made the trial decode take 3.5 s and 1.5 GB. PS3.5 8.2 requires
the two to agree, so each frame's header is read (a few bytes, no decoding)
and compared before any decoder sees it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from pydicom import uid

# start-of-frame markers (ITU T.81 B.1.1.3; 0xF7 is JPEG-LS SOF55, T.87);
# 0xC4 (DHT), 0xC8 (JPG) and 0xCC (DAC) share the range but are not frames
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF,
                  0xF7})  # fmt: skip
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})  # TEM, RSTn, SOI: no length
_SOS = 0xDA
_J2K_START = b"\xff\x4f\xff\x51"  # SOC then SIZ
_JP2_SIGNATURE = b"jP  "

_JPEG = frozenset(
    {
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLossless,
        uid.JPEGLosslessSV1,
        uid.JPEGLSLossless,
        uid.JPEGLSNearLossless,
    }
)
_J2K = frozenset(
    {
        uid.JPEG2000Lossless,
        uid.JPEG2000,
        uid.JPEG2000MCLossless,
        uid.JPEG2000MC,
        uid.HTJ2KLossless,
        uid.HTJ2KLosslessRPCL,
        uid.HTJ2K,
    }
)


@dataclass(frozen=True, slots=True)
class FrameSize:
    rows: int
    columns: int
    components: int


def has_size_header(transfer_syntax: str) -> bool:
    """Whether frames of this transfer syntax carry a header read here."""
    return transfer_syntax in _JPEG or transfer_syntax in _J2K


def frame_size(transfer_syntax: str, frame: bytes) -> FrameSize | None:
    """The size ``frame`` declares, or ``None`` if it has no header of the
    kind its transfer syntax promises."""
    if transfer_syntax in _J2K:
        return _j2k_size(frame)
    if transfer_syntax in _JPEG:
        return _jpeg_size(frame)
    return None


def _jpeg_size(frame: bytes) -> FrameSize | None:
    if frame[:2] != b"\xff\xd8":
        return None
    pos = 2
    while pos + 4 <= len(frame):
        if frame[pos] != 0xFF:
            return None
        marker = frame[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in _STANDALONE:
            pos += 2
            continue
        if marker == _SOS:
            return None  # scan data before any frame header
        (length,) = struct.unpack_from(">H", frame, pos + 2)
        if marker in _SOF:
            if pos + 10 > len(frame):
                return None
            rows, columns = struct.unpack_from(">HH", frame, pos + 5)
            return FrameSize(rows, columns, frame[pos + 9])
        pos += 2 + length
    return None


def _j2k_size(frame: bytes) -> FrameSize | None:
    start = 0
    if frame[4:8] == _JP2_SIGNATURE:
        found = _jp2_codestream(frame)
        if found is None:
            return None
        start = found
    if frame[start : start + 4] != _J2K_START or start + 42 > len(frame):
        return None
    x, y, x_offset, y_offset = struct.unpack_from(">IIII", frame, start + 8)
    (components,) = struct.unpack_from(">H", frame, start + 40)
    return FrameSize(y - y_offset, x - x_offset, components)


def _jp2_codestream(frame: bytes) -> int | None:
    """Where the contiguous codestream box's content starts in a JP2 file."""
    pos = 0
    while pos + 8 <= len(frame):
        length, kind = struct.unpack_from(">I4s", frame, pos)
        header = 8
        if length == 1:
            if pos + 16 > len(frame):
                return None
            (length,) = struct.unpack_from(">Q", frame, pos + 8)
            header = 16
        if kind == b"jp2c":
            return pos + header
        if length < header:  # 0: to the end of the file, and not the codestream
            return None
        pos += length
    return None


__all__ = ["FrameSize", "frame_size", "has_size_header"]
