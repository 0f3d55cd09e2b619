"""Run inside a loopback-only network namespace by test_imaging_orthanc.py.

The platform (its app, with the C-STORE receiver on) and a real Orthanc:
the CT series is C-STOREd into Orthanc, then Orthanc is asked (C-MOVE) to
send the study to the platform. Prints one JSON line with what reached the
consultation's case file.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from aiohttp import web
from pydicom import dcmread
from pydicom.dataset import Dataset
from pynetdicom import AE
from pynetdicom.sop_class import (  # type: ignore[attr-defined]
    StudyRootQueryRetrieveInformationModelMove,
)
from sqlalchemy import select

from signalling.app import build_app
from signalling.db.models import (
    AuditEvent,
    Consultation,
    ConsultationStudy,
    ConsultKind,
    ConsultStatus,
    FacilityLevel,
    ImagingInstance,
    Patient,
    Role,
    Sex,
    Urgency,
)
from signalling.imaging.keys import RECEIVER
from signalling.network.facilities import add_facility
from signalling.network.staff import add_user
from signalling.platform import Platform, open_platform
from signalling.settings import load_settings
from tests.dicom_viewer.orthanc_move import ORTHANC_AET, SCU_AET, _free_port, _wait_for_echo


async def _consultation(platform: Platform, patient_identifier: str) -> str:
    """The patient of the CT5N files (Doe^Peter, male): Orthanc sends that patient's study."""
    async with platform.db() as db:
        facility = await add_facility(
            db, code="TTYT-MC", name="TTYT", level=FacilityLevel.DISTRICT, province="VN"
        )
        doctor = await add_user(
            db,
            username="mc.doc",
            full_name="Doctor",
            role=Role.DOCTOR,
            password="interop-password-1",
            facility=facility,
        )
        patient = Patient(
            full_name="Peter Doe",
            sex=Sex.MALE,
            identifier=patient_identifier,
            home_facility_id=facility.id,
        )
        db.add(patient)
        await db.flush()
        consultation = Consultation(
            id=str(uuid.uuid4()),
            kind=ConsultKind.IMAGING,
            specialty="radiology",
            urgency=Urgency.URGENT,
            question="CT",
            patient_id=patient.id,
            requester_id=doctor.id,
            facility_id=facility.id,
            status=ConsultStatus.LIVE,
            room="interop-room",
        )
        db.add(consultation)
        await db.commit()
        return consultation.id


def _orthanc_sends(orthanc_port: int, platform_port: int, sent: list[Dataset]) -> dict[str, Any]:
    """Blocking DIMSE: store into Orthanc, then have Orthanc move to the platform."""
    ae = AE(ae_title=SCU_AET)
    for ds in sent:
        ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", orthanc_port, ae_title=ORTHANC_AET)
    assert assoc.is_established
    store_status = [int(assoc.send_c_store(ds).Status) for ds in sent]
    assoc.release()
    move_ae = AE(ae_title=SCU_AET)
    move_ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = move_ae.associate("127.0.0.1", orthanc_port, ae_title=ORTHANC_AET)
    assert assoc.is_established
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = sent[0].StudyInstanceUID
    move_status = [
        int(status.Status)
        for status, _ in assoc.send_c_move(
            query, "TELEHEALTH", StudyRootQueryRetrieveInformationModelMove
        )
        if status
    ]
    assoc.release()
    return {"store_status": store_status, "move_status": move_status}


async def main(paths: list[Path]) -> None:
    sent = [dcmread(p) for p in paths]
    with tempfile.TemporaryDirectory() as work:
        settings = load_settings(None, data_dir=Path(work) / "data", dicom_scp_port=0)
        async with open_platform(settings, migrate=True) as platform:
            consultation_id = await _consultation(platform, str(sent[0].PatientID))
            app = build_app(platform)
            runner = web.AppRunner(app)
            await runner.setup()  # starts the receiver
            scp = app[RECEIVER].scp
            assert scp is not None
            orthanc_port = _free_port()
            config = {
                "Name": "interop",
                "StorageDirectory": f"{work}/orthanc",
                "IndexDirectory": f"{work}/orthanc",
                "HttpServerEnabled": False,
                "RemoteAccessAllowed": False,
                "DicomServerEnabled": True,
                "DicomAet": ORTHANC_AET,
                "DicomPort": orthanc_port,
                "DicomModalities": {
                    "platform": ["TELEHEALTH", "127.0.0.1", scp.address[1]],
                    "modality": [SCU_AET, "127.0.0.1", 104],
                },
                "Plugins": [],
            }
            (Path(work) / "orthanc.json").write_text(json.dumps(config))
            orthanc = subprocess.Popen(  # noqa: ASYNC220 (started once)
                ["Orthanc", f"{work}/orthanc.json"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                await asyncio.to_thread(_wait_for_echo, orthanc_port, orthanc)
                report = await asyncio.to_thread(_orthanc_sends, orthanc_port, scp.address[1], sent)
            finally:
                orthanc.terminate()
                await asyncio.to_thread(orthanc.wait, 30)
                await runner.cleanup()
            async with platform.db() as db:
                linked = list(
                    await db.scalars(
                        select(ConsultationStudy.study_uid).where(
                            ConsultationStudy.consultation_id == consultation_id
                        )
                    )
                )
                instances = list(await db.scalars(select(ImagingInstance.sop_uid)))
                actors = sorted(
                    set(
                        await db.scalars(
                            select(AuditEvent.actor).where(AuditEvent.action == "imaging.store")
                        )
                    )
                )
    print(
        json.dumps({**report, "linked": linked, "instances": sorted(instances), "actors": actors})
    )


if __name__ == "__main__":
    asyncio.run(main([Path(arg) for arg in sys.argv[1:]]))
