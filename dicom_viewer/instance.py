"""What the viewer knows about one accepted DICOM object."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    IMAGE = "image"  # one frame
    MULTIFRAME = "multiframe"  # a stack of frames (enhanced CT/MR, multi-frame SC)
    CINE = "cine"  # frames meant to be played (ultrasound loops)
    ECG = "ecg"


@dataclass(frozen=True, slots=True)
class InstanceInfo:
    """The attributes a viewer needs, parsed and checked.

    Image fields are ``None`` for an ECG. Tuples hold multi-valued
    attributes in file order (e.g. several window centres).
    """

    kind: Kind
    sop_class_uid: str
    sop_class_name: str
    sop_instance_uid: str
    study_instance_uid: str
    series_instance_uid: str
    transfer_syntax_uid: str
    modality: str | None = None
    patient_name: str | None = None
    patient_id: str | None = None
    # identity shown in the image corners and compared with the case file
    patient_birth_date: str | None = None  # DA, YYYYMMDD as in the file
    patient_sex: str | None = None  # M, F or O
    patient_age: str | None = None  # AS, e.g. "045Y"
    institution_name: str | None = None
    study_date: str | None = None
    study_time: str | None = None  # TM as in the file
    accession_number: str | None = None
    study_description: str | None = None
    series_number: int | None = None
    series_description: str | None = None
    instance_number: int | None = None
    image_position: tuple[float, float, float] | None = None
    image_orientation: tuple[float, float, float, float, float, float] | None = None
    pixel_spacing: tuple[float, float] | None = None
    slice_thickness: float | None = None
    rows: int | None = None
    columns: int | None = None
    frames: int = 1
    samples_per_pixel: int | None = None
    bits_allocated: int | None = None
    photometric: str | None = None
    window_centers: tuple[float, ...] = ()
    window_widths: tuple[float, ...] = ()
    rescale_slope: float | None = None
    rescale_intercept: float | None = None
    frame_time_ms: float | None = None
    frame_rate: float | None = None
    is_encapsulated: bool = False
    is_jpeg_baseline: bool = False

    def to_json(self) -> dict[str, Any]:
        """Plain values for json.dumps (tuples become lists)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> InstanceInfo:
        """The inverse of :meth:`to_json` (lists become tuples again).

        Rows stored before a field existed lack its key: it reads as the
        field's default. Keys no longer known are dropped.
        """
        known = {f.name for f in fields(cls)}
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k in known
        }
        values["kind"] = Kind(values["kind"])
        return cls(**values)
