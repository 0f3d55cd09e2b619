"""Order the slices of a series anatomically."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .instance import InstanceInfo

# orientations closer than this (direction cosines) count as the same plane
_ORIENTATION_TOLERANCE = 1e-3


def slice_position(info: InstanceInfo) -> float | None:
    """Distance of the slice along its normal (row x column cosines)."""
    if info.image_position is None or info.image_orientation is None:
        return None
    row = np.array(info.image_orientation[:3])
    column = np.array(info.image_orientation[3:])
    normal = np.cross(row, column)
    return float(np.dot(normal, np.array(info.image_position)))


def _same_plane(infos: Sequence[InstanceInfo]) -> bool:
    first = infos[0].image_orientation
    assert first is not None
    return all(
        info.image_orientation is not None
        and max(abs(a - b) for a, b in zip(info.image_orientation, first, strict=True))
        < _ORIENTATION_TOLERANCE
        for info in infos
    )


def order_slices(infos: Sequence[InstanceInfo]) -> list[InstanceInfo]:
    """Slices in anatomical order.

    When every slice has a position and all share one orientation, they are
    sorted by position along the normal, highest first (head to feet for
    axial slices, the order radiologists scroll). Otherwise, or to break
    ties, by InstanceNumber, then SOP Instance UID so the order is stable.
    """
    items = list(infos)
    if not items:
        return []
    positions = [slice_position(info) for info in items]

    def by_number(info: InstanceInfo) -> tuple[int, str]:
        number = info.instance_number if info.instance_number is not None else 2**31
        return number, info.sop_instance_uid

    if all(p is not None for p in positions) and _same_plane(items):
        keyed = sorted(
            zip(positions, items, strict=True),
            key=lambda pair: (-(pair[0] or 0.0), by_number(pair[1])),
        )
        return [info for _, info in keyed]
    return sorted(items, key=by_number)
