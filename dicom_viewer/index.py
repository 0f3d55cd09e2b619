"""The study / series / instance index of accepted objects.

Plain data: persistence belongs to the control plane, which can save these
records as rows. Objects are found by UID and stored by content hash, so a
UID never becomes a file path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .instance import InstanceInfo, Kind
from .ordering import order_slices


@dataclass(frozen=True, slots=True)
class InstanceRecord:
    info: InstanceInfo
    blob_sha256: str
    size: int


@dataclass(slots=True)
class SeriesRecord:
    series_instance_uid: str
    modality: str | None
    series_number: int | None
    description: str | None
    instances: dict[str, InstanceRecord] = field(default_factory=dict)

    def ordered(self) -> list[InstanceRecord]:
        """Instances in anatomical order (see :func:`order_slices`)."""
        by_uid = {record.info.sop_instance_uid: record for record in self.instances.values()}
        infos = order_slices([record.info for record in self.instances.values()])
        return [by_uid[info.sop_instance_uid] for info in infos]

    def representative(self) -> InstanceRecord | None:
        """The instance a series thumbnail shows: the middle slice."""
        ordered = self.ordered()
        return ordered[len(ordered) // 2] if ordered else None

    @property
    def kinds(self) -> set[Kind]:
        return {record.info.kind for record in self.instances.values()}


@dataclass(slots=True)
class StudyRecord:
    study_instance_uid: str
    patient_name: str | None
    patient_id: str | None
    study_date: str | None
    description: str | None
    series: dict[str, SeriesRecord] = field(default_factory=dict)
    # identity from the first instance of the study, like patient_name
    patient_birth_date: str | None = None
    patient_sex: str | None = None
    patient_age: str | None = None
    institution_name: str | None = None
    study_time: str | None = None
    accession_number: str | None = None


class IndexConflict(ValueError):
    """An object contradicts what the index already holds."""


@dataclass(frozen=True, slots=True)
class Indexed:
    record: InstanceRecord
    replaced: InstanceRecord | None  # the earlier object with the same UID


class ImagingIndex:
    """Studies of one case file (or any scope the caller chooses)."""

    def __init__(self) -> None:
        self.studies: dict[str, StudyRecord] = {}
        self._series_study: dict[str, str] = {}
        self._instance_series: dict[str, str] = {}

    def check(self, info: InstanceInfo) -> None:
        """Raise :class:`IndexConflict` if ``info`` contradicts the index."""
        study_uid = self._series_study.get(info.series_instance_uid)
        if study_uid is not None and study_uid != info.study_instance_uid:
            raise IndexConflict(
                f"series {info.series_instance_uid} already belongs to another study"
            )
        series_uid = self._instance_series.get(info.sop_instance_uid)
        if series_uid is not None and series_uid != info.series_instance_uid:
            raise IndexConflict(
                f"instance {info.sop_instance_uid} already belongs to another series"
            )

    def add(self, info: InstanceInfo, blob_sha256: str, size: int) -> Indexed:
        """Index an accepted object. Sending the same SOP Instance UID again
        replaces it (e.g. a re-send in another transfer syntax)."""
        self.check(info)
        study = self.studies.setdefault(
            info.study_instance_uid,
            StudyRecord(
                info.study_instance_uid,
                info.patient_name,
                info.patient_id,
                info.study_date,
                info.study_description,
                patient_birth_date=info.patient_birth_date,
                patient_sex=info.patient_sex,
                patient_age=info.patient_age,
                institution_name=info.institution_name,
                study_time=info.study_time,
                accession_number=info.accession_number,
            ),
        )
        series = study.series.setdefault(
            info.series_instance_uid,
            SeriesRecord(
                info.series_instance_uid,
                info.modality,
                info.series_number,
                info.series_description,
            ),
        )
        record = InstanceRecord(info, blob_sha256, size)
        replaced = series.instances.get(info.sop_instance_uid)
        series.instances[info.sop_instance_uid] = record
        self._series_study[info.series_instance_uid] = info.study_instance_uid
        self._instance_series[info.sop_instance_uid] = info.series_instance_uid
        return Indexed(record, replaced)

    def instance(self, sop_instance_uid: str) -> InstanceRecord | None:
        series = self.series(self._instance_series.get(sop_instance_uid, ""))
        return None if series is None else series.instances.get(sop_instance_uid)

    def series(self, series_instance_uid: str) -> SeriesRecord | None:
        study_uid = self._series_study.get(series_instance_uid)
        if study_uid is None:
            return None
        return self.studies[study_uid].series.get(series_instance_uid)

    def __len__(self) -> int:
        return len(self._instance_series)
