"""Case files: documents that are versioned, never overwritten, and signed off.

Who may read and write a case file: staff of the treating facility, and the
participants of any consultation about that patient from that facility.
Everyone else is refused (403), and the refusal is audited.
"""

from __future__ import annotations

import json
import uuid
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.case_file_models import CaseAttachment, CaseEntry, CaseFile, CaseSignature
from signalling.db.models import Consultation, Participant, Patient, Role, User
from signalling.errors import Conflict, Forbidden, NotFound, PlatformError
from signalling.http.errors import NOT_BLANK


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class NoteBody(_Body):
    """A clinical note, SOAP-structured."""

    kind: Literal["note"]
    subjective: str = Field("", max_length=20_000)
    objective: str = Field("", max_length=20_000)
    assessment: str = Field("", max_length=20_000)
    plan: str = Field("", max_length=20_000)


class TextBody(_Body):
    kind: Literal["history", "findings"]
    text: str = Field(min_length=1, max_length=50_000, pattern=NOT_BLANK)


class VitalsBody(_Body):
    kind: Literal["vitals"]
    measured_on: date | None = None
    temperature_c: float | None = Field(None, ge=25, le=45)
    pulse_bpm: int | None = Field(None, ge=10, le=300)
    systolic_mmhg: int | None = Field(None, ge=30, le=300)
    diastolic_mmhg: int | None = Field(None, ge=10, le=200)
    respiratory_rate: int | None = Field(None, ge=2, le=80)
    spo2_percent: int | None = Field(None, ge=30, le=100)
    weight_kg: float | None = Field(None, gt=0, le=500)


class ConclusionBody(_Body):
    """The consultation's conclusion, which the participating specialists sign."""

    kind: Literal["conclusion"]
    diagnosis: str = Field(min_length=1, max_length=5000, pattern=NOT_BLANK)
    recommendations: str = Field("", max_length=20_000)
    treatment_plan: str = Field("", max_length=20_000)
    follow_up: str = Field("", max_length=5000)


EntryBody = Annotated[
    NoteBody | TextBody | VitalsBody | ConclusionBody, Field(discriminator="kind")
]


async def case_file_for(db: AsyncSession, consultation: Consultation) -> CaseFile:
    """The patient's case file at the treating facility, made on first use."""
    if consultation.patient_id is None:
        raise PlatformError("this consultation names no patient, so it has no case file")
    query = select(CaseFile).where(
        CaseFile.patient_id == consultation.patient_id,
        CaseFile.facility_id == consultation.facility_id,
    )
    existing = await db.scalar(query)
    if existing is not None:
        return existing
    case_file = CaseFile(
        id=str(uuid.uuid4()),
        patient_id=consultation.patient_id,
        facility_id=consultation.facility_id,
    )
    db.add(case_file)
    try:
        await db.commit()
    except IntegrityError:  # made meanwhile by another request
        await db.rollback()
        found = await db.scalar(query)
        assert found is not None
        return found
    return case_file


async def accessible(db: AsyncSession, user: User, case_file_id: str) -> CaseFile:
    case_file = await db.get(CaseFile, case_file_id)
    if case_file is None:
        raise NotFound("no such case file")
    if user.role is not Role.ADMIN and user.facility_id == case_file.facility_id:
        return case_file
    participates = await db.scalar(
        select(func.count())
        .select_from(Participant)
        .join(Consultation, Consultation.id == Participant.consultation_id)
        .where(
            Participant.user_id == user.id,
            Consultation.patient_id == case_file.patient_id,
            Consultation.facility_id == case_file.facility_id,
        )
    )
    if not participates:
        raise Forbidden("this case file belongs to another facility's patient")
    return case_file


async def add_document(
    db: AsyncSession,
    case_file: CaseFile,
    author: User,
    body: BaseModel,
    consultation_id: str | None,
) -> CaseEntry:
    entry = CaseEntry(
        case_file_id=case_file.id,
        document=str(uuid.uuid4()),
        kind=str(getattr(body, "kind")),  # noqa: B009 (every body has one)
        version=1,
        body=body.model_dump_json(exclude={"kind"}),
        author_id=author.id,
        consultation_id=consultation_id,
    )
    db.add(entry)
    await db.commit()
    return entry


async def latest(db: AsyncSession, case_file: CaseFile, document: str) -> CaseEntry:
    entry = await db.scalar(
        select(CaseEntry)
        .where(CaseEntry.case_file_id == case_file.id, CaseEntry.document == document)
        .order_by(CaseEntry.version.desc())
        .limit(1)
    )
    if entry is None:
        raise NotFound("no such document")
    return entry


async def revise(
    db: AsyncSession,
    case_file: CaseFile,
    author: User,
    document: str,
    base_version: int,
    body: BaseModel,
) -> CaseEntry:
    """A new version on top of ``base_version``; anything else in between is a conflict."""
    current = await latest(db, case_file, document)
    kind = str(getattr(body, "kind"))  # noqa: B009
    if kind != current.kind:
        raise PlatformError(f"this document is a {current.kind}, not a {kind}")
    if base_version != current.version:
        raise Conflict(
            f"this document changed meanwhile (now version {current.version}); "
            "reload it and apply your change again"
        )
    entry = CaseEntry(
        case_file_id=case_file.id,
        document=document,
        kind=kind,
        version=current.version + 1,
        body=body.model_dump_json(exclude={"kind"}),
        author_id=author.id,
        consultation_id=current.consultation_id,
    )
    db.add(entry)
    try:
        await db.commit()
    except IntegrityError:  # two writers passed the check together; one loses here
        await db.rollback()
        raise Conflict("this document changed meanwhile; reload it") from None
    return entry


async def sign(
    db: AsyncSession, case_file: CaseFile, user: User, document: str, version: int
) -> None:
    if user.role not in (Role.SPECIALIST, Role.DOCTOR):
        raise Forbidden("only clinicians sign a conclusion")
    entry = await db.scalar(
        select(CaseEntry).where(
            CaseEntry.case_file_id == case_file.id,
            CaseEntry.document == document,
            CaseEntry.version == version,
        )
    )
    if entry is None:
        raise NotFound("no such version")
    if entry.kind != "conclusion":
        raise PlatformError("only a conclusion is signed")
    if entry.consultation_id is not None:
        took_part = await db.get(Participant, (entry.consultation_id, user.id))
        if took_part is None:
            raise Forbidden("only the consultation's participants sign its conclusion")
    db.add(CaseSignature(entry_id=entry.id, user_id=user.id))
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
        raise Conflict("you have signed this version already") from None


async def entry_json(db: AsyncSession, entry: CaseEntry) -> dict[str, object]:
    signers = await db.execute(
        select(User.username, User.full_name, CaseSignature.signed_at)
        .join(CaseSignature, CaseSignature.user_id == User.id)
        .where(CaseSignature.entry_id == entry.id)
        .order_by(CaseSignature.signed_at)
    )
    author = await db.get(User, entry.author_id)
    return {
        "document": entry.document,
        "kind": entry.kind,
        "version": entry.version,
        "body": json.loads(entry.body),
        "author": author.full_name if author else None,
        "created_at": entry.created_at.isoformat(),
        "consultation_id": entry.consultation_id,
        "shared_with_patient": entry.shared_with_patient,
        "signed_by": [{"username": u, "name": n, "at": at.isoformat()} for u, n, at in signers],
    }


async def overview(db: AsyncSession, case_file: CaseFile) -> dict[str, Any]:
    """The latest version of every document, and the attachments."""
    newest = (
        select(CaseEntry.document, func.max(CaseEntry.version).label("version"))
        .where(CaseEntry.case_file_id == case_file.id)
        .group_by(CaseEntry.document)
        .subquery()
    )
    entries = await db.scalars(
        select(CaseEntry)
        .join(
            newest,
            (CaseEntry.document == newest.c.document) & (CaseEntry.version == newest.c.version),
        )
        .order_by(CaseEntry.created_at)
    )
    patient = await db.get(Patient, case_file.patient_id)
    attachments = await db.scalars(
        select(CaseAttachment)
        .where(CaseAttachment.case_file_id == case_file.id)
        .order_by(CaseAttachment.created_at)
    )
    return {
        "id": case_file.id,
        "patient": {
            "id": patient.id,
            "full_name": patient.full_name,
            "date_of_birth": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
            "sex": patient.sex.value,
            "identifier": patient.identifier,
        }
        if patient
        else None,
        "documents": [await entry_json(db, e) for e in entries],
        "attachments": [attachment_json(a) for a in attachments],
    }


def attachment_json(a: CaseAttachment) -> dict[str, object]:
    return {
        "id": a.id,
        "filename": a.filename,
        "media_type": a.media_type,
        "size": a.size,
        "sha256": a.sha256,
        "created_at": a.created_at.isoformat(),
        "shared_with_patient": a.shared_with_patient,
    }
