"""Uploads from the browser: good files kept, bad ones refused with a reason,
the case file listed in anatomical order, access for participants only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from pydicom import dcmread

from signalling.platform import Platform
from tests.signalling.care_network import member
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

BAD_FILES = [
    "no_meta.dcm",
    "rtstruct.dcm",
    "OT-PAL-8-face.dcm",
    "zipMR.gz",
    "MR_truncated.dcm",
    "badVR.dcm",
    "meta_missing_tsyntax.dcm",
    "rtplan_truncated.dcm",
    "emri_small_jpeg_2k_lossless_too_short.dcm",
]


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Platform, Consult]]:
    async for platform, _, consult in served_consult(tmp_path, database_url):
        yield platform, consult


async def test_bad_files_refused_with_reasons_good_ones_kept(
    served: tuple[Platform, Consult],
) -> None:
    platform, consult = served
    good = ct5n()
    files = [(p.name, p.read_bytes()) for p in good[:2]]
    files += [(name, dicom_file(name).read_bytes()) for name in BAD_FILES]
    files += [(p.name, p.read_bytes()) for p in good[2:]]
    status, body = await upload(consult.doc, consult.id, files)
    assert status == 200, body
    verdicts = {r["file"]: r for r in body["results"]}
    assert [r["file"] for r in body["results"]] == [name for name, _ in files]
    for name in BAD_FILES:
        assert verdicts[name]["status"] == "refused", verdicts[name]
        assert len(verdicts[name]["reason"]) > 5
    for path in good:
        assert verdicts[path.name]["status"] == "accepted"
        assert verdicts[path.name]["sop_uid"] == str(dcmread(path).SOPInstanceUID)
    assert (body["accepted"], body["refused"]) == (5, len(BAD_FILES))

    # the case file holds the five slices, in anatomical order
    status, raw, _ = await get(consult.spec, f"/api/consultations/{consult.id}/imaging")
    assert status == 200
    studies = json.loads(raw)["studies"]
    assert len(studies) == 1 and len(studies[0]["series"]) == 1
    listed = studies[0]["series"][0]["instances"]
    by_position = sorted(
        (dcmread(p) for p in good),
        key=lambda ds: -float(ds.ImagePositionPatient[2]),  # axial: highest first
    )
    assert [i["sop_uid"] for i in listed] == [str(ds.SOPInstanceUID) for ds in by_position]

    study_uid = studies[0]["study_uid"]
    uploads = await audit_rows(platform, "imaging.upload")
    assert [(r.object_id, r.outcome) for r in uploads] == [
        (study_uid, "ok"),
        (consult.id, "denied"),
    ]
    assert len(json.loads(uploads[1].detail)["refused"]) == len(BAD_FILES)
    reads = await audit_rows(platform, "imaging.read")
    assert [r.object_id for r in reads] == [study_uid]
    assert reads[0].actor.startswith("user:")


async def test_non_participant_cannot_see_or_add(served: tuple[Platform, Consult]) -> None:
    platform, consult = served
    slice_ = ct5n()[0]
    uploaded = await upload_one(consult.doc, consult.id, slice_)
    sop, series = uploaded["sop_uid"], uploaded["series_uid"]
    outsider = await member(platform, consult.url, "hue.cardio")  # another hospital
    try:
        for path in (
            f"/api/consultations/{consult.id}/imaging",
            f"/api/imaging/series/{series}",
            f"/api/imaging/series/{series}/thumbnail",
            f"/api/imaging/instances/{sop}",
            f"/api/imaging/instances/{sop}/rendered",
            f"/api/imaging/instances/{sop}/pixel?row=1&column=1",
        ):
            status, raw, _ = await get(outsider, path)
            assert status == 404, (path, raw)
        status, refused = await upload(outsider, consult.id, [("x.dcm", slice_.read_bytes())])
        assert status == 404, refused
        # the participant sees it
        status, _, _ = await get(consult.spec, f"/api/imaging/instances/{sop}/rendered")
        assert status == 200
    finally:
        await outsider.close()


async def test_oversized_file_refused_and_the_batch_goes_on(
    tmp_path: Path, database_url: str
) -> None:
    async for _, _, consult in served_consult(tmp_path, database_url, max_upload_mb=1):
        small = ct5n()[0]
        payload = bytes(2 * 1024 * 1024)
        status, body = await upload(
            consult.doc,
            consult.id,
            [("huge.dcm", payload), (small.name, small.read_bytes())],
        )
        assert status == 200, body
        assert body["results"][0] == {
            "file": "huge.dcm",
            "status": "refused",
            "reason": "larger than 1 MB",
            "code": "too_large",
        }
        assert body["results"][1]["status"] == "accepted"


async def test_upload_needs_multipart(served: tuple[Platform, Consult]) -> None:
    _, consult = served
    # JSON names completed uploads (resumable, see signalling/uploads); an empty one is refused
    status, body = await consult.doc.call("POST", f"/api/consultations/{consult.id}/imaging", {})
    assert status == 400 and body["field"] == "uploads", body
    empty = aiohttp.MultipartWriter("form-data")
    url = f"{consult.url}api/consultations/{consult.id}/imaging"
    async with consult.doc.http.post(url, data=empty) as response:
        assert response.status == 400
        assert (await response.json())["error"] == "send at least one file"
