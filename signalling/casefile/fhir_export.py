"""A consultation as a FHIR bundle, built and validated with fhir.resources (R4B, 4.3.0).

R4B is the maintained successor of R4 with the same resources used here;
every resource is validated by its model before it enters the bundle.
Entries are named by deterministic ``urn:uuid`` values, so exporting the
same consultation twice gives the same references.
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.diagnosticreport import DiagnosticReport
from fhir.resources.R4B.documentreference import DocumentReference
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.endpoint import Endpoint
from fhir.resources.R4B.imagingstudy import ImagingStudy as FhirImagingStudy
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.practitioner import Practitioner
from fhir.resources.resource import Resource
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.casefile.documents import case_file_for, overview
from signalling.db.models import (
    Consultation,
    ConsultationStudy,
    ConsultStatus,
    Facility,
    ImagingInstance,
    ImagingSeries,
    ImagingStudy,
    Participant,
    User,
)
from signalling.db.recording_models import Recording, RecordingConsent

NAMESPACE = uuid.UUID("6f1c2b1e-6c55-4c8e-9a57-2f1a1c7e0b11")
ENCOUNTER_STATUS = {
    ConsultStatus.REQUESTED: "planned",
    ConsultStatus.SCHEDULED: "planned",
    ConsultStatus.LIVE: "in-progress",
    ConsultStatus.ENDED: "finished",
    ConsultStatus.CANCELLED: "cancelled",
}
APPOINTMENT_STATUS = {
    ConsultStatus.SCHEDULED: "booked",
    ConsultStatus.LIVE: "arrived",
    ConsultStatus.ENDED: "fulfilled",
    ConsultStatus.CANCELLED: "cancelled",
    ConsultStatus.REQUESTED: "proposed",
}


def _urn(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{key}')}"


def _text_attachment(title: str, text: str) -> dict[str, Any]:
    return {
        "contentType": "text/plain; charset=utf-8",
        "title": title,
        "data": base64.b64encode(text.encode()).decode(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _note_text(kind: str, body: dict[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in body.items() if v not in (None, ""))


class _BundleBuilder:
    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def add(self, model: type[Any], url: str, data: dict[str, Any]) -> str:
        resource: Resource = model.model_validate(data)  # raises if it is not valid FHIR
        self.entries.append({"fullUrl": url, "resource": json.loads(resource.model_dump_json())})
        return url


async def consultation_bundle(db: AsyncSession, c: Consultation, public_url: str) -> dict[str, Any]:
    b = _BundleBuilder()
    facility = await db.get(Facility, c.facility_id)
    assert facility is not None
    org = b.add(
        Organization,
        _urn("org", facility.code),
        {
            "identifier": [{"system": "urn:telehealth:facility", "value": facility.code}],
            "name": facility.name,
        },
    )
    patient_ref = None
    case = None
    if c.patient_id is not None:
        case_file = await case_file_for(db, c)
        case = await overview(db, case_file)
        p = case["patient"]
        patient_ref = b.add(
            FhirPatient,
            _urn("patient", str(p["id"])),
            {
                "identifier": [
                    {
                        "system": f"urn:telehealth:facility:{facility.code}:patient",
                        "value": p["identifier"],
                    }
                ],
                "name": [{"text": p["full_name"]}],
                "gender": p["sex"],
                **({"birthDate": p["date_of_birth"]} if p["date_of_birth"] else {}),
                "managingOrganization": {"reference": org},
            },
        )

    people = list(
        await db.execute(
            select(User, Participant.part)
            .join(Participant, Participant.user_id == User.id)
            .where(Participant.consultation_id == c.id)
            .order_by(User.id)
        )
    )
    practitioners: dict[int, str] = {}
    for user, _part in people:
        practitioners[user.id] = b.add(
            Practitioner,
            _urn("practitioner", user.username),
            {
                "identifier": [{"system": "urn:telehealth:user", "value": user.username}],
                "name": [{"text": user.full_name}],
            },
        )
    subject = {"subject": {"reference": patient_ref}} if patient_ref else {}
    encounter = b.add(
        Encounter,
        _urn("encounter", c.id),
        {
            "identifier": [{"system": "urn:telehealth:consultation", "value": c.id}],
            "status": ENCOUNTER_STATUS[c.status],
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "VR",
                "display": "virtual",
            },
            "serviceType": {"text": c.kind.value.replace("_", " ")},
            "priority": {"text": c.urgency.value},
            **subject,
            "participant": [
                {"type": [{"text": part}], "individual": {"reference": practitioners[user.id]}}
                for user, part in people
            ],
            **(
                {
                    "period": {
                        k: v
                        for k, v in (("start", _iso(c.started_at)), ("end", _iso(c.ended_at)))
                        if v
                    }
                }
                if c.started_at
                else {}
            ),
            "reasonCode": [{"text": c.question}],
            "serviceProvider": {"reference": org},
        },
    )
    if c.scheduled_for is not None:
        b.add(
            Appointment,
            _urn("appointment", c.id),
            {
                "status": APPOINTMENT_STATUS[c.status],
                "start": _iso(c.scheduled_for),
                "end": _iso(c.ended_at or c.scheduled_for + timedelta(minutes=30)),
                "participant": [
                    *(
                        [{"actor": {"reference": patient_ref}, "status": "accepted"}]
                        if patient_ref
                        else []
                    ),
                    *(
                        {"actor": {"reference": ref}, "status": "accepted"}
                        for ref in practitioners.values()
                    ),
                ],
            },
        )

    if case is not None:
        for doc in case["documents"]:
            if doc["kind"] == "conclusion":
                body = doc["body"]
                signers = [s["username"] for s in doc["signed_by"]]
                b.add(
                    DiagnosticReport,
                    _urn("report", f"{doc['document']}/{doc['version']}"),
                    {
                        "status": "final" if signers else "preliminary",
                        "code": {"text": "Teleconsultation conclusion"},
                        **subject,
                        "encounter": {"reference": encounter},
                        "issued": doc["created_at"],
                        "resultsInterpreter": [
                            {"reference": _urn("practitioner", u)}
                            for u in signers
                            if _urn("practitioner", u) in practitioners.values()
                        ],
                        "conclusion": body["diagnosis"],
                        "presentedForm": [
                            _text_attachment("Conclusion", _note_text("conclusion", body))
                        ],
                    },
                )
            else:
                b.add(
                    DocumentReference,
                    _urn("note", f"{doc['document']}/{doc['version']}"),
                    {
                        "status": "current",
                        "type": {"text": doc["kind"]},
                        **subject,
                        "date": doc["created_at"],
                        "content": [
                            {
                                "attachment": _text_attachment(
                                    doc["kind"], _note_text(doc["kind"], doc["body"])
                                )
                            }
                        ],
                        "context": {"encounter": [{"reference": encounter}]},
                    },
                )
        for a in case["attachments"]:
            b.add(
                DocumentReference,
                _urn("attachment", a["id"]),
                {
                    "status": "current",
                    "identifier": [{"system": "urn:telehealth:sha256", "value": a["sha256"]}],
                    "type": {"text": "attachment"},
                    **subject,
                    "date": a["created_at"],
                    "content": [
                        {
                            "attachment": {
                                "contentType": a["media_type"],
                                "url": f"{public_url}/api/case-files/{case['id']}"
                                f"/attachments/{a['id']}",
                                "size": a["size"],
                                "title": a["filename"],
                            }
                        }
                    ],
                    "context": {"encounter": [{"reference": encounter}]},
                },
            )

    studies = list(
        await db.scalars(
            select(ImagingStudy)
            .join(ConsultationStudy, ConsultationStudy.study_uid == ImagingStudy.study_uid)
            .where(ConsultationStudy.consultation_id == c.id)
        )
    )
    if studies:
        endpoint = b.add(
            Endpoint,
            _urn("endpoint", "wado-rs"),
            {
                "status": "active",
                "connectionType": {
                    "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                    "code": "dicom-wado-rs",
                },
                "payloadType": [{"text": "DICOM"}],
                "address": f"{public_url}/dicomweb",
            },
        )
    for study in studies:
        series = list(
            await db.scalars(
                select(ImagingSeries).where(ImagingSeries.study_uid == study.study_uid)
            )
        )
        counts = dict(
            list(
                await db.execute(
                    select(ImagingInstance.series_uid, func.count())
                    .where(ImagingInstance.study_uid == study.study_uid)
                    .group_by(ImagingInstance.series_uid)
                )
            )
        )
        b.add(
            FhirImagingStudy,
            _urn("study", study.study_uid),
            {
                "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}],
                "status": "available",
                **(
                    {"subject": {"reference": patient_ref}}
                    if patient_ref
                    else {"subject": {"display": study.patient_name or "unknown"}}
                ),
                "encounter": {"reference": encounter},
                "endpoint": [{"reference": endpoint}],
                "numberOfSeries": len(series),
                "numberOfInstances": sum(counts.values()),
                **({"description": study.description} if study.description else {}),
                "series": [
                    {
                        "uid": s.series_uid,
                        "modality": {
                            "system": "http://dicom.nema.org/resources/ontology/DCM",
                            "code": s.modality or "OT",
                        },
                        "numberOfInstances": counts.get(s.series_uid, 0),
                        **({"number": s.series_number} if s.series_number is not None else {}),
                    }
                    for s in series
                ],
            },
        )

    consents = list(
        await db.execute(
            select(RecordingConsent, Recording.id)
            .join(Recording, Recording.id == RecordingConsent.recording_id)
            .where(Recording.consultation_id == c.id, RecordingConsent.role == "patient")
            .order_by(RecordingConsent.decided_at)
        )
    )
    for consent, recording_id in consents:
        accepted = consent.decision == "accepted"
        # A patient's answer to recording the consultation.
        b.add(
            Consent,
            _urn("consent", f"{recording_id}/{consent.participant_id}"),
            {
                "status": "active" if accepted else "rejected",
                "scope": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/consentscope",
                            "code": "patient-privacy",
                        }
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://loinc.org",
                                "code": "59284-0",
                                "display": "Patient Consent",
                            }
                        ],
                        "text": "recording of a teleconsultation",
                    }
                ],
                **({"patient": {"reference": patient_ref}} if patient_ref else {}),
                "dateTime": _iso(consent.decided_at),
                "provision": {
                    "type": "permit" if accepted else "deny",
                    "action": [{"text": "record audio and video"}],
                    "data": [{"meaning": "related", "reference": {"reference": encounter}}],
                },
            },
        )

    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "identifier": {"system": "urn:telehealth:consultation", "value": c.id},
            "timestamp": datetime.now().astimezone().isoformat(),
            "entry": b.entries,
        }
    )
    exported: dict[str, Any] = json.loads(bundle.model_dump_json())
    return exported
