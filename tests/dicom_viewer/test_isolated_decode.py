"""GDCM's C++ aborts cannot take the server down (found by `make fuzz`)."""

from __future__ import annotations

import resource
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from pydicom import dcmread, uid
from pydicom.pixels.decoders.base import get_decoder

from dicom_viewer import isolated_decode
from dicom_viewer.isolated_decode import WORKER_ADDRESS_SPACE, needs_gdcm
from dicom_viewer.render import decode_frame

# What the fuzzer changed in pydicom's SC_rgb_dcmtk_+eb+cy+s2.dcm (offset,
# bytes): a JPEG Baseline stream on which GDCM's codec throws a C++
# exception its binding does not catch, so the process aborted.
GDCM_ABORT_PATCH = (
    (1259, b","),
    (1893, b"atio 21.521 \x08\x00\x12!SQ"),
    (1913, b"\xc0"),
    (1917, b"\xfe\xff\x00\xe0\xb8\x00\x00\x00\x08\x00P\x11UI\x1a\x001.2.840.100"),
    (2711, b"\xfe\xff\x00\xe0"),
)

_VALIDATE_IN_CHILD = """
import sys
from dicom_viewer.validate import Refused, validate
result = validate(sys.stdin.buffer.read())
print(type(result).__name__, getattr(result, "reason", ""))
"""


def _patched(original: bytes) -> bytes:
    data = bytearray(original)
    for offset, replacement in GDCM_ABORT_PATCH:
        data[offset : offset + len(replacement)] = replacement
    return bytes(data)


def test_a_jpeg_that_aborts_gdcm_is_refused_and_the_process_lives(
    testdata: Callable[[str], Path],
) -> None:
    data = _patched(testdata("SC_rgb_dcmtk_+eb+cy+s2.dcm").read_bytes())
    # in a child: before the fix this aborted the interpreter (SIGABRT)
    done = subprocess.run(
        [sys.executable, "-c", _VALIDATE_IN_CHILD],
        input=data,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    assert done.stdout.decode().startswith("Refused"), done.stdout


def test_gdcm_is_no_longer_a_plugin_where_another_decodes() -> None:
    for syntax in (uid.JPEGBaseline8Bit, uid.JPEGExtended12Bit, uid.JPEG2000, uid.JPEGLSLossless):
        assert "gdcm" not in get_decoder(syntax).available_plugins, syntax.name


def test_what_only_gdcm_decodes_is_decoded_in_a_worker(
    testdata: Callable[[str], Path],
) -> None:
    lossless = dcmread(testdata("JPEG-LL.dcm"))
    twelve_bit = dcmread(testdata("JPEG-lossy.dcm"))
    assert needs_gdcm(lossless) and needs_gdcm(twelve_bit)
    assert not needs_gdcm(dcmread(testdata("SC_rgb_dcmtk_+eb+cy+s2.dcm")))
    pixels = decode_frame(lossless, 0)
    assert pixels.shape == (1024, 256) and pixels.dtype == np.int16
    assert int(np.count_nonzero(pixels)) > 0
    assert decode_frame(twelve_bit, 0).dtype == np.uint16


def test_a_decoder_worker_cannot_take_more_than_its_address_space() -> None:
    worker = isolated_decode._executor()
    limit = worker.submit(resource.getrlimit, resource.RLIMIT_AS).result()
    assert limit == (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE)
    # and a worker that runs out answers, without the caller's process suffering
    too_much = worker.submit(bytearray, WORKER_ADDRESS_SPACE)
    try:
        too_much.result()
    except MemoryError:
        pass
    else:
        raise AssertionError("the worker allocated past its cap")
