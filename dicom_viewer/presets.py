"""Named windows a viewer offers: CT presets, the file's own, automatic."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
from pydicom.dataset import Dataset

from .lut import FloatArray, Window, auto_window, file_windows

# centre/width in HU; viewers differ slightly, these are the common values
CT_PRESETS: Mapping[str, Window] = MappingProxyType(
    {
        "brain": Window(40, 80),
        "soft_tissue": Window(40, 400),
        "lung": Window(-600, 1500),
        "bone": Window(480, 2500),
    }
)

FILE_PRESET = "file"
AUTO_PRESET = "auto"


class UnknownPreset(KeyError):
    pass


def available_presets(ds: Dataset, frame: int = 0) -> list[str]:
    """Preset names valid for this object, the file's own first.

    The file's windows are "file", "file_2", ...; "auto" spans the frame's
    values; CT presets are offered for CT only, since they are in HU.
    """
    own = file_windows(ds, frame)
    names = [FILE_PRESET if i == 0 else f"{FILE_PRESET}_{i + 1}" for i in range(len(own))]
    if ds.get("Modality") == "CT":
        names.extend(CT_PRESETS)
    names.append(AUTO_PRESET)
    return names


def resolve_preset(ds: Dataset, name: str, values: FloatArray, frame: int = 0) -> Window:
    """The window a preset name stands for on this frame's modality values."""
    if name in CT_PRESETS:
        return CT_PRESETS[name]
    if name == AUTO_PRESET:
        return auto_window(values)
    own = file_windows(ds, frame)
    if name == FILE_PRESET and own:
        return own[0]
    if name.startswith(f"{FILE_PRESET}_"):
        suffix = name.removeprefix(f"{FILE_PRESET}_")
        if suffix.isdigit() and 1 <= int(suffix) <= len(own):
            return own[int(suffix) - 1]
    raise UnknownPreset(name)


def default_window(ds: Dataset, values: FloatArray, frame: int = 0) -> Window:
    """The file's first window, else one spanning the values present."""
    own = file_windows(ds, frame)
    return own[0] if own else auto_window(np.asarray(values, dtype=np.float64))
