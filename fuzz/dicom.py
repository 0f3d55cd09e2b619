"""Target ``dicom``: the bytes of an uploaded file, through the server's validation.

The imaging desk's ``accept`` hands an upload's bytes (browser, STOW-RS and
C-STORE alike) to :func:`dicom_viewer.validate.validate` with the server's
limits; an accepted file is then stored and, when viewed, parsed again by
:func:`~dicom_viewer.validate.load_dataset`, which is done here too.
``validate`` promises never to raise: a :class:`~dicom_viewer.validate.Refused`
is the refusal. Its catch-all turns any other exception into a refusal and
logs it; those are read from the log: raised in this project's code they are
a crash (a defect the catch-all hides), raised inside pydicom or a decoder
they are counted as catch-all refusals, and a ``RecursionError`` or
``MemoryError`` is a crash wherever it happens. Seeds are pydicom's test files.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from dicom_viewer.limits import IngestLimits
from dicom_viewer.validate import Accepted, load_dataset, validate

from .findings import Fallback, in_project
from .seed_data import dicom_test_files
from .target import Target

MB = 1 << 20
# the desk's limits with the default max_upload_mb (signalling/imaging/desk.py)
LIMITS = IngestLimits(max_file_bytes=512 * MB)
MAX_SEED_BYTES = 256 * 1024


class _CatchAll(logging.Handler):
    """Keeps what validate's catch-all logged during the current input."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.caught: list[BaseException] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[1] is not None:
            self.caught.append(record.exc_info[1])


_handler = _CatchAll()
_log = logging.getLogger("dicom_viewer.validate")
_log.addHandler(_handler)
_log.propagate = False  # a traceback per refused input would flood the run's log
logging.getLogger("pydicom").setLevel(logging.CRITICAL)


def one_input(data: bytes) -> None:
    _handler.caught.clear()
    result = validate(data, LIMITS)
    for exc in _handler.caught:
        if isinstance(exc, (RecursionError, MemoryError)) or in_project(exc):
            raise exc
        raise Fallback(exc)
    if isinstance(result, Accepted):
        load_dataset(result.data)


def seeds() -> Iterator[bytes]:
    for path in dicom_test_files(MAX_SEED_BYTES):
        yield path.read_bytes()


TARGET = Target(
    name="dicom",
    one_input=one_input,
    seeds=seeds,
    max_len=MAX_SEED_BYTES,
    dictionary=(
        b"DICM",
        b"1.2.840.10008.1.2\x00",
        b"1.2.840.10008.1.2.1\x00",
        b"1.2.840.10008.1.2.1.99",
        b"1.2.840.10008.1.2.2\x00",
        b"1.2.840.10008.1.2.4.50",
        b"1.2.840.10008.1.2.4.90",
        b"1.2.840.10008.1.2.4.80",
        b"1.2.840.10008.1.2.5\x00",
        b"\xfe\xff\x00\xe0",  # item
        b"\xfe\xff\xdd\xe0",  # sequence delimiter
        b"\xfe\xff\x0d\xe0",  # item delimiter
        b"\xff\xff\xff\xff",  # undefined length
        b"\xe0\x7f\x10\x00",  # pixel data
        b"\x28\x00\x10\x00",  # rows
        b"\x28\x00\x11\x00",  # columns
        b"\x28\x00\x08\x00",  # number of frames
        b"\x28\x00\x00\x01",  # bits allocated
        b"\x02\x00\x10\x00",  # transfer syntax
        b"SQ\x00\x00",
        b"OB\x00\x00",
        b"UN\x00\x00",
        b"\xff\xd8\xff",  # JPEG
        b"\xff\x4f\xff\x51",  # JPEG 2000
        b"\xff\xd8\xff\xf7",  # JPEG-LS
    ),
)
