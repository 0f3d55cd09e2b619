"""The storage SOP classes the viewer accepts, and what each one is."""

from __future__ import annotations

from enum import StrEnum

from pydicom import uid


class Family(StrEnum):
    """How an accepted SOP class is shown."""

    IMAGE = "image"  # single- or multi-frame picture(s) of one kind
    ULTRASOUND = "ultrasound"  # may be a cine loop
    ENHANCED = "enhanced"  # multi-frame with functional groups
    ECG = "ecg"


ACCEPTED_SOP_CLASSES: dict[str, Family] = {
    uid.CTImageStorage: Family.IMAGE,
    uid.MRImageStorage: Family.IMAGE,
    uid.ComputedRadiographyImageStorage: Family.IMAGE,
    uid.DigitalXRayImageStorageForPresentation: Family.IMAGE,
    uid.DigitalXRayImageStorageForProcessing: Family.IMAGE,
    uid.SecondaryCaptureImageStorage: Family.IMAGE,
    uid.MultiFrameGrayscaleByteSecondaryCaptureImageStorage: Family.IMAGE,
    uid.MultiFrameGrayscaleWordSecondaryCaptureImageStorage: Family.IMAGE,
    uid.MultiFrameTrueColorSecondaryCaptureImageStorage: Family.IMAGE,
    uid.UltrasoundImageStorage: Family.ULTRASOUND,
    uid.UltrasoundMultiFrameImageStorage: Family.ULTRASOUND,
    uid.EnhancedCTImageStorage: Family.ENHANCED,
    uid.EnhancedMRImageStorage: Family.ENHANCED,
    uid.TwelveLeadECGWaveformStorage: Family.ECG,
}


def sop_class_name(sop_class_uid: str) -> str:
    """A readable name for messages: 'RT Plan Storage' rather than a UID."""
    name = uid.UID(sop_class_uid).name
    return name if name and name != sop_class_uid else f"unknown SOP class {sop_class_uid}"
