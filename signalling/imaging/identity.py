"""Does an object belong to the case file's patient?

An image filed under the wrong patient is read as that patient's (and goes
out in the FHIR bundle as theirs), so every ingest into a case file
compares the object's PatientID, name, birth date and sex with the case
file's patient. A difference is held for the uploader to confirm, never
taken silently.

PatientID decides when both sides have one: it is what PACS match on.
Without it the object must name the patient (the same name, and the same
birth date and sex where both give them); an object with no identity at
all is held too. With equal PatientIDs, a different birth date or a name
that shares no word is still held: identifiers of two facilities collide.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from dicom_viewer.identity import name_tokens
from dicom_viewer.instance import InstanceInfo
from signalling.db.models import Patient, Sex

_DICOM_SEX = {"M": Sex.MALE, "F": Sex.FEMALE}


@dataclass(frozen=True, slots=True)
class PatientMismatch:
    reason: str
    object_patient: dict[str, str | None] = field(default_factory=dict)
    case_patient: dict[str, str | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "code": "patient_mismatch",
            "reason": self.reason,
            "object_patient": self.object_patient,
            "case_patient": self.case_patient,
        }


def check_patient(info: InstanceInfo, patient: Patient | None) -> PatientMismatch | None:
    """None if ``info`` is the patient's (or the case file names none)."""
    if patient is None:
        return None
    reason = _difference(info, patient)
    if reason is None:
        return None
    return PatientMismatch(
        reason,
        object_patient={
            "id": info.patient_id or None,
            "name": info.patient_name or None,
            "birth_date": _dicom_date_iso(info.patient_birth_date),
            "sex": info.patient_sex or None,
        },
        case_patient=case_patient_json(patient),
    )


def case_patient_json(patient: Patient) -> dict[str, str | None]:
    """The case file's patient as the viewer and a held upload show it."""
    return {
        "id": patient.identifier,
        "name": patient.full_name,
        "birth_date": patient.date_of_birth.isoformat() if patient.date_of_birth else None,
        "sex": patient.sex.value,
    }


def _difference(info: InstanceInfo, patient: Patient) -> str | None:
    object_id = (info.patient_id or "").strip()
    names_object = name_tokens(info.patient_name or "")
    names_case = name_tokens(patient.full_name)
    born = _dicom_date(info.patient_birth_date)
    if object_id and object_id != patient.identifier.strip():
        return (
            f"the file is of PatientID {object_id!r}; the case file's patient is "
            f"{patient.identifier!r}"
        )
    if not object_id and not names_object:
        return "the file carries no patient identity (no PatientID, no name)"
    if born is not None and patient.date_of_birth is not None and born != patient.date_of_birth:
        return (
            f"the file's patient was born {born.isoformat()}; the case file's patient "
            f"{patient.date_of_birth.isoformat()}"
        )
    sex = _DICOM_SEX.get((info.patient_sex or "").strip().upper())
    if sex is not None and patient.sex in _DICOM_SEX.values() and sex is not patient.sex:
        return f"the file's patient is of sex {info.patient_sex}; the case file's is not"
    if names_object and names_case:
        if object_id and not names_object & names_case:
            return "the PatientIDs agree but the names share no word"
        if not object_id and names_object != names_case:
            return "the file has no PatientID and its patient's name differs"
    return None


def _dicom_date(value: str | None) -> date | None:
    text = (value or "").strip()
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def _dicom_date_iso(value: str | None) -> str | None:
    parsed = _dicom_date(value)
    return parsed.isoformat() if parsed else None
