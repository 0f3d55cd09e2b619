"""Real data the targets start from: pydicom's own test files, read where
pydicom installed them (nothing third-party is copied into the repository)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pydicom.data
from pydicom import dcmread
from pydicom.dataset import FileDataset

TEST_FILES = Path(pydicom.data.__file__).parent / "test_files"


def dicom_test_files(max_bytes: int) -> list[Path]:
    """pydicom's test files up to ``max_bytes`` each, DICOM or not (a few are
    deliberately broken, gzip'd or headerless: good seeds too)."""
    return sorted(
        path
        for path in TEST_FILES.rglob("*")
        if path.is_file() and path.stat().st_size <= max_bytes and path.suffix != ".py"
    )


@cache
def ct_slice() -> FileDataset:
    """A 128x128 CT slice with HU rescale: what region measurements read."""
    return dcmread(TEST_FILES / "CT_small.dcm")
