"""Render one frame to an 8-bit PNG or WebP, as a viewer shows it.

Grey scale: stored -> modality LUT -> VOI (a window, or the file's VOI LUT
Sequence) -> MONOCHROME1 inverted -> 0..255. Colour: decoded to RGB
(YBR converted by pydicom, palette colour through its LUT) -> 8 bits.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from io import BytesIO

import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels.processing import apply_color_lut
from pydicom.pixels.utils import pixel_array

from .attributes import get_int, get_str
from .cine import number_of_frames
from .isolated_decode import decode_isolated, needs_gdcm
from .lut import (
    FloatArray,
    Window,
    apply_voi_lut,
    apply_window,
    is_inverted,
    modality_unit,
    modality_values,
)
from .presets import default_window, resolve_preset

UInt8Array = npt.NDArray[np.uint8]
# an explicit window, a preset name ("lung", "file", "auto", ...) or None for
# the file's own VOI
WindowChoice = Window | str | None


class ImageFormat(StrEnum):
    PNG = "png"
    WEBP = "webp"

    @property
    def media_type(self) -> str:
        return f"image/{self.value}"


@dataclass(frozen=True, slots=True)
class RenderedImage:
    data: bytes
    media_type: str
    width: int
    height: int
    window: Window | None  # the window applied; None for colour or a VOI LUT


@dataclass(frozen=True, slots=True)
class PixelValue:
    stored: float
    value: float  # after the modality LUT: HU for CT
    unit: str | None


def _check_frame(ds: Dataset, frame: int) -> None:
    frames = number_of_frames(ds)
    if not 0 <= frame < frames:
        raise IndexError(f"frame {frame} is outside 0..{frames - 1}")


def decode_frame(ds: Dataset, frame: int = 0) -> npt.NDArray[np.generic]:
    """Stored values of one frame; colour comes back as RGB."""
    _check_frame(ds, frame)
    if needs_gdcm(ds):
        return decode_isolated(ds, frame)
    array: npt.NDArray[np.generic] = pixel_array(ds, index=frame)
    return array


def is_colour(ds: Dataset) -> bool:
    return get_int(ds, "SamplesPerPixel") == 3 or (
        get_str(ds, "PhotometricInterpretation") == "PALETTE COLOR"
    )


def grey_display(
    ds: Dataset, frame: int = 0, window: WindowChoice = None, *, use_voi_lut: bool = True
) -> tuple[UInt8Array, Window | None]:
    """One grey-scale frame as 8-bit display values, and the window used.

    With no window given, the file's VOI LUT Sequence is used if present
    (and ``use_voi_lut``), else the file's window, else one from the values.
    A preset name raises :class:`UnknownPreset` if it does not apply.
    """
    values = modality_values(ds, decode_frame(ds, frame), frame)
    if isinstance(window, str):
        window = resolve_preset(ds, window, values, frame)
    display: FloatArray | None = None
    if window is None and use_voi_lut:
        display = apply_voi_lut(ds, values)
    if display is None:
        window = window or default_window(ds, values, frame)
        display = apply_window(values, window)
    if is_inverted(ds):
        display = 1.0 - display
    return np.rint(display * 255.0).astype(np.uint8), window


def colour_display(ds: Dataset, frame: int = 0) -> UInt8Array:
    """One colour frame as 8-bit RGB."""
    array = decode_frame(ds, frame)
    if get_str(ds, "PhotometricInterpretation") == "PALETTE COLOR":
        array = apply_color_lut(array, ds)
    if array.dtype == np.uint8:
        return np.asarray(array, dtype=np.uint8)
    # more than 8 bits per sample: scale the declared range down
    bits = get_int(ds, "BitsStored") or 8
    if array.dtype == np.uint16 and get_str(ds, "PhotometricInterpretation") == "PALETTE COLOR":
        bits = 16
    top = float(2**bits - 1)
    return np.rint(np.clip(array.astype(np.float64) / top, 0, 1) * 255).astype(np.uint8)


def display_array(
    ds: Dataset, frame: int = 0, window: WindowChoice = None
) -> tuple[UInt8Array, Window | None]:
    if is_colour(ds):
        return colour_display(ds, frame), None
    return grey_display(ds, frame, window)


def encode(
    array: UInt8Array, fmt: ImageFormat, max_size: int | None = None
) -> tuple[bytes, int, int]:
    """Encoded bytes and the picture's width and height."""
    image = Image.fromarray(array)
    if max_size is not None:
        image.thumbnail((max_size, max_size), Image.Resampling.LANCZOS)
    buffer = BytesIO()
    if fmt is ImageFormat.WEBP:
        # lossless: a diagnostic picture must not gain compression artefacts
        image.save(buffer, format="WEBP", lossless=True)
    else:
        image.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue(), image.width, image.height


def render(
    ds: Dataset,
    frame: int = 0,
    *,
    window: WindowChoice = None,
    fmt: ImageFormat = ImageFormat.PNG,
    max_size: int | None = None,
) -> RenderedImage:
    """Render ``frame``; ``max_size`` bounds the longer side (thumbnails)."""
    array, used = display_array(ds, frame, window)
    data, width, height = encode(array, fmt, max_size)
    return RenderedImage(data, fmt.media_type, width, height, used)


def thumbnail(ds: Dataset, size: int = 128, fmt: ImageFormat = ImageFormat.WEBP) -> RenderedImage:
    """A small picture of the middle frame with the default window."""
    return render(ds, number_of_frames(ds) // 2, fmt=fmt, max_size=size)


def pixel_value(ds: Dataset, row: int, column: int, frame: int = 0) -> PixelValue:
    """The value under a point: stored and after the modality LUT (HU)."""
    if is_colour(ds):
        raise ValueError("colour images have no single pixel value")
    stored = decode_frame(ds, frame)
    rows, columns = stored.shape[:2]
    if not (0 <= row < rows and 0 <= column < columns):
        raise IndexError(f"({row}, {column}) is outside the {rows}x{columns} image")
    point = stored[row : row + 1, column : column + 1]
    value = modality_values(ds, point, frame)
    return PixelValue(float(point[0, 0]), float(value[0, 0]), modality_unit(ds))
