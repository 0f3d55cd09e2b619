"""GDCM decodes untrusted pixel data only in a worker process.

GDCM's codecs throw C++ exceptions that its Python binding does not catch
on some corrupt JPEG streams; the runtime then aborts the whole process (a
fuzzed 100x100 JPEG Baseline file did it at ingest's trial decode, killing
the server). So GDCM is removed from every decoder that has another plugin
(Pillow for JPEG and JPEG 2000, pyjpegls for JPEG-LS), and what only GDCM
decodes (JPEG Lossless, 12-bit JPEG Extended) is decoded in a worker
process: an abort there loses that frame, not the server. A worker's
address space is capped too: GDCM hands pixels back as a str, so one frame
costs about four times its size (fuzzing saw a worker reach 1.4 GB on a
small file); beyond the cap the frame is refused, nothing else suffers.
"""

from __future__ import annotations

import resource
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from io import BytesIO
from multiprocessing import get_context

import numpy as np
import numpy.typing as npt
from pydicom import dcmread, uid
from pydicom.dataset import Dataset
from pydicom.pixels.decoders.base import get_decoder
from pydicom.pixels.utils import pixel_array

from .attributes import get_int
from .gdcm_decode import decode_frame_with_gdcm

_GDCM = "gdcm"
_WORKERS = 2
# a worker idles at ~215 MB of address space; the largest frame the ingest
# limits admit (8192 x 8192 x 3 samples x 16 bits, 384 MiB) needs ~4x that
WORKER_ADDRESS_SPACE = 2 << 30


def _prefer_other_plugins() -> None:
    for syntax in uid.AllTransferSyntaxes:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            continue
        plugins = decoder.available_plugins
        if _GDCM in plugins and len(plugins) > 1:
            decoder.remove_plugin(_GDCM)


_prefer_other_plugins()


def needs_gdcm(ds: Dataset) -> bool:
    """Whether this data set's pixels can only be decoded by GDCM."""
    syntax = uid.UID(str(ds.file_meta.get("TransferSyntaxUID", "")))
    if not syntax.is_transfer_syntax or not syntax.is_encapsulated:
        return False
    if syntax == uid.JPEGExtended12Bit and (get_int(ds, "BitsStored") or 8) > 8:
        return True  # pydicom's GDCM plugin refuses 12-bit: see gdcm_decode
    try:
        return get_decoder(syntax).available_plugins == (_GDCM,)
    except NotImplementedError:
        return False


_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _executor() -> ProcessPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            # spawned, not forked: the server has threads and an event loop
            _pool = ProcessPoolExecutor(
                _WORKERS, mp_context=get_context("spawn"), initializer=_cap_memory
            )
        return _pool


def _discard(pool: ProcessPoolExecutor) -> None:
    global _pool
    with _pool_lock:
        if _pool is pool:
            _pool = None
    pool.shutdown(wait=False, cancel_futures=True)


def decode_isolated(ds: Dataset, frame: int) -> npt.NDArray[np.generic]:
    """Decode one frame with GDCM in a worker; a crash there is a RuntimeError here."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    pool = _executor()
    try:
        return pool.submit(_decode, buffer.getvalue(), frame).result()
    except BrokenProcessPool:
        _discard(pool)
        raise RuntimeError("the image decoder crashed on this image") from None
    except MemoryError:
        raise RuntimeError("decoding this image needs more memory than a decoder may use") from None


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (WORKER_ADDRESS_SPACE, WORKER_ADDRESS_SPACE))


def _decode(data: bytes, frame: int) -> npt.NDArray[np.generic]:
    ds = dcmread(BytesIO(data), force=False)
    syntax = ds.file_meta.get("TransferSyntaxUID")
    if syntax == uid.JPEGExtended12Bit and (get_int(ds, "BitsStored") or 8) > 8:
        return decode_frame_with_gdcm(ds, frame)
    array: npt.NDArray[np.generic] = pixel_array(ds, index=frame)
    return array
