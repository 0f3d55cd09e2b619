"""Rendering over real files: windows, LUTs, MONOCHROME1, compressed data."""

from __future__ import annotations

from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.dataset import FileDataset

from dicom_viewer.lut import Window, modality_values
from dicom_viewer.presets import available_presets
from dicom_viewer.render import (
    ImageFormat,
    decode_frame,
    display_array,
    pixel_value,
    render,
    thumbnail,
)

Reader = Callable[[str], FileDataset]


def _png_pixels(data: bytes) -> npt.NDArray[np.uint8]:
    assert data.startswith(b"\x89PNG")
    with Image.open(BytesIO(data)) as image:
        return np.asarray(image)


def _linear_voi_8bit(x: float, center: float, width: float) -> int:
    """DICOM PS3.3 C.11.2.1.2.1, written out independently of the package."""
    if x <= center - 0.5 - (width - 1) / 2:
        return 0
    if x > center - 0.5 + (width - 1) / 2:
        return 255
    return round(((x - (center - 0.5)) / (width - 1) + 0.5) * 255)


def test_ct5n_is_rendered_with_its_window_at_known_points(ct5n: list[Path]) -> None:
    for path in ct5n:
        ds = dcmread(path)
        rendered = render(ds)
        assert rendered.media_type == "image/png"
        assert (rendered.width, rendered.height) == (16, 16)
        assert rendered.window == Window(40.0, 400.0)
        shown = _png_pixels(rendered.data)
        stored = ds.pixel_array
        for row, column in [(0, 0), (8, 8), (15, 3), (4, 12)]:
            hu = float(stored[row, column]) * 1.0 - 1024.0
            assert shown[row, column] == _linear_voi_8bit(hu, 40.0, 400.0), (path, row, column)
        expected = np.vectorize(lambda v: _linear_voi_8bit(float(v) - 1024.0, 40.0, 400.0))(stored)
        assert np.array_equal(shown, expected)
        # the soft tissue falls inside the window (air outside it is 0), so
        # the comparison covers the linear part of the function
        assert np.count_nonzero((shown > 0) & (shown < 255)) > shown.size // 4


def test_hounsfield_value_at_a_point(ct5n: list[Path]) -> None:
    ds = dcmread(ct5n[0])
    value = pixel_value(ds, row=8, column=5)
    assert value.unit == "HU"
    assert value.stored == float(ds.pixel_array[8, 5])
    assert value.value == float(ds.pixel_array[8, 5]) - 1024.0
    with pytest.raises(IndexError):
        pixel_value(ds, row=16, column=0)


def test_a_preset_replaces_the_file_window(ct5n: list[Path]) -> None:
    ds = dcmread(ct5n[0])
    assert available_presets(ds)[:2] == ["file", "brain"]
    shown, used = display_array(ds, window=Window(-600, 1500))
    assert used == Window(-600, 1500)
    hu = float(ds.pixel_array[3, 3]) - 1024.0
    assert shown[3, 3] == _linear_voi_8bit(hu, -600, 1500)


def test_no_ct_presets_for_mr(read_testdata: Reader) -> None:
    assert available_presets(read_testdata("MR_small.dcm")) == ["file", "auto"]


@pytest.mark.parametrize("name", ["RG1_UNCR.dcm", "CR1/6154"])
def test_monochrome1_comes_out_inverted(read_testdata: Reader, name: str) -> None:
    ds = read_testdata(name)
    assert ds.PhotometricInterpretation == "MONOCHROME1"
    shown, window = display_array(ds)
    assert window is not None
    as_mono2 = read_testdata(name)
    as_mono2.PhotometricInterpretation = "MONOCHROME2"
    plain, _ = display_array(as_mono2, window=window)
    assert np.array_equal(shown.astype(int), 255 - plain.astype(int))
    stored = ds.pixel_array
    # the highest stored value is the darkest on screen
    assert (
        shown[np.unravel_index(stored.argmax(), stored.shape)]
        < shown[np.unravel_index(stored.argmin(), stored.shape)]
    )


def test_modality_lut_sequence_is_applied(read_testdata: Reader) -> None:
    ds = read_testdata("mlut_18.dcm")
    item = ds.ModalityLUTSequence[0]
    entries, first, _ = item.LUTDescriptor
    first = first - 65536 if first > 32767 else first
    table = np.asarray(item.LUTData)
    stored = ds.pixel_array
    expected = table[np.clip(stored.astype(int) - first, 0, entries - 1)]
    assert np.array_equal(modality_values(ds, stored), expected)
    assert not np.array_equal(expected, stored)
    row, column = 100, 300
    assert pixel_value(ds, row, column).value == float(expected[row, column])


def test_voi_lut_sequence_is_applied(read_testdata: Reader) -> None:
    ds = read_testdata("vlut_04.dcm")
    item = ds.VOILUTSequence[0]
    entries, first, bits = item.LUTDescriptor
    table = np.asarray(item.LUTData, dtype=float)
    stored = ds.pixel_array.astype(int)
    expected = np.rint(table[np.clip(stored - first, 0, entries - 1)] / (2**bits - 1) * 255)
    rendered = render(ds)
    assert rendered.window is None
    assert np.array_equal(_png_pixels(rendered.data), expected.astype(np.uint8))
    # an explicit window overrides the file's VOI LUT
    windowed, used = display_array(ds, window=Window(100, 50))
    assert used == Window(100, 50)
    assert not np.array_equal(windowed, expected)


@pytest.mark.parametrize(
    ("compressed", "reference"),
    [
        ("693_J2KR.dcm", "693_UNCR.dcm"),
        ("MR_small_jpeg_ls_lossless.dcm", "MR_small.dcm"),
        ("MR_small_RLE.dcm", "MR_small.dcm"),
    ],
)
def test_lossless_compressed_renders_like_the_uncompressed(
    read_testdata: Reader, compressed: str, reference: str
) -> None:
    shown, _ = display_array(read_testdata(compressed))
    expected, _ = display_array(read_testdata(reference))
    assert np.array_equal(shown, expected)


def test_jpeg_lossless_and_12_bit_extended_render(read_testdata: Reader) -> None:
    lossless = read_testdata("JPEG-LL.dcm")
    extended = read_testdata("JPGExtended.dcm")  # 12-bit: decoded through GDCM
    stored_ll = decode_frame(lossless)
    stored_ext = decode_frame(extended)
    assert stored_ll.shape == stored_ext.shape == (1024, 256)
    # the same picture, once lossless and once lossy
    assert float(np.abs(stored_ll.astype(int) - stored_ext.astype(int)).mean()) < 5
    for ds in (lossless, extended):
        rendered = render(ds)
        assert (rendered.width, rendered.height) == (256, 1024)
        assert _png_pixels(rendered.data).std() > 10


@pytest.mark.parametrize(
    "name", ["examples_ybr_color.dcm", "SC_rgb_jpeg_gdcm.dcm", "OBXXXX1A_rle_2frame.dcm"]
)
def test_colour_images_render_as_rgb(read_testdata: Reader, name: str) -> None:
    ds = read_testdata(name)
    rendered = render(ds)
    with Image.open(BytesIO(rendered.data)) as image:
        assert image.mode == "RGB"
        assert image.size == (ds.Columns, ds.Rows)
        pixels = np.asarray(image)
    assert pixels.std() > 5


def test_ybr_cine_frame_matches_its_jpeg_decoded_by_pillow(read_testdata: Reader) -> None:
    from pydicom.encaps import get_frame

    ds = read_testdata("examples_ybr_color.dcm")
    shown, _ = display_array(ds, frame=4)
    jpeg = get_frame(ds.PixelData, 4, number_of_frames=30)
    with Image.open(BytesIO(jpeg)) as image:
        reference = np.asarray(image.convert("RGB")).astype(int)
    assert float(np.abs(shown.astype(int) - reference).mean()) < 2


def test_webp_is_lossless_and_thumbnails_are_small(ct5n: list[Path]) -> None:
    ds = dcmread(ct5n[0])
    png = render(ds)
    webp = render(ds, fmt=ImageFormat.WEBP)
    assert webp.media_type == "image/webp"
    with Image.open(BytesIO(webp.data)) as image:
        assert image.format == "WEBP"
        assert np.array_equal(np.asarray(image.convert("L")), _png_pixels(png.data))
    big = dcmread(Path(str(ct5n[0])).parent.parent.parent.parent / "CT_small.dcm")
    thumb = thumbnail(big, size=32)
    assert max(thumb.width, thumb.height) == 32


def test_default_window_spans_the_values_when_the_file_has_none(read_testdata: Reader) -> None:
    ds = read_testdata("CT_small.dcm")
    assert "WindowCenter" not in ds
    shown, used = display_array(ds)
    assert used is not None
    assert shown.min() == 0 and shown.max() == 255


def test_enhanced_ct_frames_use_their_own_window(read_testdata: Reader) -> None:
    ds = read_testdata("eCT_Supplemental.dcm")
    for frame in (0, 1):
        group = ds.PerFrameFunctionalGroupsSequence[frame]
        voi = (
            group.FrameVOILUTSequence[0]
            if "FrameVOILUTSequence" in group
            else (ds.SharedFunctionalGroupsSequence[0].FrameVOILUTSequence[0])
        )
        _, used = display_array(ds, frame=frame)
        assert used == Window(float(voi.WindowCenter), float(voi.WindowWidth))
    with pytest.raises(IndexError):
        render(ds, frame=2)


@pytest.mark.parametrize(
    "name",
    [
        "CT_small.dcm",
        "693_J2KI.dcm",
        "image_dfl.dcm",
        "JPEG-LL.dcm",
        "MR_small_jpeg_ls_lossless.dcm",
        "MR_small_RLE.dcm",
        "JPGExtended.dcm",
        "color3d_jpeg_baseline.dcm",
    ],
)
def test_accepted_images_render_at_their_size(read_testdata: Reader, name: str) -> None:
    ds = read_testdata(name)
    last = int(ds.get("NumberOfFrames", 1)) - 1
    rendered = render(ds, frame=last)
    assert (rendered.width, rendered.height) == (ds.Columns, ds.Rows)
    with Image.open(BytesIO(rendered.data)) as image:
        assert np.asarray(image).std() > 1  # a picture, not a flat field
