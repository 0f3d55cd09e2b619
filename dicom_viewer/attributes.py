"""Defensive readers for DICOM attributes.

Uploads are untrusted: a value may be missing, empty, multi-valued where one
is expected, or malformed (badVR.dcm has NumberOfFrames "1A", which pydicom
keeps as a string). These helpers return ``None`` instead of raising or
guessing, so callers decide what is an error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

_INTEGER = re.compile(r"^\s*[+-]?\d+\s*$")


def _values(ds: Dataset, keyword: str) -> list[object] | None:
    if keyword not in ds:
        return None
    value = ds[keyword].value
    if value is None or value == "":
        return None
    if isinstance(value, MultiValue | list | tuple):
        return list(value)
    return [value]


def get_str(ds: Dataset, keyword: str) -> str | None:
    values = _values(ds, keyword)
    if not values:
        return None
    text = "\\".join(str(v) for v in values).strip()
    return text or None


def get_int(ds: Dataset, keyword: str) -> int | None:
    """One integer value, rejecting anything that is not plainly an integer."""
    values = _values(ds, keyword)
    if not values or len(values) != 1:
        return None
    value = values[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = str(value)
    if not _INTEGER.match(text):
        return None
    return int(text)


def get_floats(ds: Dataset, keyword: str) -> tuple[float, ...] | None:
    values = _values(ds, keyword)
    if not values:
        return None
    out: list[float] = []
    for value in values:
        try:
            number = float(str(value))
        except ValueError:
            return None
        if not math.isfinite(number):
            return None
        out.append(number)
    return tuple(out)


def get_float(ds: Dataset, keyword: str) -> float | None:
    values = get_floats(ds, keyword)
    if values is None or len(values) != 1:
        return None
    return values[0]


def get_vector(ds: Dataset, keyword: str, length: int) -> tuple[float, ...] | None:
    values = get_floats(ds, keyword)
    if values is None or len(values) != length:
        return None
    return values


def frame_groups(ds: Dataset, frame: int) -> list[Dataset]:
    """Functional group items that apply to ``frame`` of an enhanced object.

    Per-frame groups come first because they override the shared ones
    (PS3.3 C.7.6.16).
    """
    groups: list[Dataset] = []
    per_frame = ds.get("PerFrameFunctionalGroupsSequence")
    if per_frame is not None and 0 <= frame < len(per_frame):
        groups.append(per_frame[frame])
    shared = ds.get("SharedFunctionalGroupsSequence")
    if shared:
        groups.append(shared[0])
    return groups


def first_item(ds: Dataset, sequence: str) -> Dataset | None:
    seq = ds.get(sequence)
    if not seq:
        return None
    item = seq[0]
    return item if isinstance(item, Dataset) else None


def frame_attribute_source(ds: Dataset, frame: int, sequence: str, keyword: str) -> Dataset:
    """The dataset that holds ``keyword`` for ``frame``: a functional group
    macro item if the object has one with that attribute, else ``ds``."""
    for group in frame_groups(ds, frame):
        item = first_item(group, sequence)
        if item is not None and keyword in item:
            return item
    return ds


def codes_meaning(items: Sequence[Dataset] | None) -> str | None:
    if not items:
        return None
    return get_str(items[0], "CodeMeaning")
