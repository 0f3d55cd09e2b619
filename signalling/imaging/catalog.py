"""The study / series / instance index, persisted.

Rows hold what ``dicom_viewer`` needs (the InstanceInfo as JSON, the blob's
SHA-256), so the in-memory :class:`ImagingIndex` that QIDO and ordering work
on can be rebuilt for any set of studies without reading a file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from dicom_viewer.index import ImagingIndex
from dicom_viewer.instance import InstanceInfo
from signalling.db.models import ConsultationStudy, ImagingInstance, ImagingSeries, ImagingStudy


class CatalogConflict(ValueError):
    """An object contradicts what is stored (a UID reused across studies or series)."""

    code = "uid_mismatch"


class HeldElsewhere(CatalogConflict):
    """The object's UIDs name a study that the sender cannot see.

    UIDs are printed on films and travel in HL7: knowing one is no right to
    the study, so such an object neither joins nor replaces it."""

    code = "uid_conflict"

    def __init__(self) -> None:
        super().__init__(
            "its Study, Series or SOP Instance UID belongs to imaging held in another "
            "care team's case file; nothing was stored (the sender needs new UIDs, "
            "or the care team that holds the study can share it)"
        )


class Duplicate(CatalogConflict):
    """Another object is stored under this SOP Instance UID: it is kept."""

    code = "duplicate"

    def __init__(self, sop_uid: str) -> None:
        super().__init__(
            f"a different object is already stored as SOP Instance {sop_uid}; the stored "
            "one is kept (a corrected image needs a new SOP Instance UID)"
        )


def info_of(row: ImagingInstance) -> InstanceInfo:
    return InstanceInfo.from_json(json.loads(row.info))


async def touched_studies(db: AsyncSession, info: InstanceInfo) -> set[str]:
    """The stored studies this object would add to: its own, and the ones its
    series and instance UIDs are stored under (which may differ)."""
    studies: set[str] = set()
    if await db.get(ImagingStudy, info.study_instance_uid) is not None:
        studies.add(info.study_instance_uid)
    series = await db.get(ImagingSeries, info.series_instance_uid)
    if series is not None:
        studies.add(series.study_uid)
    instance = await db.get(ImagingInstance, info.sop_instance_uid)
    if instance is not None:
        studies.add(instance.study_uid)
    return studies


async def file_instance(
    db: AsyncSession, info: InstanceInfo, blob_sha256: str, size: int, *, may_join: set[str]
) -> tuple[ImagingInstance, bool]:
    """Add one object's rows (the caller commits); True if it was new.

    ``may_join`` holds the stored studies the sender may already see: an
    object touching any other stored study is refused (:class:`HeldElsewhere`).
    The same bytes again are a no-op; other bytes under a stored SOP
    Instance UID are refused (:class:`Duplicate`), never written over."""
    if await touched_studies(db, info) - may_join:
        raise HeldElsewhere()
    series = await db.get(ImagingSeries, info.series_instance_uid)
    if series is not None and series.study_uid != info.study_instance_uid:
        raise CatalogConflict(f"series {info.series_instance_uid} belongs to another study")
    instance = await db.get(ImagingInstance, info.sop_instance_uid)
    if instance is not None:
        if instance.series_uid != info.series_instance_uid:
            raise CatalogConflict(f"instance {info.sop_instance_uid} belongs to another series")
        if instance.blob_sha256 != blob_sha256:
            raise Duplicate(info.sop_instance_uid)
        return instance, False
    if await db.get(ImagingStudy, info.study_instance_uid) is None:
        db.add(
            ImagingStudy(
                study_uid=info.study_instance_uid,
                patient_name=_cut(info.patient_name, 200),
                patient_identifier=_cut(info.patient_id, 64),
                study_date=_cut(info.study_date, 8),
                description=_cut(info.study_description, 200),
            )
        )
        await db.flush()
    if series is None:
        db.add(
            ImagingSeries(
                series_uid=info.series_instance_uid,
                study_uid=info.study_instance_uid,
                modality=_cut(info.modality, 16),
                series_number=info.series_number,
                description=_cut(info.series_description, 200),
            )
        )
        await db.flush()
    instance = ImagingInstance(
        sop_uid=info.sop_instance_uid,
        series_uid=info.series_instance_uid,
        study_uid=info.study_instance_uid,
        blob_sha256=blob_sha256,
        size=size,
        info=json.dumps(info.to_json()),
    )
    db.add(instance)
    return instance, True


async def attach(
    db: AsyncSession, consultation_id: str, study_uid: str, source: str, user_id: int | None
) -> bool:
    """Put a study in a consultation's case file; False if it was there."""
    if await db.get(ConsultationStudy, (consultation_id, study_uid)) is not None:
        return False
    db.add(
        ConsultationStudy(
            consultation_id=consultation_id,
            study_uid=study_uid,
            source=source,
            added_by_id=user_id,
        )
    )
    return True


async def consultation_studies(db: AsyncSession, consultation_id: str) -> list[str]:
    rows = await db.scalars(
        select(ConsultationStudy.study_uid).where(
            ConsultationStudy.consultation_id == consultation_id
        )
    )
    return sorted(rows)


async def load_index(db: AsyncSession, study_uids: Iterable[str]) -> ImagingIndex:
    """The in-memory index of these studies, rebuilt from the rows."""
    index = ImagingIndex()
    uids = sorted(set(study_uids))
    if not uids:
        return index
    rows = await db.scalars(
        select(ImagingInstance)
        .where(ImagingInstance.study_uid.in_(uids))
        .order_by(ImagingInstance.created_at, ImagingInstance.sop_uid)
    )
    for row in rows:
        index.add(info_of(row), row.blob_sha256, row.size)
    return index


def _cut(value: str | None, length: int) -> str | None:
    return None if value is None else value[:length]
