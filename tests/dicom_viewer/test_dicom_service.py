"""The facade the control plane calls, over a blob store holding real files."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dicom_viewer.index import ImagingIndex
from dicom_viewer.ingest import Stored
from dicom_viewer.lut import Window
from dicom_viewer.presets import UnknownPreset
from dicom_viewer.render import ImageFormat
from dicom_viewer.service import ImagingService, rendition_key
from dicom_viewer.storage import MemoryBlobStore

Paths = Callable[[str], Path]


def _stored(service: ImagingService, index: ImagingIndex, path: Path) -> str:
    result = service.ingest(path, index)
    assert isinstance(result, Stored)
    return result.record.blob_sha256


def test_render_by_blob_with_presets(testdata: Paths) -> None:
    service = ImagingService(MemoryBlobStore(), cached_datasets=2)
    index = ImagingIndex()
    sha = _stored(service, index, testdata("693_J2KR.dcm"))
    assert service.presets(sha)[:2] == ["file", "brain"]
    lung = service.render(sha, window="lung")
    assert lung.window == Window(-600, 1500)
    own = service.render(sha, window="file")
    assert own.window == Window(40, 100)
    with Image.open(BytesIO(lung.data)) as a, Image.open(BytesIO(own.data)) as b:
        assert not np.array_equal(np.asarray(a), np.asarray(b))
    with pytest.raises(UnknownPreset):
        service.render(sha, window="file_2")
    value = service.pixel_value(sha, 256, 256)
    assert value.unit == "HU"


def test_cine_and_ecg_by_blob(testdata: Paths) -> None:
    service = ImagingService(MemoryBlobStore())
    index = ImagingIndex()
    cine = _stored(service, index, testdata("examples_ybr_color.dcm"))
    ecg = _stored(service, index, testdata("waveform_ecg.dcm"))
    assert service.cine_frame(cine, 0).startswith(b"\xff\xd8")
    assert len(service.ecg(ecg).rhythm.leads) == 12
    thumb = service.thumbnail(cine, size=64, fmt=ImageFormat.WEBP)
    assert thumb.media_type == "image/webp" and max(thumb.width, thumb.height) == 64


def test_rendition_keys_differ_by_every_parameter() -> None:
    sha = "a" * 64
    keys = {
        rendition_key(sha, 0, None, ImageFormat.PNG),
        rendition_key(sha, 1, None, ImageFormat.PNG),
        rendition_key(sha, 0, "lung", ImageFormat.PNG),
        rendition_key(sha, 0, Window(-600, 1500), ImageFormat.PNG),
        rendition_key(sha, 0, None, ImageFormat.WEBP),
        rendition_key(sha, 0, None, ImageFormat.PNG, 128),
        rendition_key("b" * 64, 0, None, ImageFormat.PNG),
    }
    assert len(keys) == 7
    assert rendition_key(sha, 0, "lung", ImageFormat.PNG) == rendition_key(
        sha, 0, "lung", ImageFormat.PNG
    )
