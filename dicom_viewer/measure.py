"""Measurements for annotations: lengths, angles and region statistics.

Points are image coordinates in pixels: x along a row (column index), y
down the columns (row index). PixelSpacing is (row spacing, column
spacing) in mm, i.e. (dy, dx) (PS3.3 10.7.1.3).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from pydicom.dataset import Dataset

from .lut import modality_unit, modality_values
from .render import decode_frame, is_colour

RegionShape = Literal["rectangle", "ellipse"]
BoolArray = npt.NDArray[np.bool_]


def length_mm(
    start: tuple[float, float], end: tuple[float, float], pixel_spacing: tuple[float, float]
) -> float:
    dy_mm, dx_mm = pixel_spacing
    return math.hypot((end[0] - start[0]) * dx_mm, (end[1] - start[1]) * dy_mm)


def angle_degrees(
    a: tuple[float, float], vertex: tuple[float, float], b: tuple[float, float]
) -> float | None:
    """The angle at ``vertex`` between the rays to ``a`` and ``b``, 0..180."""
    ax, ay = a[0] - vertex[0], a[1] - vertex[1]
    bx, by = b[0] - vertex[0], b[1] - vertex[1]
    if math.hypot(ax, ay) == 0 or math.hypot(bx, by) == 0:
        return None
    return abs(math.degrees(math.atan2(ax * by - ay * bx, ax * bx + ay * by)))


@dataclass(frozen=True, slots=True)
class RegionStats:
    mean: float
    sd: float  # population standard deviation of the pixels in the region
    minimum: float
    maximum: float
    pixels: int
    unit: str | None  # "HU" for CT
    area_mm2: float | None


def region_mask(
    shape: RegionShape,
    corner_a: tuple[float, float],
    corner_b: tuple[float, float],
    size: tuple[int, int],
) -> BoolArray:
    """Pixels whose centres lie in the rectangle or its inscribed ellipse."""
    rows, columns = size
    x0, x1 = sorted((corner_a[0], corner_b[0]))
    y0, y1 = sorted((corner_a[1], corner_b[1]))
    ys, xs = np.mgrid[0:rows, 0:columns]
    if shape == "rectangle":
        rectangle: BoolArray = (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        return rectangle
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    rx, ry = max((x1 - x0) / 2, 1e-9), max((y1 - y0) / 2, 1e-9)
    inside: BoolArray = (((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2) <= 1.0
    return inside


def region_stats(
    ds: Dataset,
    frame: int,
    shape: RegionShape,
    corner_a: tuple[float, float],
    corner_b: tuple[float, float],
    pixel_spacing: tuple[float, float] | None = None,
) -> RegionStats | None:
    """Mean and SD of modality values (HU for CT) in a region, or ``None``
    if the region holds no pixel."""
    if is_colour(ds):
        raise ValueError("colour images have no single pixel value")
    stored = decode_frame(ds, frame)
    values = modality_values(ds, stored, frame)
    mask = region_mask(shape, corner_a, corner_b, (values.shape[0], values.shape[1]))
    selected = values[mask]
    if selected.size == 0:
        return None
    area = None if pixel_spacing is None else selected.size * pixel_spacing[0] * pixel_spacing[1]
    return RegionStats(
        mean=float(selected.mean()),
        sd=float(selected.std()),
        minimum=float(selected.min()),
        maximum=float(selected.max()),
        pixels=int(selected.size),
        unit=modality_unit(ds),
        area_mm2=area,
    )
