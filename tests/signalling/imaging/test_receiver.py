"""A modality C-STOREs a CT into the platform: it lands in the case file of
the open consultation for that patient; an unknown patient's study is kept
but unattached. The receiver is off unless configured."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import CTImageStorage, Verification  # type: ignore[attr-defined]
from sqlalchemy import select

from signalling.db.models import ConsultationStudy, ImagingStudy
from signalling.imaging.keys import RECEIVER
from tests.signalling.imaging_helpers import audit_rows, dicom_file, served_consult
from tests.signalling.rooms.test_manager import REQUEST


def _send(port: int, datasets: list[Dataset]) -> list[int]:
    ae = AE(ae_title="CT_SCANNER")
    ae.add_requested_context(Verification)
    ae.add_requested_context(CTImageStorage)
    assoc = ae.associate("127.0.0.1", port, ae_title="TELEHEALTH")
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0
        return [int(assoc.send_c_store(ds).Status) for ds in datasets]
    finally:
        assoc.release()


async def test_c_store_lands_in_the_patients_consultation(
    tmp_path: Path, database_url: str
) -> None:
    async for platform, app, consult in served_consult(tmp_path, database_url, dicom_scp_port=0):
        scp = app[RECEIVER].scp
        assert scp is not None
        _, port = scp.address
        # a consultation for patient 0123-CT at the doctor's hospital
        status, patient = await consult.doc.call(
            "POST",
            "/api/patients",
            {"full_name": "Lò Thị Mai", "sex": "female", "identifier": "0123-CT"},
        )
        assert status == 201, patient
        status, body = await consult.doc.call(
            "POST", "/api/consultations", {**REQUEST, "patient_id": patient["patient"]["id"]}
        )
        assert status == 201, body
        cid = body["consultation"]["id"]

        ct = dcmread(dicom_file("CT_small.dcm"))
        ct.PatientID, ct.PatientName, ct.PatientSex = "0123-CT", "LO^THI^MAI", "F"
        stranger = dcmread(dicom_file("CT_small.dcm"))
        stranger.PatientID = "NOT-A-PATIENT"
        stranger.StudyInstanceUID = "1.2.826.0.1.3680043.8.498.1"
        stranger.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.2"
        stranger.SOPInstanceUID = "1.2.826.0.1.3680043.8.498.3"
        statuses = await asyncio.to_thread(_send, port, [ct, stranger])
        assert statuses == [0, 0]

        status, listing = await consult.doc.call("GET", f"/api/consultations/{cid}/imaging")
        assert status == 200
        assert [s["study_uid"] for s in listing["studies"]] == [str(ct.StudyInstanceUID)]
        instances = listing["studies"][0]["series"][0]["instances"]
        assert [i["sop_uid"] for i in instances] == [str(ct.SOPInstanceUID)]

        async with platform.db() as db:
            kept = await db.get(ImagingStudy, stranger.StudyInstanceUID)
            links = await db.scalars(
                select(ConsultationStudy).where(
                    ConsultationStudy.study_uid == stranger.StudyInstanceUID
                )
            )
            assert kept is not None and list(links) == []
        stores = await audit_rows(platform, "imaging.store")
        assert {(r.actor, r.object_id) for r in stores} == {
            ("dicom:CT_SCANNER", str(ct.StudyInstanceUID)),
            ("dicom:CT_SCANNER", stranger.StudyInstanceUID),
        }


async def test_receiver_is_off_by_default(tmp_path: Path) -> None:
    async for _, app, _ in served_consult(tmp_path, None):
        assert app[RECEIVER].scp is None
