"""Ultrasound cine: frame rate and JPEG frames served as stored."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from pydicom.dataset import FileDataset
from pydicom.encaps import generate_fragments, parse_basic_offsets

from dicom_viewer.cine import (
    NotJpegBaseline,
    frame_durations_ms,
    frame_rate,
    jpeg_frame,
    jpeg_frames,
)
from dicom_viewer.validate import Accepted, validate

Reader = Callable[[str], FileDataset]


def _stored_fragments(ds: FileDataset) -> list[bytes]:
    # read the encapsulated items directly, independently of get_frame
    buffer = BytesIO(ds.PixelData)
    parse_basic_offsets(buffer)
    return list(generate_fragments(buffer))


def test_us_cine_reports_30_fps(read_testdata: Reader, testdata: Callable[[str], Path]) -> None:
    ds = read_testdata("examples_ybr_color.dcm")
    assert frame_rate(ds) == pytest.approx(30.0, abs=0.001)
    result = validate(str(testdata("examples_ybr_color.dcm")))
    assert isinstance(result, Accepted)
    assert result.info.frame_rate == pytest.approx(30.0, abs=0.001)
    assert result.info.frame_time_ms == pytest.approx(33.333)
    assert result.info.is_jpeg_baseline


def test_frames_are_the_stored_jpeg_bytes(read_testdata: Reader) -> None:
    ds = read_testdata("examples_ybr_color.dcm")
    frames = list(jpeg_frames(ds))
    fragments = _stored_fragments(ds)
    assert len(frames) == 30
    assert frames == fragments  # one fragment per frame here: bytes as stored
    for index in (0, 17, 29):
        frame = jpeg_frame(ds, index)
        assert frame == fragments[index]
        assert frame[:2] == b"\xff\xd8"
        with Image.open(BytesIO(frame)) as image:
            assert image.format == "JPEG"
            assert image.size == (320, 240)
            image.load()
    with pytest.raises(IndexError):
        jpeg_frame(ds, 30)


def test_frames_of_a_longer_loop(read_testdata: Reader) -> None:
    ds = read_testdata("color3d_jpeg_baseline.dcm")
    frames = list(jpeg_frames(ds))
    assert len(frames) == 120
    assert all(frame.startswith(b"\xff\xd8") for frame in frames)
    assert frame_rate(ds) == pytest.approx(30.0, abs=0.001)


def test_rle_cine_has_no_jpeg_frames_and_no_rate(read_testdata: Reader) -> None:
    ds = read_testdata("OBXXXX1A_rle_2frame.dcm")
    assert frame_rate(ds) is None
    with pytest.raises(NotJpegBaseline):
        jpeg_frame(ds, 0)


def test_rate_from_cine_rate_and_frame_time_vector(read_testdata: Reader) -> None:
    ds = read_testdata("examples_ybr_color.dcm")
    del ds.FrameTime
    ds.CineRate = 25
    assert frame_rate(ds) == 25
    ds.FrameTimeVector = [0, 40, 40, 20]
    # frame 0 shows for 40 ms until frame 1, ..., the last for the mean
    assert frame_durations_ms(ds) == pytest.approx((40, 40, 20, 100 / 3))
    assert frame_rate(ds) == pytest.approx(1000 * 4 / (100 + 100 / 3))
