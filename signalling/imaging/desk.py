"""Imaging for the control plane: objects validated, stored, indexed and
filed in a consultation's case file; renditions served; reads audited.

Validation and rendering are CPU work on files, so they run in threads and
the event loop stays free for the room.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from dicom_viewer.instance import InstanceInfo
from dicom_viewer.limits import IngestLimits
from dicom_viewer.measure import RegionStats
from dicom_viewer.service import ImagingService
from dicom_viewer.validate import Accepted, Refused, validate
from dicom_viewer.view_state import RegionAnnotation, ViewStates
from signalling.audit import Actor, Outcome
from signalling.db.models import Consultation, ImagingInstance, Patient
from signalling.imaging.access import Claimant, joinable
from signalling.imaging.catalog import (
    CatalogConflict,
    Duplicate,
    HeldElsewhere,
    attach,
    file_instance,
    touched_studies,
)
from signalling.imaging.identity import PatientMismatch, check_patient
from signalling.platform import Platform

log = logging.getLogger(__name__)
MB = 1024 * 1024
# A scroll through a series is one read for the audit log, not a hundred.
READ_AUDIT_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class Filed:
    info: InstanceInfo
    blob_sha256: str
    attached: bool
    # False when the same bytes were already stored under this SOP Instance UID
    new: bool = True


@dataclass(frozen=True, slots=True)
class Declined:
    """A valid object refused by the platform's rules, with a code a client
    can act on: ``uid_conflict``, ``duplicate``, ``uid_mismatch``."""

    reason: str
    code: str
    info: InstanceInfo


@dataclass(frozen=True, slots=True)
class Held:
    """An object whose patient differs from the case file's: kept out until
    the uploader confirms (and nothing is stored meanwhile)."""

    info: InstanceInfo
    mismatch: PatientMismatch


FileResult = Filed | Refused | Declined | Held


class Imaging:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.limits = IngestLimits(max_file_bytes=platform.settings.max_upload_mb * MB)
        self.service = ImagingService(platform.blobs, self.limits, cached_datasets=64)
        self.views = ViewStates(measure_region=self._measure_region)
        # object shown in a room -> the blob and frame behind each of its frames
        self._view_frames: dict[str, list[tuple[str, int]]] = {}

    async def validate(self, source: bytes | Path) -> Accepted | Refused:
        return await asyncio.to_thread(validate, source, self.limits)

    async def accept(
        self,
        source: bytes | Path,
        *,
        claimant: Claimant,
        actor: Actor,
        source_kind: str,
        confirm_patient: bool = False,
    ) -> FileResult:
        """Validate, store and file one object; a refusal stores nothing."""
        result = await self.validate(source)
        if isinstance(result, Refused):
            return result
        return await self.file(
            result,
            claimant=claimant,
            actor=actor,
            source_kind=source_kind,
            confirm_patient=confirm_patient,
        )

    async def file(
        self,
        accepted: Accepted,
        *,
        claimant: Claimant,
        actor: Actor,
        source_kind: str,
        confirm_patient: bool = False,
    ) -> FileResult:
        """Store and file a validated object under the ownership and
        patient-identity rules; refusals and confirmations are audited here,
        the same for the browser, STOW-RS and C-STORE."""
        info = accepted.info
        consultation = claimant.consultation
        mismatch = await self._patient_mismatch(info, consultation)
        if mismatch is not None and not confirm_patient:
            await self._audit_rule(actor, "imaging.patient_mismatch", info, consultation, mismatch)
            return Held(info, mismatch)
        # checked before anything is written, so a refused object leaves no blob
        sha256 = await asyncio.to_thread(lambda: hashlib.sha256(accepted.data).hexdigest())
        async with self.platform.db() as db:
            refusal = await self._ownership(db, claimant, info, sha256)
        if refusal is not None:
            return await self._declined(actor, info, consultation, refusal)
        blob = await asyncio.to_thread(self.platform.blobs.put_bytes, accepted.data)
        # Two uploads of one new study race to create its rows: the loser
        # retries, and file_instance applies the same rules again in the
        # transaction that writes.
        refusal = None
        for attempt in range(3):
            try:
                async with self.platform.db() as db:
                    allowed = await joinable(db, claimant, await touched_studies(db, info))
                    _, new = await file_instance(
                        db, info, blob.sha256, len(accepted.data), may_join=allowed
                    )
                    attached = False
                    if consultation is not None:
                        attached = await attach(
                            db,
                            consultation.id,
                            info.study_instance_uid,
                            source_kind,
                            claimant.user.id if claimant.user else None,
                        )
                    await db.commit()
                if mismatch is not None:
                    await self._audit_rule(
                        actor, "imaging.patient_confirmed", info, consultation, mismatch
                    )
                return Filed(info, blob.sha256, attached, new)
            except CatalogConflict as conflict:
                refusal = conflict
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        assert refusal is not None
        return await self._declined(actor, info, consultation, refusal)

    async def _patient_mismatch(
        self, info: InstanceInfo, consultation: Consultation | None
    ) -> PatientMismatch | None:
        if consultation is None or consultation.patient_id is None:
            return None
        async with self.platform.db() as db:
            patient = await db.get(Patient, consultation.patient_id)
        return check_patient(info, patient)

    @staticmethod
    async def _ownership(
        db: AsyncSession, claimant: Claimant, info: InstanceInfo, sha256: str
    ) -> CatalogConflict | None:
        """Why this object may not be filed, checked without writing."""
        touched = await touched_studies(db, info)
        if touched - await joinable(db, claimant, touched):
            return HeldElsewhere()
        stored = await db.get(ImagingInstance, info.sop_instance_uid)
        if stored is not None and stored.blob_sha256 != sha256:
            return Duplicate(info.sop_instance_uid)
        return None

    async def _declined(
        self,
        actor: Actor,
        info: InstanceInfo,
        consultation: Consultation | None,
        refusal: CatalogConflict,
    ) -> Declined:
        await self.platform.audit.record(
            actor,
            f"imaging.{refusal.code}",
            outcome=Outcome.DENIED,
            object_type="study",
            object_id=info.study_instance_uid,
            detail={
                "consultation": consultation.id if consultation else None,
                "series": info.series_instance_uid,
                "sop": info.sop_instance_uid,
                "reason": str(refusal),
            },
        )
        return Declined(str(refusal), refusal.code, info)

    async def _audit_rule(
        self,
        actor: Actor,
        action: str,
        info: InstanceInfo,
        consultation: Consultation | None,
        mismatch: PatientMismatch,
    ) -> None:
        held = action == "imaging.patient_mismatch"
        await self.platform.audit.record(
            actor,
            action,
            outcome=Outcome.DENIED if held else Outcome.OK,
            object_type="study",
            object_id=info.study_instance_uid,
            detail={
                "consultation": consultation.id if consultation else None,
                "sop": info.sop_instance_uid,
                "reason": mismatch.reason,
                "object_patient": mismatch.object_patient,
            },
        )

    async def audit_read(
        self, actor: Actor, action: str, study_uid: str, detail: dict[str, object] | None = None
    ) -> None:
        """Audit a read of a study's images, once per reader, study and window."""
        key = f"imaging-read:{actor.id}:{action}:{study_uid}"
        fresh = await self.platform.shared.set(
            key, "1", ttl=READ_AUDIT_WINDOW_S, only_if_absent=True
        )
        if fresh:
            await self.platform.audit.record(
                actor, action, object_type="study", object_id=study_uid, detail=detail
            )

    # View state --------------------------------------------------------

    def remember_frames(self, object_id: str, frames: list[tuple[str, int]]) -> None:
        self._view_frames[object_id] = frames

    def forget_frames(self, object_id: str) -> None:
        self._view_frames.pop(object_id, None)

    def _measure_region(self, object_id: str, region: RegionAnnotation) -> RegionStats | None:
        frames = self._view_frames.get(object_id)
        if frames is None or region.frame >= len(frames):
            return None
        sha, frame = frames[region.frame]
        try:
            return self.service.region_stats(
                sha,
                frame,
                region.shape,
                region.corner_a.pair(),
                region.corner_b.pair(),
                _pixel_spacing(self.service.dataset(sha)),
            )
        except ValueError as exc:  # a colour image has no single pixel value: area only
            log.debug("no region statistics: %s", exc)
            return None
        except Exception:
            log.exception("region measurement failed")
            return None


def _pixel_spacing(ds: Any) -> tuple[float, float] | None:
    """(row, column) spacing in mm, if the image says; the area needs it."""
    try:
        row, column = (float(v) for v in ds.PixelSpacing)
    except (AttributeError, TypeError, ValueError):
        return None
    return (row, column) if row > 0 and column > 0 else None
