"""JPEG Extended 12-bit decoding through GDCM's own reader.

pydicom's GDCM plugin refuses 12-bit JPEG Extended and the only other
pydicom plugin for it (pylibjpeg-libjpeg) is GPL, which the product avoids.
GDCM itself decodes it (it ships 8/12/16-bit IJG builds), so such files go
to gdcm.ImageReader directly. GDCM reads from a file name, hence the
temporary file.
"""

from __future__ import annotations

import os
import tempfile
from io import BytesIO

import gdcm
import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from .attributes import get_int


def decode_frame_with_gdcm(ds: Dataset, frame: int) -> npt.NDArray[np.generic]:
    rows = get_int(ds, "Rows") or 0
    columns = get_int(ds, "Columns") or 0
    samples = get_int(ds, "SamplesPerPixel") or 1
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    handle, name = tempfile.mkstemp(suffix=".dcm")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(buffer.getvalue())
        reader = gdcm.ImageReader()
        reader.SetFileName(name)
        if not reader.Read():
            raise RuntimeError("GDCM could not read the image")
        image = reader.GetImage()
        pixel_format = image.GetPixelFormat()
        raw = image.GetBuffer()
    finally:
        os.unlink(name)
    # the SWIG binding hands the buffer back as a str of raw bytes
    data = raw.encode("utf-8", errors="surrogateescape") if isinstance(raw, str) else bytes(raw)
    signed = get_int(ds, "PixelRepresentation") == 1
    width = 2 if pixel_format.GetBitsAllocated() > 8 else 1
    dtype = np.dtype(f"<{'i' if signed else 'u'}{width}")
    per_frame = rows * columns * samples
    array = np.frombuffer(data, dtype=dtype)
    if array.size < per_frame * (frame + 1):
        raise RuntimeError("GDCM returned fewer pixels than the image declares")
    shaped = array[per_frame * frame : per_frame * (frame + 1)]
    shape = (rows, columns) if samples == 1 else (rows, columns, samples)
    return shaped.reshape(shape).copy()
