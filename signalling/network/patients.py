"""Patients: the minimal record consultations and case files point to."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import Patient, Role, Sex, User
from signalling.db.rows import add_unique
from signalling.errors import Forbidden, NotFound
from signalling.free_text import check_text

# patients.id is an INTEGER: a larger id names nobody (and would overflow the driver).
MAX_PATIENT_ID = 2**31 - 1


def can_see(user: User, patient: Patient) -> bool:
    """Staff of the patient's home facility, and administrators."""
    return user.role is Role.ADMIN or user.facility_id == patient.home_facility_id


async def add_patient(
    db: AsyncSession,
    by: User,
    *,
    full_name: str,
    date_of_birth: date | None,
    sex: Sex,
    identifier: str,
    phone: str,
) -> Patient:
    if by.facility_id is None:
        raise Forbidden("only staff of a facility register its patients")
    for value, what in ((full_name, "full_name"), (identifier, "identifier"), (phone, "phone")):
        check_text(value, what)
    patient = Patient(
        full_name=full_name.strip(),
        date_of_birth=date_of_birth,
        sex=sex,
        identifier=identifier.strip(),
        phone=phone.strip(),
        home_facility_id=by.facility_id,
        created_by_id=by.id,
    )
    return await add_unique(
        db, patient, "a patient with this identifier is registered here already"
    )


async def get_patient(db: AsyncSession, user: User, patient_id: int) -> Patient:
    patient = await db.get(Patient, patient_id) if 1 <= patient_id <= MAX_PATIENT_ID else None
    # Someone else's patient looks the same as no patient: no probing by id.
    if patient is None or not can_see(user, patient):
        raise NotFound("no such patient")
    return patient


async def find_patients(db: AsyncSession, user: User, identifier: str) -> list[Patient]:
    check_text(identifier, "identifier")
    query = select(Patient).where(Patient.identifier == identifier.strip())
    if user.role is not Role.ADMIN:
        query = query.where(Patient.home_facility_id == user.facility_id)
    return list(await db.scalars(query.limit(50)))


def patient_json(p: Patient) -> dict[str, Any]:
    return {
        "id": p.id,
        "full_name": p.full_name,
        "date_of_birth": p.date_of_birth.isoformat() if p.date_of_birth else None,
        "sex": p.sex.value,
        "identifier": p.identifier,
        "phone": p.phone,
    }
