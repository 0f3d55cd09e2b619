"""Bound the inflated size of deflated files before pydicom inflates them.

With Deflated Explicit VR Little Endian, pydicom inflates the whole data
set in memory as it reads. A few megabytes of zeros can inflate to
gigabytes, so the inflated size is measured first, in bounded chunks.
"""

from __future__ import annotations

import struct
import zlib

from pydicom import uid

_META_START = 132  # 128-byte preamble + "DICM"
# explicit VR elements whose length field is 4 bytes after 2 reserved ones
_LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR",
             b"UT", b"UV"}  # fmt: skip
_CHUNK = 1 << 20


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


def inflated_size_exceeds(data: bytes, limit: int) -> bool:
    """True if ``data`` is a deflated file whose data set inflates to more
    than ``limit`` bytes (or is not valid deflate data)."""
    start, transfer_syntax = file_meta_end(data)
    if transfer_syntax != uid.DeflatedExplicitVRLittleEndian:
        return False
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    pending = data[start:]
    try:
        while pending and not inflater.eof:
            total += len(inflater.decompress(pending, _CHUNK))
            if total > limit:
                return True
            pending = inflater.unconsumed_tail
        total += len(inflater.flush())
    except zlib.error:
        return False  # pydicom will fail on it and the file is refused then
    return total > limit
