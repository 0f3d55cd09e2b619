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
from dataclasses import dataclass
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
from fhir.resources.R4B.resource import Resource
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

JSON = dict[str, object]
"""FHIR content as JSON: what a model validates, what an entry holds."""
CaseView = dict[str, Any]
"""A case file, its patient, a document (or its body) or an attachment, as ``overview`` gives it."""
People = list[tuple[User, str]]
"""The consultation's staff, each with their part (requester, consultant, invited)."""


def _urn(kind: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(NAMESPACE, f'{kind}/{key}')}"


def _text_attachment(title: str, text: str) -> JSON:
    return {
        "contentType": "text/plain; charset=utf-8",
        "title": title,
        "data": base64.b64encode(text.encode()).decode(),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _note_text(body: CaseView) -> str:
    """A document's fields as ``name: value`` lines, the empty ones left out."""
    return "\n".join(f"{k}: {v}" for k, v in body.items() if v not in (None, ""))


class _BundleBuilder:
    def __init__(self) -> None:
        self.entries: list[JSON] = []

    def add(self, url: str, resource: Resource) -> str:
        """Append a validated resource as an entry; its ``url`` is what others refer to."""
        self.entries.append({"fullUrl": url, "resource": json.loads(resource.model_dump_json())})
        return url


@dataclass(frozen=True)
class _Refs:
    """The references the clinical resources point back at."""

    patient: str | None  # None when the consultation names no patient
    encounter: str

    def subject(self) -> JSON:
        return _subject(self.patient)


def _subject(patient: str | None) -> JSON:
    """A ``subject`` pointing at the patient, or nothing when there is none."""
    return {"subject": {"reference": patient}} if patient else {}


# Who and where


def _organization(facility: Facility) -> Organization:
    return Organization.model_validate(
        {
            "identifier": [{"system": "urn:telehealth:facility", "value": facility.code}],
            "name": facility.name,
        }
    )


def _patient(patient: CaseView, facility_code: str, org: str) -> FhirPatient:
    """The patient, identified within the facility that holds the case file."""
    return FhirPatient.model_validate(
        {
            "identifier": [
                {
                    "system": f"urn:telehealth:facility:{facility_code}:patient",
                    "value": patient["identifier"],
                }
            ],
            "name": [{"text": patient["full_name"]}],
            "gender": patient["sex"],
            **({"birthDate": patient["date_of_birth"]} if patient["date_of_birth"] else {}),
            "managingOrganization": {"reference": org},
        }
    )


def _practitioner(user: User) -> Practitioner:
    return Practitioner.model_validate(
        {
            "identifier": [{"system": "urn:telehealth:user", "value": user.username}],
            "name": [{"text": user.full_name}],
        }
    )


async def _participants(db: AsyncSession, c: Consultation) -> People:
    rows = await db.execute(
        select(User, Participant.part)
        .join(Participant, Participant.user_id == User.id)
        .where(Participant.consultation_id == c.id)
        .order_by(User.id)
    )
    return [(user, part) for user, part in rows]


# The consultation itself


def _period(c: Consultation) -> JSON:
    """The encounter's period once it has started; its end only once it has ended."""
    if not c.started_at:
        return {}
    bounds = (("start", _iso(c.started_at)), ("end", _iso(c.ended_at)))
    return {"period": {k: v for k, v in bounds if v}}


def _encounter(
    c: Consultation,
    org: str,
    patient: str | None,
    people: People,
    practitioners: dict[int, str],
) -> Encounter:
    """The consultation as a virtual encounter (v3 ActCode VR)."""
    return Encounter.model_validate(
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
            **_subject(patient),
            "participant": [
                {"type": [{"text": part}], "individual": {"reference": practitioners[user.id]}}
                for user, part in people
            ],
            **_period(c),
            "reasonCode": [{"text": c.question}],
            "serviceProvider": {"reference": org},
        }
    )


def _appointment(
    c: Consultation, scheduled_for: datetime, patient: str | None, practitioners: dict[int, str]
) -> Appointment:
    """A scheduled consultation's slot: 30 minutes unless it has already ended."""
    everyone = [patient] if patient else []
    everyone.extend(practitioners.values())
    return Appointment.model_validate(
        {
            "status": APPOINTMENT_STATUS[c.status],
            "start": _iso(scheduled_for),
            "end": _iso(c.ended_at or scheduled_for + timedelta(minutes=30)),
            "participant": [
                {"actor": {"reference": ref}, "status": "accepted"} for ref in everyone
            ],
        }
    )


# The case file


def _report(doc: CaseView, refs: _Refs, practitioners: dict[int, str]) -> DiagnosticReport:
    """A conclusion: final once signed; its interpreters are the signers in the bundle."""
    body = doc["body"]
    signers = [s["username"] for s in doc["signed_by"]]
    in_bundle = set(practitioners.values())
    return DiagnosticReport.model_validate(
        {
            "status": "final" if signers else "preliminary",
            "code": {"text": "Teleconsultation conclusion"},
            **refs.subject(),
            "encounter": {"reference": refs.encounter},
            "issued": doc["created_at"],
            "resultsInterpreter": [
                {"reference": _urn("practitioner", u)}
                for u in signers
                if _urn("practitioner", u) in in_bundle
            ],
            "conclusion": body["diagnosis"],
            "presentedForm": [_text_attachment("Conclusion", _note_text(body))],
        }
    )


def _note(doc: CaseView, refs: _Refs) -> DocumentReference:
    """Any other document (note, vitals...), its fields as a text attachment."""
    return DocumentReference.model_validate(
        {
            "status": "current",
            "type": {"text": doc["kind"]},
            **refs.subject(),
            "date": doc["created_at"],
            "content": [{"attachment": _text_attachment(doc["kind"], _note_text(doc["body"]))}],
            "context": {"encounter": [{"reference": refs.encounter}]},
        }
    )


def _attachment(a: CaseView, download_url: str, refs: _Refs) -> DocumentReference:
    """A file in the case file, by link and checksum rather than its bytes."""
    return DocumentReference.model_validate(
        {
            "status": "current",
            "identifier": [{"system": "urn:telehealth:sha256", "value": a["sha256"]}],
            "type": {"text": "attachment"},
            **refs.subject(),
            "date": a["created_at"],
            "content": [
                {
                    "attachment": {
                        "contentType": a["media_type"],
                        "url": download_url,
                        "size": a["size"],
                        "title": a["filename"],
                    }
                }
            ],
            "context": {"encounter": [{"reference": refs.encounter}]},
        }
    )


def _add_case_file(
    b: _BundleBuilder,
    case: CaseView,
    refs: _Refs,
    practitioners: dict[int, str],
    public_url: str,
) -> None:
    """The latest version of every document, then the attachments."""
    for doc in case["documents"]:
        version = f"{doc['document']}/{doc['version']}"
        if doc["kind"] == "conclusion":
            b.add(_urn("report", version), _report(doc, refs, practitioners))
        else:
            b.add(_urn("note", version), _note(doc, refs))
    for a in case["attachments"]:
        download_url = f"{public_url}/api/case-files/{case['id']}/attachments/{a['id']}"
        b.add(_urn("attachment", a["id"]), _attachment(a, download_url, refs))


# Imaging


def _wado_endpoint(public_url: str) -> Endpoint:
    """Where the studies' pixels are: the platform's own DICOMweb (WADO-RS)."""
    return Endpoint.model_validate(
        {
            "status": "active",
            "connectionType": {
                "system": "http://terminology.hl7.org/CodeSystem/endpoint-connection-type",
                "code": "dicom-wado-rs",
            },
            "payloadType": [{"text": "DICOM"}],
            "address": f"{public_url}/dicomweb",
        }
    )


def _imaging_study(
    study: ImagingStudy,
    series: list[ImagingSeries],
    counts: dict[str, int],
    refs: _Refs,
    endpoint: str,
) -> FhirImagingStudy:
    """A study, its series and instance counts; without a patient, the name DICOM gives."""
    subject = (
        {"reference": refs.patient}
        if refs.patient
        else {"display": study.patient_name or "unknown"}
    )
    return FhirImagingStudy.model_validate(
        {
            "identifier": [{"system": "urn:dicom:uid", "value": f"urn:oid:{study.study_uid}"}],
            "status": "available",
            "subject": subject,
            "encounter": {"reference": refs.encounter},
            "endpoint": [{"reference": endpoint}],
            "numberOfSeries": len(series),
            "numberOfInstances": sum(counts.values()),
            **({"description": study.description} if study.description else {}),
            "series": [_series(s, counts.get(s.series_uid, 0)) for s in series],
        }
    )


def _series(s: ImagingSeries, instances: int) -> JSON:
    return {
        "uid": s.series_uid,
        "modality": {
            "system": "http://dicom.nema.org/resources/ontology/DCM",
            "code": s.modality or "OT",
        },
        "numberOfInstances": instances,
        **({"number": s.series_number} if s.series_number is not None else {}),
    }


async def _studies(db: AsyncSession, c: Consultation) -> list[ImagingStudy]:
    return list(
        await db.scalars(
            select(ImagingStudy)
            .join(ConsultationStudy, ConsultationStudy.study_uid == ImagingStudy.study_uid)
            .where(ConsultationStudy.consultation_id == c.id)
        )
    )


async def _series_of(
    db: AsyncSession, study: ImagingStudy
) -> tuple[list[ImagingSeries], dict[str, int]]:
    """The study's series, and how many instances each series holds."""
    series = list(
        await db.scalars(select(ImagingSeries).where(ImagingSeries.study_uid == study.study_uid))
    )
    rows = await db.execute(
        select(ImagingInstance.series_uid, func.count())
        .where(ImagingInstance.study_uid == study.study_uid)
        .group_by(ImagingInstance.series_uid)
    )
    return series, {series_uid: n for series_uid, n in rows}


async def _add_imaging(
    b: _BundleBuilder, db: AsyncSession, c: Consultation, refs: _Refs, public_url: str
) -> None:
    """The consultation's studies, behind one endpoint entry (none without studies)."""
    studies = await _studies(db, c)
    if not studies:
        return
    endpoint = b.add(_urn("endpoint", "wado-rs"), _wado_endpoint(public_url))
    for study in studies:
        series, counts = await _series_of(db, study)
        b.add(
            _urn("study", study.study_uid),
            _imaging_study(study, series, counts, refs, endpoint),
        )


# Recording consents


async def _patient_consents(
    db: AsyncSession, c: Consultation
) -> list[tuple[RecordingConsent, str]]:
    """The patient's answers to recording this consultation, with each recording's id."""
    rows = await db.execute(
        select(RecordingConsent, Recording.id)
        .join(Recording, Recording.id == RecordingConsent.recording_id)
        .where(Recording.consultation_id == c.id, RecordingConsent.role == "patient")
        .order_by(RecordingConsent.decided_at)
    )
    return [(consent, recording_id) for consent, recording_id in rows]


def _consent(consent: RecordingConsent, refs: _Refs) -> Consent:
    """A patient's answer to recording the consultation: permit or deny."""
    accepted = consent.decision == "accepted"
    return Consent.model_validate(
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
            **({"patient": {"reference": refs.patient}} if refs.patient else {}),
            "dateTime": _iso(consent.decided_at),
            "provision": {
                "type": "permit" if accepted else "deny",
                "action": [{"text": "record audio and video"}],
                "data": [{"meaning": "related", "reference": {"reference": refs.encounter}}],
            },
        }
    )


# The bundle


def _bundle(c: Consultation, entries: list[JSON]) -> dict[str, Any]:
    bundle = Bundle.model_validate(
        {
            "resourceType": "Bundle",
            "type": "collection",
            "identifier": {"system": "urn:telehealth:consultation", "value": c.id},
            "timestamp": datetime.now().astimezone().isoformat(),
            "entry": entries,
        }
    )
    exported: dict[str, Any] = json.loads(bundle.model_dump_json())
    return exported


async def consultation_bundle(db: AsyncSession, c: Consultation, public_url: str) -> dict[str, Any]:
    """The consultation as a FHIR collection bundle: who and where, the encounter (and its
    appointment), the case file, imaging and recording consents, in that order."""
    b = _BundleBuilder()
    facility = await db.get(Facility, c.facility_id)
    assert facility is not None
    org = b.add(_urn("org", facility.code), _organization(facility))
    patient = None
    case = None
    if c.patient_id is not None:
        case = await overview(db, await case_file_for(db, c))
        p = case["patient"]
        patient = b.add(_urn("patient", str(p["id"])), _patient(p, facility.code, org))

    people = await _participants(db, c)
    practitioners: dict[int, str] = {}
    for user, _part in people:
        practitioners[user.id] = b.add(_urn("practitioner", user.username), _practitioner(user))
    encounter = b.add(_urn("encounter", c.id), _encounter(c, org, patient, people, practitioners))
    if c.scheduled_for is not None:
        b.add(
            _urn("appointment", c.id),
            _appointment(c, c.scheduled_for, patient, practitioners),
        )

    refs = _Refs(patient=patient, encounter=encounter)
    if case is not None:
        _add_case_file(b, case, refs, practitioners, public_url)
    await _add_imaging(b, db, c, refs, public_url)
    for consent, recording_id in await _patient_consents(db, c):
        b.add(_urn("consent", f"{recording_id}/{consent.participant_id}"), _consent(consent, refs))
    return _bundle(c, b.entries)
