"""Bound the inflated size of deflated files before pydicom inflates them.

With Deflated Explicit VR Little Endian, pydicom inflates the whole data
set in memory as it reads: 0.5 MB of deflated zeros becomes 500 MB. So the
data set is inflated here first, in bounded steps (64 KiB of input, at most
1 MiB of output at a time), and refused as soon as it passes its allowance:
a bomb costs the allowance, never its inflated size.
"""

from __future__ import annotations

import struct
import zlib

from pydicom import uid

_META_START = 132  # 128-byte preamble + "DICM"
# explicit VR elements whose length field is 4 bytes after 2 reserved ones
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}  # fmt: skip
_INPUT_STEP = 1 << 16
_OUTPUT_STEP = 1 << 20


class InflateProblem(ValueError):
    """The deflated data set must be refused; the message says why."""


def file_meta_end(data: bytes) -> tuple[int, str | None]:
    """Offset just after the file meta group (always explicit VR LE) and
    the transfer syntax it names, read without pydicom."""
    offset = _META_START
    transfer_syntax: str | None = None
    while offset + 8 <= len(data):
        group, element = struct.unpack_from("<HH", data, offset)
        if group != 0x0002:
            break
        vr = data[offset + 4 : offset + 6]
        if vr in _LONG_VRS:
            if offset + 12 > len(data):
                break
            (length,) = struct.unpack_from("<I", data, offset + 8)
            value_start = offset + 12
        else:
            (length,) = struct.unpack_from("<H", data, offset + 6)
            value_start = offset + 8
        if element == 0x0010:
            raw = data[value_start : value_start + length]
            transfer_syntax = raw.rstrip(b"\x00 ").decode("ascii", errors="replace")
        offset = value_start + length
    return offset, transfer_syntax


def is_deflated(transfer_syntax: str | None) -> bool:
    return transfer_syntax == uid.DeflatedExplicitVRLittleEndian


def inflate_bounded(data: bytes, start: int, limit: int) -> bytearray:
    """The data set deflated in ``data[start:]``, inflated; raise
    :class:`InflateProblem` once it passes ``limit`` bytes, or if the
    stream is corrupt or cut short. Memory: the output so far (at most
    ``limit``) plus one step."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    view = memoryview(data)
    try:
        for offset in range(start, len(data), _INPUT_STEP):
            pending: bytes | memoryview = view[offset : offset + _INPUT_STEP]
            while pending and not inflater.eof:
                out += inflater.decompress(pending, _OUTPUT_STEP)
                if len(out) > limit:
                    raise InflateProblem(f"the deflated file would inflate to over {limit} bytes")
                pending = inflater.unconsumed_tail
            if inflater.eof:
                break
        out += inflater.flush()
    except zlib.error as exc:
        raise InflateProblem(f"the deflated data set is corrupt ({exc})") from exc
    if len(out) > limit:
        raise InflateProblem(f"the deflated file would inflate to over {limit} bytes")
    if not inflater.eof:
        raise InflateProblem("the file is truncated: its deflated data set is cut short")
    return out


__all__ = ["InflateProblem", "file_meta_end", "inflate_bounded", "is_deflated"]
