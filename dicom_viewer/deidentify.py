"""De-identification before sharing outside the care team (PS3.15 E.1).

dicognito (MIT) replaces names, identifiers and UIDs consistently and shifts
dates; here the attributes of the Basic Profile (PS3.15 Table E.1-1) that
it leaves in place are removed as well: free-text descriptions and
comments, the patient's physical details and history, private elements.
Pixel data is not touched, so an image with identifying text burned into
its pixels is reported, for the caller to refuse or review.
"""

from __future__ import annotations

from dataclasses import dataclass
from io import BytesIO

from dicognito.anonymizer import Anonymizer
from pydicom.dataset import Dataset

from .attributes import get_str
from .validate import load_dataset

# Basic Profile action X (remove) or Z (empty) for attributes dicognito keeps
_REMOVE = (
    "AcquisitionComments",
    "AdditionalPatientHistory",
    "AdmittingDiagnosesDescription",
    "Allergies",
    "DerivationDescription",
    "DeviceSerialNumber",
    "EthnicGroup",
    "FrameComments",
    "ImageComments",
    "IssuerOfPatientID",
    "LastMenstrualDate",
    "MedicalAlerts",
    "OtherPatientNames",
    "PatientAge",
    "PatientBirthName",
    "PatientBirthTime",
    "PatientComments",
    "PatientMotherBirthName",
    "PatientSize",
    "PatientState",
    "PatientWeight",
    "PerformedProcedureStepDescription",
    "PregnancyStatus",
    "ProtocolName",
    "ReasonForStudy",
    "ReferencedPatientSequence",
    "ReferencedStudySequence",
    "RequestAttributesSequence",
    "RequestedProcedureDescription",
    "SeriesDescription",
    "SmokingStatus",
    "SpecialNeeds",
    "StudyDescription",
    "TextComments",
    "VisitComments",
)
_EMPTY = ("PatientBirthDate", "ReferringPhysicianName")
# PS3.16 CID 7050 codes for what was done
_METHOD_CODES = (
    ("113100", "Basic Application Confidentiality Profile"),
    ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
)


@dataclass(frozen=True, slots=True)
class Deidentified:
    data: bytes
    sop_instance_uid: str  # the new one
    # True unless the file says its pixels carry no burned-in annotation
    pixels_may_identify: bool


class Deidentifier:
    """One per shared batch: objects of one study keep one new study UID,
    one pseudonym and one date shift across the batch."""

    def __init__(self, seed: str | None = None) -> None:
        self._anonymizer = Anonymizer(seed=seed)

    def deidentify(self, data: bytes) -> Deidentified:
        """De-identify validated DICOM bytes; returns new Part 10 bytes."""
        ds = load_dataset(data)
        burned_in = get_str(ds, "BurnedInAnnotation")
        self._anonymizer.anonymize(ds)
        _apply_basic_profile(ds, pixels_clean=burned_in == "NO")
        buffer = BytesIO()
        ds.save_as(buffer, enforce_file_format=True)
        return Deidentified(
            data=buffer.getvalue(),
            sop_instance_uid=str(ds.SOPInstanceUID),
            pixels_may_identify=burned_in != "NO",
        )


def _apply_basic_profile(ds: Dataset, *, pixels_clean: bool) -> None:
    ds.remove_private_tags()
    for keyword in _REMOVE:
        if keyword in ds:
            delattr(ds, keyword)
    for keyword in _EMPTY:
        if keyword in ds:
            ds[keyword].value = ""
    # the attribute also vouches for the pixels (PS3.3 C.7.1.1)
    ds.PatientIdentityRemoved = "YES" if pixels_clean else "NO"
    codes = []
    for value, meaning in _METHOD_CODES:
        item = Dataset()
        item.CodeValue = value
        item.CodingSchemeDesignator = "DCM"
        item.CodeMeaning = meaning
        codes.append(item)
    ds.DeidentificationMethodCodeSequence = codes
