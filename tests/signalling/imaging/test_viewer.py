"""The viewer's routes over real files: a CT slice rendered with its window,
cached by ETag; HU at a point; an ultrasound loop's frames as stored at
30 fps; a 12-lead ECG as data."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydicom import dcmread
from pydicom.encaps import get_frame

from signalling.platform import Platform
from tests.signalling.imaging_helpers import (
    audit_rows,
    ct5n,
    dicom_file,
    get,
    served_consult,
    upload,
    upload_one,
)
from tests.signalling.rooms.test_manager import Consult


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Platform, Consult]]:
    # rendering does not touch the database beyond lookups: SQLite is enough
    async for platform, _, consult in served_consult(tmp_path, None):
        yield platform, consult


def _voi(x: np.ndarray, center: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 linear VOI, mapped to 0..255."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    y = ((x - (center - 0.5)) / (width - 1) + 0.5) * 255
    return np.where(x <= low, 0, np.where(x > high, 255, y))


async def test_ct_slice_rendered_with_its_window_and_cached(
    served: tuple[Platform, Consult],
) -> None:
    _, consult = served
    path = ct5n()[0]
    uploaded = await upload_one(consult.doc, consult.id, path)
    sop = uploaded["sop_uid"]
    ds = dcmread(path)
    hu = ds.pixel_array * float(ds.RescaleSlope) + float(ds.RescaleIntercept)

    url = f"/api/imaging/instances/{sop}/rendered"
    status, png, headers = await get(consult.spec, url)
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert "immutable" in headers["Cache-Control"]
    shown = np.asarray(Image.open(io.BytesIO(png)), dtype=float)
    center, width = float(ds.WindowCenter), float(ds.WindowWidth)
    assert headers["X-Window"] == f"{center:g}/{width:g}"
    assert np.abs(shown - _voi(hu, center, width)).max() <= 1

    # the same rendition again: 304 without a body
    status, raw, again = await get(consult.spec, url, headers={"If-None-Match": headers["ETag"]})
    assert status == 304 and raw == b"" and again["ETag"] == headers["ETag"]

    # an explicit window is another rendition, and is applied
    status, png, lung = await get(consult.spec, url + "?center=-600&width=1500&format=webp")
    assert status == 200 and lung["Content-Type"] == "image/webp"
    assert lung["ETag"] != headers["ETag"]
    shown = np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=float)
    assert np.abs(shown - _voi(hu, -600, 1500)).max() <= 1

    status, raw, _ = await get(consult.spec, url + "?center=40")
    assert status == 400 and json.loads(raw)["error"] == "give center and width together"
    status, raw, _ = await get(consult.spec, url + "?preset=nonsense")
    assert status == 400

    # HU at a point
    status, raw, _ = await get(consult.spec, f"/api/imaging/instances/{sop}/pixel?row=7&column=9")
    assert status == 200
    value = json.loads(raw)
    assert value["value"] == pytest.approx(hu[7, 9]) and value["unit"] == "HU"

    status, raw, _ = await get(consult.spec, f"/api/imaging/instances/{sop}")
    detail = json.loads(raw)
    assert detail["presets"][0] == "file" and "lung" in detail["presets"]

    series = uploaded["series_uid"]
    status, thumb, theaders = await get(consult.spec, f"/api/imaging/series/{series}/thumbnail")
    assert status == 200 and theaders["Content-Type"] == "image/webp"
    assert Image.open(io.BytesIO(thumb)).size == (16, 16)  # never enlarged


async def test_cine_frames_served_as_stored_with_the_frame_rate(
    served: tuple[Platform, Consult],
) -> None:
    _, consult = served
    path = dicom_file("examples_ybr_color.dcm")
    sop = (await upload_one(consult.doc, consult.id, path))["sop_uid"]
    status, raw, _ = await get(consult.spec, f"/api/imaging/instances/{sop}")
    detail = json.loads(raw)
    assert detail["kind"] == "cine" and detail["frames"] == 30 and detail["jpeg_frames"]
    assert detail["frame_rate"] == pytest.approx(30.0, abs=0.01)

    ds = dcmread(path)
    status, jpeg, headers = await get(consult.spec, f"/api/imaging/instances/{sop}/cine/7")
    assert status == 200 and headers["Content-Type"] == "image/jpeg"
    assert float(headers["X-Frame-Rate"]) == pytest.approx(30.0, abs=0.01)
    assert jpeg == get_frame(ds.PixelData, 7, number_of_frames=30)  # not re-encoded
    status, _, _ = await get(consult.spec, f"/api/imaging/instances/{sop}/cine/30")
    assert status == 400


async def test_ecg_as_data(served: tuple[Platform, Consult]) -> None:
    _, consult = served
    path = dicom_file("waveform_ecg.dcm")
    sop = (await upload_one(consult.doc, consult.id, path))["sop_uid"]
    status, raw, _ = await get(consult.spec, f"/api/imaging/instances/{sop}/ecg")
    assert status == 200
    ecg = json.loads(raw)
    rhythm = ecg["groups"][0]
    assert rhythm["sampling_hz"] == 1000 and rhythm["sample_count"] == 10_000
    assert len(rhythm["leads"]) == 12 and rhythm["leads"][1]["name"] == "Lead II"
    assert all(len(lead["samples_uv"]) == 10_000 for lead in rhythm["leads"])
    measured = {m["name"]: (m["value"], m["unit"]) for m in ecg["measurements"]}
    assert measured["PR Interval"] == (161.0, "ms")
    assert measured["QTc Interval"] == (370.0, "ms")
    assert measured["QRS Axis"] == (52.0, "deg")
    status, _, _ = await get(consult.spec, f"/api/imaging/instances/{sop}/rendered")
    assert status == 400


async def test_a_series_shared_de_identified(served: tuple[Platform, Consult]) -> None:
    platform, consult = served
    paths = ct5n()
    status, body = await upload(consult.doc, consult.id, [(p.name, p.read_bytes()) for p in paths])
    assert status == 200 and body["accepted"] == 5
    series = body["results"][0]["series_uid"]
    status, data, headers = await get(
        consult.spec, f"/api/imaging/series/{series}/deidentified.zip"
    )
    assert status == 200 and headers["Content-Type"] == "application/zip"
    assert headers["X-Pixels-May-Identify"] == "true"  # the files do not say otherwise
    originals = [dcmread(p) for p in paths]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        shared = [dcmread(io.BytesIO(archive.read(name))) for name in archive.namelist()]
    assert len(shared) == 5
    assert len({str(ds.StudyInstanceUID) for ds in shared}) == 1  # one study still
    assert str(shared[0].StudyInstanceUID) != str(originals[0].StudyInstanceUID)
    assert {str(ds.PatientName) for ds in shared}.isdisjoint(
        {str(ds.PatientName) for ds in originals}
    )
    assert sorted(ds.PixelData for ds in shared) == sorted(ds.PixelData for ds in originals)
    exports = await audit_rows(platform, "imaging.export")
    assert [json.loads(r.detail)["deidentified"] for r in exports] == [True]
