"""Who may see which imaging: the consultation's participants and the staff
of its treating (requesting) facility. Anything else answers 404, so that a
stranger cannot tell whether a study exists."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import (
    Consultation,
    ConsultationStudy,
    ConsultStatus,
    ImagingInstance,
    ImagingSeries,
    ImagingStudy,
    Participant,
    User,
)
from signalling.errors import Conflict, NotFound

CLOSED = (ConsultStatus.ENDED, ConsultStatus.CANCELLED)


def _may_see(user: User) -> ColumnElement[bool]:
    participant = select(Participant.consultation_id).where(Participant.user_id == user.id)
    clauses: list[ColumnElement[bool]] = [Consultation.id.in_(participant)]
    if user.facility_id is not None:
        clauses.append(Consultation.facility_id == user.facility_id)
    return or_(*clauses)


async def consultation_for(
    db: AsyncSession, user: User, consultation_id: str, *, to_add: bool = False
) -> Consultation:
    """The consultation if ``user`` may see its imaging (and, with
    ``to_add``, add to it: participants only, while it is open)."""
    c = await db.scalar(
        select(Consultation).where(Consultation.id == consultation_id, _may_see(user))
    )
    if c is None:
        raise NotFound("no such consultation")
    if to_add:
        if await db.get(Participant, (c.id, user.id)) is None:
            raise NotFound("no such consultation")
        if c.status in CLOSED:
            raise Conflict(f"this consultation is {c.status.value}")
    return c


async def visible_studies(
    db: AsyncSession, user: User, consultation_id: str | None = None
) -> set[str]:
    """Study UIDs ``user`` may see, in one consultation or in all of theirs."""
    query = (
        select(ConsultationStudy.study_uid)
        .join(Consultation, Consultation.id == ConsultationStudy.consultation_id)
        .where(_may_see(user))
    )
    if consultation_id is not None:
        query = query.where(Consultation.id == consultation_id)
    return set(await db.scalars(query))


async def require_study(db: AsyncSession, user: User, study_uid: str) -> None:
    found = await db.scalar(
        select(ConsultationStudy.study_uid)
        .join(Consultation, Consultation.id == ConsultationStudy.consultation_id)
        .where(ConsultationStudy.study_uid == study_uid, _may_see(user))
        .limit(1)
    )
    if found is None:
        raise NotFound("no such study")


async def instance_for(db: AsyncSession, user: User, sop_uid: str) -> ImagingInstance:
    row = await db.get(ImagingInstance, sop_uid)
    if row is None:
        raise NotFound("no such instance")
    await require_study(db, user, row.study_uid)
    return row


async def series_for(db: AsyncSession, user: User, series_uid: str) -> ImagingSeries:
    row = await db.get(ImagingSeries, series_uid)
    if row is None:
        raise NotFound("no such series")
    await require_study(db, user, row.study_uid)
    return row


@dataclass(frozen=True, slots=True)
class Claimant:
    """Who files an object, for the rule that a stored study is joined only by
    those who can already see it (``catalog.file_instance``)."""

    # a person (browser upload, STOW-RS); None for a modality (C-STORE)
    user: User | None
    # where the object is being filed; None keeps it unattached
    consultation: Consultation | None
    # C-STORE: the PatientID the consultation was matched by
    patient_identifier: str | None = None


async def joinable(db: AsyncSession, claimant: Claimant, study_uids: set[str]) -> set[str]:
    """Those of the stored ``study_uids`` that ``claimant`` may add to."""
    if not study_uids:
        return set()
    uids = sorted(study_uids)
    if claimant.user is not None:
        return set(
            await db.scalars(
                select(ConsultationStudy.study_uid)
                .join(Consultation, Consultation.id == ConsultationStudy.consultation_id)
                .where(ConsultationStudy.study_uid.in_(uids), _may_see(claimant.user))
            )
        )
    # A modality names no person: it may add to a study filed only at the
    # facility of the consultation it was matched to, or to an unattached one
    # (out of everyone's sight) of the same PatientID.
    facilities: dict[str, set[int]] = {}
    for uid, facility_id in await db.execute(
        select(ConsultationStudy.study_uid, Consultation.facility_id)
        .join(Consultation, Consultation.id == ConsultationStudy.consultation_id)
        .where(ConsultationStudy.study_uid.in_(uids))
    ):
        facilities.setdefault(uid, set()).add(facility_id)
    allowed: set[str] = set()
    for uid in uids:
        held_at = facilities.get(uid)
        if held_at is None:
            study = await db.get(ImagingStudy, uid)
            same_patient = study is not None and study.patient_identifier == (
                claimant.patient_identifier
            )
            if claimant.consultation is None or same_patient:
                allowed.add(uid)
        elif claimant.consultation is not None and held_at == {claimant.consultation.facility_id}:
            allowed.add(uid)
    return allowed
