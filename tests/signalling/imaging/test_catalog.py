"""A doctor of another facility who knows a study's UIDs (they are printed on
films and travel in HL7) tries to borrow or overwrite it by every ingest
path: the browser upload, STOW-RS with dicomweb-client, C-STORE. Nothing of
the victim's study becomes visible to them, the victim's objects stay
byte-identical, and each attempt is audited as refused."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from io import BytesIO
from pathlib import Path

import pytest
from dicomweb_client import DICOMwebClient
from pydicom import dcmread
from pydicom.uid import generate_uid
from requests import HTTPError
from sqlalchemy import select

from signalling.db.models import ConsultationStudy, FacilityLevel, ImagingInstance, Role, User
from signalling.imaging.keys import RECEIVER
from signalling.network.facilities import add_facility, pair
from signalling.network.staff import add_user
from signalling.platform import Platform
from tests.signalling.care_network import Member, member
from tests.signalling.conftest import PASSWORD
from tests.signalling.imaging_helpers import (
    audit_rows,
    c_store,
    ct5n,
    dataset_bytes,
    dicom_file,
    get,
    served_consult,
    upload,
)
from tests.signalling.rooms.test_manager import REQUEST, Consult


async def other_facility_doctor(platform: Platform, url: str) -> tuple[Member, str]:
    """A doctor of another district centre, with an open consultation of their own."""
    async with platform.db() as db:
        facility = await add_facility(
            db, code="TTYT-X", name="TTYT X", level=FacilityLevel.DISTRICT, province="VN"
        )
        await pair(db, central_code="BVBM", partner_code="TTYT-X", specialty=None)
        await add_user(
            db,
            username="x.doc",
            full_name="X DOC",
            role=Role.DOCTOR,
            password=PASSWORD,
            facility=facility,
            specialties=[],
        )
        await db.commit()
    attacker = await member(platform, url, "x.doc", online=False)
    status, body = await attacker.call("POST", "/api/consultations", REQUEST)
    assert status == 201, body
    return attacker, str(body["consultation"]["id"])


def _client(base: str, token: str) -> DICOMwebClient:
    return DICOMwebClient(url=base, headers={"Authorization": f"Bearer {token}"})


@pytest.fixture
async def victim(
    tmp_path: Path, database_url: str
) -> AsyncIterator[tuple[Platform, Consult, dict[str, bytes], int]]:
    """The district doctor's CT (5 slices) in their consultation; the C-STORE
    receiver on. Yields (platform, consult, original bytes by SOP UID, SCP port)."""
    async for platform, app, consult in served_consult(tmp_path, database_url, dicom_scp_port=0):
        originals = {str(dcmread(p).SOPInstanceUID): p.read_bytes() for p in ct5n()}
        status, body = await upload(
            consult.doc, consult.id, [(f"{i}.dcm", b) for i, b in enumerate(originals.values())]
        )
        assert status == 200 and body["accepted"] == 5, body
        assert app[RECEIVER].scp is not None
        yield platform, consult, originals, app[RECEIVER].scp.address[1]


async def _victim_unchanged(
    platform: Platform, consult: Consult, originals: dict[str, bytes]
) -> None:
    """What the victim's clinicians see: the same five objects, byte for byte,
    their own patient's name in the metadata, nothing else in the study."""
    ds = dcmread(BytesIO(next(iter(originals.values()))))
    study = str(ds.StudyInstanceUID)
    reader = _client(f"{consult.url}dicomweb/consultations/{consult.id}", consult.spec.token)
    whole = await asyncio.to_thread(reader.retrieve_study, study)
    assert {str(d.SOPInstanceUID) for d in whole} == set(originals)
    metadata = await asyncio.to_thread(reader.retrieve_study_metadata, study)
    assert {m["00100010"]["Value"][0]["Alphabetic"] for m in metadata} == {str(ds.PatientName)}
    async with platform.db() as db:
        rows = list(
            await db.scalars(select(ImagingInstance).where(ImagingInstance.study_uid == study))
        )
    assert {r.sop_uid: r.blob_sha256 for r in rows} == {
        sop: hashlib.sha256(data).hexdigest() for sop, data in originals.items()
    }
    for sop, data in originals.items():
        assert platform.blobs.read_bytes(hashlib.sha256(data).hexdigest()) == data
        status, rendered, _ = await get(consult.doc, f"/api/imaging/instances/{sop}/rendered")
        assert status == 200 and rendered


async def _attacker_sees_nothing(
    platform: Platform, attacker: Member, consult: Consult, study: str, sop: str
) -> None:
    """Every way to the victim's study is refused to the attacker, and each refusal is audited."""
    everywhere = _client(f"{consult.url}dicomweb", attacker.token)
    found = await asyncio.to_thread(everywhere.search_for_studies)
    assert study not in {s["0020000D"]["Value"][0] for s in found}
    for read in (
        everywhere.retrieve_study,
        everywhere.retrieve_study_metadata,
        everywhere.search_for_series,
    ):
        with pytest.raises(HTTPError) as refused:
            await asyncio.to_thread(read, study)
        assert refused.value.response.status_code == 404
    paths = (
        f"/api/imaging/instances/{sop}",
        f"/api/imaging/instances/{sop}/rendered",
        f"/api/imaging/instances/{sop}/pixel?x=1&y=1",
    )
    for path in paths:
        assert (await get(attacker, path))[0] == 404
    async with platform.db() as db:
        who = await db.scalar(select(User.id).where(User.username == "x.doc"))
    denied = [
        r
        for action in ("imaging.retrieve", "imaging.search", "imaging.read")
        for r in await audit_rows(platform, action)
        if r.outcome == "denied" and r.actor == f"user:{who}"
    ]
    assert sum(r.object_id == study for r in denied) == 3
    assert sum(r.object_id == sop for r in denied) == len(paths)
    assert all(r.ip == "127.0.0.1" for r in denied)


async def test_uids_of_another_facility_neither_join_nor_replace(
    victim: tuple[Platform, Consult, dict[str, bytes], int],
) -> None:
    platform, consult, originals, _ = victim
    attacker, own = await other_facility_doctor(platform, consult.url)
    try:
        victim_ds = dcmread(BytesIO(next(iter(originals.values()))))
        study, sop = str(victim_ds.StudyInstanceUID), str(victim_ds.SOPInstanceUID)

        # 1. a new object carrying the victim's StudyInstanceUID, to join the study
        joiner = dcmread(dicom_file("CT_small.dcm"))
        joiner.StudyInstanceUID = study
        joiner.SeriesInstanceUID = generate_uid()
        joiner.SOPInstanceUID = generate_uid()
        # 2. an object carrying the victim's SOPInstanceUID, to replace a slice
        replacer = dcmread(dicom_file("CT_small.dcm"))
        replacer.PatientName = "ATTACKER^EVE"
        replacer.StudyInstanceUID = study
        replacer.SeriesInstanceUID = str(victim_ds.SeriesInstanceUID)
        replacer.SOPInstanceUID = sop
        # 3. the same, in a study of the attacker's own
        squatter = dcmread(dicom_file("CT_small.dcm"))
        squatter.SOPInstanceUID = sop
        attempts = [*map(dataset_bytes, [joiner, replacer, squatter]), originals[sop]]

        status, body = await upload(
            attacker, own, [(f"a{i}.dcm", data) for i, data in enumerate(attempts)]
        )
        assert status == 200, body
        assert [r["status"] for r in body["results"]] == ["refused"] * 4, body
        assert {r["code"] for r in body["results"]} == {"uid_conflict"}

        stow = _client(f"{consult.url}dicomweb/consultations/{own}", attacker.token)
        with pytest.raises(HTTPError) as refused:
            await asyncio.to_thread(
                stow.store_instances, [dcmread(BytesIO(data)) for data in attempts]
            )
        assert refused.value.response.status_code == 409

        await _attacker_sees_nothing(platform, attacker, consult, study, sop)
        await _victim_unchanged(platform, consult, originals)
        async with platform.db() as db:
            links = set(
                await db.scalars(
                    select(ConsultationStudy.consultation_id).where(
                        ConsultationStudy.study_uid == study
                    )
                )
            )
        assert links == {consult.id}
        denied = await audit_rows(platform, "imaging.uid_conflict")
        assert len(denied) == 8 and {r.outcome for r in denied} == {"denied"}
        assert {r.object_id for r in denied} >= {study}
        assert all(r.ip for r in denied)
    finally:
        await attacker.close()


async def test_the_care_team_resends_idempotently_and_never_overwrites(
    victim: tuple[Platform, Consult, dict[str, bytes], int],
) -> None:
    platform, consult, originals, _ = victim
    sop, data = next(iter(originals.items()))
    # the specialist (another facility, but a participant) sends the same bytes again
    status, body = await upload(consult.spec, consult.id, [("again.dcm", data)])
    assert status == 200 and body["accepted"] == 1, body
    # other bytes under a stored SOP Instance UID: refused, the stored one kept
    changed = dcmread(BytesIO(data))
    changed.PatientName = "SOMEONE^ELSE"
    status, body = await upload(consult.doc, consult.id, [("changed.dcm", dataset_bytes(changed))])
    assert body["results"][0]["status"] == "refused", body
    assert body["results"][0]["code"] == "duplicate"
    await _victim_unchanged(platform, consult, originals)
    assert [r.outcome for r in await audit_rows(platform, "imaging.duplicate")] == ["denied"]
    assert sop in body["results"][0]["reason"]


async def test_c_store_cannot_borrow_a_study_either(
    victim: tuple[Platform, Consult, dict[str, bytes], int],
) -> None:
    platform, consult, originals, port = victim
    attacker, _ = await other_facility_doctor(platform, consult.url)
    try:
        # the attacker's facility has a patient whose identifier the modality sends
        status, patient = await attacker.call(
            "POST", "/api/patients", {"full_name": "Eve", "sex": "female", "identifier": "X-1"}
        )
        assert status == 201, patient
        status, body = await attacker.call(
            "POST", "/api/consultations", {**REQUEST, "patient_id": patient["patient"]["id"]}
        )
        assert status == 201, body
        victim_ds = dcmread(BytesIO(next(iter(originals.values()))))
        joiner = dcmread(dicom_file("CT_small.dcm"))
        joiner.PatientID, joiner.PatientName = "X-1", "EVE"
        joiner.StudyInstanceUID = str(victim_ds.StudyInstanceUID)
        joiner.SeriesInstanceUID = generate_uid()
        joiner.SOPInstanceUID = generate_uid()
        statuses = await asyncio.to_thread(c_store, port, [joiner], ae_title="X_SCANNER")
        assert statuses[0] != 0  # a failure status: the sender knows
        await _attacker_sees_nothing(
            platform,
            attacker,
            consult,
            str(victim_ds.StudyInstanceUID),
            str(victim_ds.SOPInstanceUID),
        )
        await _victim_unchanged(platform, consult, originals)
        denied = await audit_rows(platform, "imaging.uid_conflict")
        assert [r.actor for r in denied] == ["dicom:X_SCANNER"]
    finally:
        await attacker.close()
