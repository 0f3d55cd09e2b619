"""Grey-scale transforms: stored value -> modality value -> display [0, 1].

PS3.3 C.11.1 (Modality LUT), C.11.2 (VOI LUT) and C.11.2.1.2 (window
functions). Implemented here rather than through pydicom's helpers so that
every step is explicit, works per frame for enhanced objects, and ends in
the [0, 1] range the 8-bit mapping needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from .attributes import first_item, frame_attribute_source, get_float, get_floats, get_int, get_str

FloatArray = npt.NDArray[np.float64]


class VoiFunction(StrEnum):
    LINEAR = "LINEAR"
    LINEAR_EXACT = "LINEAR_EXACT"
    SIGMOID = "SIGMOID"


@dataclass(frozen=True, slots=True)
class Window:
    """A VOI window in modality units (Hounsfield units for CT)."""

    center: float
    width: float
    function: VoiFunction = VoiFunction.LINEAR

    def __post_init__(self) -> None:
        # LINEAR needs width >= 1 (C.11.2.1.2.1), the others width > 0
        too_small = self.width < 1 if self.function is VoiFunction.LINEAR else self.width <= 0
        if too_small or not np.isfinite(self.center) or not np.isfinite(self.width):
            raise ValueError(f"window width {self.width} is too small for {self.function}")


def _lut_table(item: Dataset, signed_input: bool) -> tuple[int, FloatArray] | None:
    """First mapped input value and the table of a LUT item (PS3.3 C.11.1.1.1)."""
    descriptor = get_floats(item, "LUTDescriptor")
    if descriptor is None or len(descriptor) != 3 or "LUTData" not in item:
        return None
    entries, first, bits = (int(v) for v in descriptor)
    entries = entries or 65536  # 0 means 2^16 entries
    if signed_input and first > 32767:  # the descriptor's VR is US even for signed input
        first -= 65536
    raw = item.LUTData
    if isinstance(raw, bytes):
        dtype = np.uint8 if bits <= 8 and len(raw) == entries else np.uint16
        table = np.frombuffer(raw, dtype=np.dtype(dtype).newbyteorder("<")).astype(np.float64)
    else:
        values = (
            raw
            if isinstance(raw, list | tuple)
            else list(raw)
            if hasattr(raw, "__iter__")
            else [raw]
        )
        table = np.asarray(values, dtype=np.float64)
    if table.size < entries:
        return None
    return first, table[:entries]


def _lookup(values: npt.NDArray[np.generic], first: int, table: FloatArray) -> FloatArray:
    # input below the first entry maps to the first, above the last to the last
    index = np.clip(np.rint(values.astype(np.float64)) - first, 0, table.size - 1)
    mapped: FloatArray = table[index.astype(np.intp)]
    return mapped


def lut_bits(item: Dataset) -> int:
    descriptor = get_floats(item, "LUTDescriptor")
    return int(descriptor[2]) if descriptor is not None and len(descriptor) == 3 else 16


def modality_values(ds: Dataset, stored: npt.NDArray[np.generic], frame: int = 0) -> FloatArray:
    """Stored pixel values to modality values (HU for CT)."""
    lut_item = first_item(ds, "ModalityLUTSequence")
    if lut_item is not None:
        table = _lut_table(lut_item, get_int(ds, "PixelRepresentation") == 1)
        if table is not None:
            return _lookup(stored, *table)
    source = frame_attribute_source(ds, frame, "PixelValueTransformationSequence", "RescaleSlope")
    slope = get_float(source, "RescaleSlope")
    intercept = get_float(source, "RescaleIntercept")
    values = stored.astype(np.float64)
    if slope is not None and slope != 0:
        values = values * slope
    if intercept is not None:
        values = values + intercept
    return values


def modality_unit(ds: Dataset) -> str | None:
    rescale_type = get_str(ds, "RescaleType")
    if rescale_type:
        return rescale_type
    return "HU" if get_str(ds, "Modality") == "CT" else None


def apply_window(values: FloatArray, window: Window) -> FloatArray:
    """Window function of PS3.3 C.11.2.1.2.1 (LINEAR), C.11.2.1.3.2
    (LINEAR_EXACT) and C.11.2.1.3.1 (SIGMOID), giving [0, 1]."""
    c, w = window.center, window.width
    if window.function is VoiFunction.SIGMOID:
        return 1.0 / (1.0 + np.exp(-4.0 * (values - c) / w))
    if window.function is VoiFunction.LINEAR_EXACT:
        return np.clip((values - c) / w + 0.5, 0.0, 1.0)
    if w == 1.0:  # the formula divides by w - 1; width 1 is a threshold
        return np.where(values > c - 0.5, 1.0, 0.0)
    low = c - 0.5 - (w - 1) / 2
    high = c - 0.5 + (w - 1) / 2
    scaled = (values - (c - 0.5)) / (w - 1) + 0.5
    return np.where(values <= low, 0.0, np.where(values > high, 1.0, scaled))


def apply_voi_lut(ds: Dataset, values: FloatArray, index: int = 0) -> FloatArray | None:
    """Apply item ``index`` of the VOI LUT Sequence, or ``None`` if absent."""
    seq = ds.get("VOILUTSequence")
    if not seq or not 0 <= index < len(seq):
        return None
    item = seq[index]
    table = _lut_table(item, get_int(ds, "PixelRepresentation") == 1)
    if table is None:
        return None
    top = float(2 ** lut_bits(item) - 1)
    return np.clip(_lookup(values, *table) / top, 0.0, 1.0)


def file_windows(ds: Dataset, frame: int = 0) -> list[Window]:
    """The windows the file itself recommends, in file order."""
    source = frame_attribute_source(ds, frame, "FrameVOILUTSequence", "WindowCenter")
    centers = get_floats(source, "WindowCenter") or ()
    widths = get_floats(source, "WindowWidth") or ()
    function_name = get_str(source, "VOILUTFunction") or VoiFunction.LINEAR.value
    try:
        function = VoiFunction(function_name)
    except ValueError:
        function = VoiFunction.LINEAR
    windows: list[Window] = []
    for center, width in zip(centers, widths, strict=False):
        try:
            windows.append(Window(center, width, function))
        except ValueError:
            continue  # a malformed window is skipped, not fatal
    return windows


def auto_window(values: FloatArray) -> Window:
    """A window spanning the frame's value range, for files without one."""
    low = float(np.min(values))
    high = float(np.max(values))
    return Window(center=(low + high) / 2, width=max(high - low, 1.0) + 1.0)


def is_inverted(ds: Dataset) -> bool:
    """MONOCHROME1: low values are white, so invert after the window."""
    return get_str(ds, "PhotometricInterpretation") == "MONOCHROME1"
