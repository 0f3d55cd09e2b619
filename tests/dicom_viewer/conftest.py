"""Fixtures over the real DICOM files shipped with pydicom and pydicom-data."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file, get_testdata_files
from pydicom.dataset import FileDataset

CT5N = "dicomdirtests/98892001/CT5N/*"


def testdata_path(name: str) -> Path:
    # download=False: tests must never fetch files over the network
    found = get_testdata_file(name, download=False)
    if found is None:
        pytest.fail(f"test file {name} is not installed locally")
    return Path(str(found))


def _to_bytes(ds: FileDataset) -> bytes:
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture
def ct5n() -> list[Path]:
    """The five CT5N slices, in the (unordered) order glob returns them."""
    paths = [Path(p) for p in get_testdata_files(CT5N)]
    assert len(paths) == 5
    return paths


@pytest.fixture
def to_bytes() -> Callable[[FileDataset], bytes]:
    return _to_bytes


@pytest.fixture
def testdata() -> Callable[[str], Path]:
    return testdata_path


@pytest.fixture
def read_testdata() -> Callable[[str], FileDataset]:
    def read(name: str) -> FileDataset:
        return dcmread(testdata_path(name), force=False)

    return read
