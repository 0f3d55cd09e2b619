"""A CT across three dropped links, resumed from HEAD each time, then filed into the
consultation by naming the upload; held and refused uploads; attachments the same way."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread

from tests.signalling.imaging_helpers import audit_rows, dicom_file, get, of_patient, served_consult
from tests.signalling.uploads.helpers import create, dropped_patch, head, offset_of, patch, settled

CHUNK = 8192


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Any]:
    async for platform, app, consult in served_consult(tmp_path, None, with_patient=True):
        yield platform, app, consult


async def uploaded(who: Any, data: bytes, name: str) -> str:
    status, upload_id = await create(who, len(data), name)
    assert status == 201, upload_id
    assert (await patch(who, upload_id, 0, data))[0] == 204
    return str(upload_id)


async def file_imaging(who: Any, consultation: str, body: dict[str, Any]) -> tuple[int, Any]:
    status, answer = await who.call("POST", f"/api/consultations/{consultation}/imaging", body)
    return int(status), answer


async def test_a_ct_resumes_across_three_drops_and_is_filed_with_its_patient(
    served: Any,
) -> None:
    platform, app, consult = served
    data = of_patient(dicom_file("CT_small.dcm"), "079123", "LO^VAN^PAO", "M")
    status, upload_id = await create(consult.doc, len(data), "CT_small.dcm")
    assert status == 201
    offset, drops = 0, 0
    while offset < len(data):
        chunk = data[offset : offset + 3 * CHUNK]
        if drops < 3:
            # the link drops part way through this PATCH's body
            await dropped_patch(consult.doc, upload_id, offset, chunk, sent=len(chunk) // 2)
            drops += 1
            await settled(app, upload_id)
            resumed = await offset_of(consult.doc, upload_id)  # where to go on from
            assert offset < resumed <= offset + len(chunk)
            offset = resumed
            continue
        status, headers = await patch(consult.doc, upload_id, offset, chunk)
        assert status == 204
        offset = int(headers["Upload-Offset"])
    assert drops == 3
    assert (await head(consult.doc, upload_id))[1]["Upload-Offset"] == str(len(data))

    status, body = await file_imaging(consult.doc, consult.id, {"uploads": [upload_id]})
    assert status == 200, body
    (result,) = body["results"]
    assert result["status"] == "accepted" and result["file"] == "CT_small.dcm"
    assert result["upload"] == upload_id
    assert result["sop_uid"] == str(dcmread(dicom_file("CT_small.dcm")).SOPInstanceUID)
    assert (await head(consult.doc, upload_id))[0] == 404  # filed: the upload is gone

    status, raw, _ = await get(consult.spec, f"/api/consultations/{consult.id}/imaging")
    assert status == 200
    listing = json.loads(raw)
    (study,) = listing["studies"]
    assert study["patient_id"] == "079123"
    assert listing["case_patient"]["id"] == "079123"
    assert [i["sop_uid"] for i in study["series"][0]["instances"]] == [result["sop_uid"]]
    rows = await audit_rows(platform, "imaging.upload")
    assert [(r.object_id, r.outcome) for r in rows] == [(result["study_uid"], "ok")]


async def test_a_held_upload_stays_until_confirmed(served: Any) -> None:
    _, _, consult = served
    other = of_patient(dicom_file("CT_small.dcm"), "999999", "NGUYEN^THI^AN", "F")
    upload_id = await uploaded(consult.doc, other, "other.dcm")
    status, body = await file_imaging(consult.doc, consult.id, {"uploads": [upload_id]})
    assert status == 200 and body["held"] == 1, body
    assert body["results"][0]["upload"] == upload_id
    assert (await head(consult.doc, upload_id))[0] == 200  # kept for the confirmation
    status, body = await file_imaging(
        consult.doc, consult.id, {"uploads": [upload_id], "confirm_patient": True}
    )
    assert status == 200 and body["accepted"] == 1, body
    assert (await head(consult.doc, upload_id))[0] == 404


async def test_unfinished_foreign_or_unknown_uploads_file_nothing(served: Any) -> None:
    platform, _, consult = served
    data = of_patient(dicom_file("CT_small.dcm"), "079123", "LO^VAN^PAO", "M")
    _, unfinished = await create(consult.doc, len(data))
    status, body = await file_imaging(consult.doc, consult.id, {"uploads": [unfinished]})
    assert status == 409 and body["code"] == "incomplete"
    theirs = await uploaded(consult.spec, data, "CT_small.dcm")
    status, body = await file_imaging(consult.doc, consult.id, {"uploads": [theirs]})
    assert status == 404
    assert (await head(consult.spec, theirs))[0] == 200  # the owner still has it
    refused = await audit_rows(platform, "imaging.upload")
    assert [(r.outcome, json.loads(r.detail)["status"]) for r in refused] == [
        ("denied", 409),
        ("denied", 404),
    ]
    status, raw, _ = await get(consult.spec, f"/api/consultations/{consult.id}/imaging")
    assert json.loads(raw)["studies"] == []


async def test_a_refused_upload_gets_the_multipart_verdict(served: Any) -> None:
    _, _, consult = served
    upload_id = await uploaded(consult.doc, b"not a dicom file at all" * 10, "x.dcm")
    status, body = await file_imaging(consult.doc, consult.id, {"uploads": [upload_id]})
    assert status == 200 and body["refused"] == 1
    (result,) = body["results"]
    assert result["status"] == "refused" and result["code"] == "invalid" and result["reason"]


async def test_attachments_from_uploads(served: Any) -> None:
    _, _, consult = served
    status, body = await consult.doc.call("GET", f"/api/consultations/{consult.id}/case-file")
    assert status == 200, body
    case_file = body["id"]
    text = "Kết quả xét nghiệm: Hb 13.2 g/dL\n".encode() * 2000
    good = await uploaded(consult.doc, text, "xet-nghiem.txt")
    bad = await uploaded(consult.doc, text, "xet-nghiem.pdf")  # the name lies
    status, body = await consult.doc.call(
        "POST", f"/api/case-files/{case_file}/attachments", {"uploads": [good, bad]}
    )
    assert status == 201, body
    verdicts = {r["upload"]: r for r in body["results"]}
    assert verdicts[good]["status"] == "accepted" and verdicts[good]["size"] == len(text)
    assert verdicts[bad]["status"] == "refused"
    status, raw, _ = await get(
        consult.doc, f"/api/case-files/{case_file}/attachments/{verdicts[good]['id']}"
    )
    assert status == 200 and raw == text
    assert (await head(consult.doc, good))[0] == 404
