"""Hostile but well-formed-looking DICOM files, built from real test files.

Each is built with pydicom and zlib in bounded memory, so a test can make a
500 MB deflate bomb without holding 500 MB. Run as a script, it times
``validate`` on the bomb and prints JSON (for a clean RSS measurement).
"""

from __future__ import annotations

import json
import resource
import struct
import sys
import time
import zlib
from io import BytesIO
from pathlib import Path

from pydicom import dcmread, uid
from pydicom.data import get_testdata_file
from pydicom.dataset import FileDataset
from pydicom.encaps import encapsulate, generate_frames
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset, write_file_meta_info

_PREAMBLE = b"\0" * 128 + b"DICM"
_CREATOR = struct.pack("<HH2sH", 0x7FE1, 0x0010, b"LO", 16) + b"TELEHEALTH TEST "


def _path(name: str) -> str:
    found = get_testdata_file(name, download=False)
    assert found is not None, f"{name} is not installed"
    return str(found)


def _explicit_le() -> DicomBytesIO:
    buffer = DicomBytesIO()
    buffer.is_little_endian = True
    buffer.is_implicit_VR = False
    return buffer


def deflate_bomb(inflated_bytes: int) -> bytes:
    """pydicom's real deflated image with a private OB element of
    ``inflated_bytes`` zeros after its pixel data, deflated (level 9)."""
    ds = dcmread(_path("image_dfl.dcm"))
    body = _explicit_le()
    write_dataset(body, ds)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [deflater.compress(body.getvalue() + _CREATOR)]
    parts.append(
        deflater.compress(struct.pack("<HH2sHI", 0x7FE1, 0x1010, b"OB", 0, inflated_bytes))
    )
    step = bytes(1 << 20)
    for _ in range(inflated_bytes // len(step)):
        parts.append(deflater.compress(step))
    parts.append(deflater.compress(bytes(inflated_bytes % len(step))))
    parts.append(deflater.flush())
    meta = _explicit_le()
    ds.file_meta.TransferSyntaxUID = uid.DeflatedExplicitVRLittleEndian
    write_file_meta_info(meta, ds.file_meta)
    return _PREAMBLE + meta.getvalue() + b"".join(parts)


def _with_private_sequence(content: bytes) -> bytes:
    """CT_small.dcm with ``content`` as a private element placed before its
    trailing padding (the last element)."""
    data = Path(_path("CT_small.dcm")).read_bytes()
    padding = data.rfind(struct.pack("<HH", 0xFFFC, 0xFFFC))
    return data[:padding] + _CREATOR + content + data[padding:]


def many_items(count: int) -> bytes:
    """A CT with an undefined-length private sequence of ``count`` empty items."""
    items = struct.pack("<HHI", 0xFFFE, 0xE000, 0) * count
    return _with_private_sequence(
        struct.pack("<HH2sHI", 0x7FE1, 0x1001, b"SQ", 0, 0xFFFFFFFF)
        + items
        + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    )


def nested_sequences(depth: int) -> bytes:
    """A CT with private sequences nested ``depth`` deep (undefined lengths)."""
    open_one = struct.pack("<HH2sHI", 0x7FE1, 0x1001, b"SQ", 0, 0xFFFFFFFF) + struct.pack(
        "<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF
    )
    close_one = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    return _with_private_sequence(open_one * depth + close_one * depth)


def _frames(name: str) -> tuple[FileDataset, list[bytearray]]:
    ds = dcmread(_path(name))
    count = int(ds.get("NumberOfFrames", 1))
    return ds, [bytearray(f) for f in generate_frames(ds.PixelData, number_of_frames=count)]


def _encoded(ds: FileDataset, frames: list[bytearray]) -> bytes:
    ds.PixelData = encapsulate([bytes(f) for f in frames])
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def j2k_declaring(rows: int, columns: int) -> bytes:
    """The 512x512 JPEG 2000 CT whose frame's SIZ marker declares
    ``rows`` x ``columns`` in one tile (a decompression bomb for openjpeg)."""
    ds, frames = _frames("693_J2KR.dcm")
    siz = frames[0].find(b"\xff\x51")
    struct.pack_into(">II", frames[0], siz + 6, columns, rows)  # Xsiz, Ysiz
    struct.pack_into(">II", frames[0], siz + 22, columns, rows)  # XTsiz, YTsiz
    return _encoded(ds, frames)


def jpeg_frame_declaring(frame: int, rows: int, columns: int) -> bytes:
    """The 30-frame JPEG ultrasound loop with one frame's SOF0 changed."""
    ds, frames = _frames("examples_ybr_color.dcm")
    sof = frames[frame].find(b"\xff\xc0")
    struct.pack_into(">HH", frames[frame], sof + 5, rows, columns)
    return _encoded(ds, frames)


def _measure_bomb() -> None:
    from dicom_viewer.validate import Refused, validate

    data = deflate_bomb(int(sys.argv[1]))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    result = validate(data)
    seconds = time.perf_counter() - started
    growth_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    reason = result.reason if isinstance(result, Refused) else None
    print(json.dumps({"bytes": len(data), "seconds": seconds, "rss_growth_kib": growth_kib,
                      "refused": reason}))  # fmt: skip


if __name__ == "__main__":
    _measure_bomb()
