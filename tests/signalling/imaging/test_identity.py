"""Images of another patient do not go in silently: every ingest path checks
the object's PatientID, name, birth date and sex against the case file's
patient (Lò Văn Páo, male, 079123); a difference is held, nothing stored,
until the uploader confirms, and both the hold and the confirmation are
audited. C-STORE cannot confirm: a mismatch is filed out of sight."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from requests import HTTPError
from sqlalchemy import select

from signalling.db.models import ConsultationStudy, ImagingInstance
from signalling.imaging.keys import RECEIVER
from signalling.platform import Platform
from tests.signalling.imaging_helpers import (
    audit_rows,
    c_store,
    dataset_bytes,
    dicom_file,
    served_consult,
    upload,
)
from tests.signalling.rooms.test_manager import Consult

CASE = {"id": "079123", "name": "Lò Văn Páo", "birth_date": None, "sex": "male"}


def _ct(**identity: str) -> Dataset:
    """CT_small as a new object (fresh UIDs) with the identity given (empty deletes)."""
    ds = dcmread(dicom_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = (generate_uid() for _ in "abc")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    for keyword, value in identity.items():
        if value:
            setattr(ds, keyword, value)
        elif keyword in ds:
            delattr(ds, keyword)
    return ds


OURS = {"PatientID": "079123", "PatientName": "LO^VAN^PAO", "PatientSex": "M"}


@pytest.fixture
async def case(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Platform, Any, Consult]]:
    async for platform, app, consult in served_consult(
        tmp_path, database_url, with_patient=True, dicom_scp_port=0
    ):
        yield platform, app, consult


async def _studies(consult: Consult) -> list[str]:
    status, listing = await consult.doc.call("GET", f"/api/consultations/{consult.id}/imaging")
    assert status == 200, listing
    assert listing["case_patient"] == CASE
    return [s["study_uid"] for s in listing["studies"]]


async def _stored(platform: Platform, sop: str) -> bool:
    async with platform.db() as db:
        return await db.get(ImagingInstance, sop) is not None


async def test_the_patients_own_images_go_straight_in(
    case: tuple[Platform, Any, Consult],
) -> None:
    platform, _, consult = case
    ds = _ct(**OURS, SpecificCharacterSet="ISO_IR 192")  # UTF-8, for the institution's name
    ds.PatientAge, ds.InstitutionName = "052Y", "TTYT Mường Chà"
    status, body = await upload(consult.doc, consult.id, [("ct.dcm", dataset_bytes(ds))])
    assert status == 200 and body["accepted"] == 1, body
    _, listing = await consult.doc.call("GET", f"/api/consultations/{consult.id}/imaging")
    study = listing["studies"][0]
    # What the viewer's corners show, from the object itself.
    assert (study["patient_name"], study["patient_id"], study["patient_sex"]) == (
        "LO^VAN^PAO",
        "079123",
        "M",
    )
    assert study["patient_age"] == "052Y" and study["institution"] == "TTYT Mường Chà"
    assert study["study_date"] == str(ds.StudyDate)
    assert await audit_rows(platform, "imaging.patient_mismatch") == []


@pytest.mark.parametrize(
    ("identity", "why"),
    [
        ({}, "PatientID '1CT1'"),  # the file as it comes: another patient
        ({**OURS, "PatientName": "NGUYEN^THI^AN"}, "names share no word"),
        ({**OURS, "PatientSex": "F"}, "sex F"),
        ({**OURS, "PatientBirthDate": "19700101"}, None),  # the case file has no birth date
        ({"PatientID": "", "PatientName": ""}, "no patient identity"),
        ({"PatientID": "", "PatientName": "LO^VAN^PAO^B"}, "no PatientID"),
    ],
)
async def test_another_identity_is_held_until_the_uploader_confirms(
    case: tuple[Platform, Any, Consult], identity: dict[str, str], why: str | None
) -> None:
    platform, _, consult = case
    ds = _ct(**identity)
    data = dataset_bytes(ds)
    status, body = await upload(consult.doc, consult.id, [("ct.dcm", data)])
    assert status == 200, body
    result = body["results"][0]
    if why is None:
        assert result["status"] == "accepted", result
        return
    assert (result["status"], result["code"], body["held"]) == ("held", "patient_mismatch", 1)
    assert why in result["reason"], result
    assert result["case_patient"] == CASE
    assert result["object_patient"]["id"] == (str(ds.PatientID) if "PatientID" in ds else None)
    # Held is nothing stored: not listed, not in the catalog, not in the blobs.
    assert await _studies(consult) == []
    assert not await _stored(platform, str(ds.SOPInstanceUID))
    held = await audit_rows(platform, "imaging.patient_mismatch")
    assert [(r.outcome, r.ip) for r in held] == [("denied", "127.0.0.1")]

    # The uploader confirms: filed, listed, the decision on record.
    form = aiohttp.FormData()
    form.add_field("confirm_patient", "yes")
    form.add_field("files", data, filename="ct.dcm", content_type="application/dicom")
    async with consult.doc.http.post(
        f"{consult.url}api/consultations/{consult.id}/imaging", data=form
    ) as response:
        body = await response.json()
    assert body["accepted"] == 1, body
    assert await _studies(consult) == [str(ds.StudyInstanceUID)]
    confirmed = await audit_rows(platform, "imaging.patient_confirmed")
    assert len(confirmed) == 1 and confirmed[0].actor.startswith("user:")


async def test_stow_holds_another_patient_and_takes_the_confirmed(
    case: tuple[Platform, Any, Consult],
) -> None:
    platform, _, consult = case
    ds = _ct()
    root = f"{consult.url}dicomweb/consultations/{consult.id}"
    client = DICOMwebClient(url=root, headers={"Authorization": f"Bearer {consult.doc.token}"})
    with pytest.raises(HTTPError) as refused:
        await asyncio.to_thread(client.store_instances, [ds])
    assert refused.value.response.status_code == 409
    failed = refused.value.response.json()["00081198"]["Value"][0]
    assert "confirm_patient=yes" in failed["0040A160"]["Value"][0]
    assert failed["00081155"]["Value"] == [str(ds.SOPInstanceUID)]
    assert not await _stored(platform, str(ds.SOPInstanceUID))

    async with consult.doc.http.post(
        f"{consult.url}dicomweb/consultations/{consult.id}/studies?confirm_patient=yes",
        data=_multipart_related(dataset_bytes(ds)),
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=XyZ'},
    ) as response:
        assert response.status == 200, await response.text()
    assert await _studies(consult) == [str(ds.StudyInstanceUID)]
    assert [r.outcome for r in await audit_rows(platform, "imaging.patient_confirmed")] == ["ok"]


def _multipart_related(data: bytes) -> bytes:
    return b"--XyZ\r\nContent-Type: application/dicom\r\n\r\n" + data + b"\r\n--XyZ--\r\n"


async def test_c_store_files_a_mismatch_out_of_sight(
    case: tuple[Platform, Any, Consult],
) -> None:
    platform, app, consult = case
    port = app[RECEIVER].scp.address[1]
    ours = _ct(**OURS)
    # The modality sends the case's PatientID, but another patient's name and sex.
    mixed = _ct(PatientID="079123", PatientName="TRAN^THI^BE", PatientSex="F")
    assert await asyncio.to_thread(c_store, port, [ours, mixed], ae_title="CT_MUONGCHA") == [0, 0]
    assert await _studies(consult) == [str(ours.StudyInstanceUID)]
    # Kept (the sender was told it was stored) but attached to no consultation.
    assert await _stored(platform, str(mixed.SOPInstanceUID))
    async with platform.db() as db:
        links = list(
            await db.scalars(
                select(ConsultationStudy).where(
                    ConsultationStudy.study_uid == str(mixed.StudyInstanceUID)
                )
            )
        )
    assert links == []
    held = await audit_rows(platform, "imaging.patient_mismatch")
    assert [r.actor for r in held] == ["dicom:CT_MUONGCHA"]
