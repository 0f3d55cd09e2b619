"""Imaging for the control plane: objects validated, stored, indexed and
filed in a consultation's case file; renditions served; reads audited.

Validation and rendering are CPU work on files, so they run in threads and
the event loop stays free for the room.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.exc import IntegrityError

from dicom_viewer.instance import InstanceInfo
from dicom_viewer.limits import IngestLimits
from dicom_viewer.measure import RegionStats
from dicom_viewer.service import ImagingService
from dicom_viewer.validate import Accepted, Refused, validate
from dicom_viewer.view_state import RegionAnnotation, ViewStates

from ..audit import Actor
from ..platform import Platform
from .catalog import CatalogConflict, attach, file_instance

log = logging.getLogger(__name__)
MB = 1024 * 1024
# A scroll through a series is one read for the audit log, not a hundred.
READ_AUDIT_WINDOW_S = 300.0


@dataclass(frozen=True, slots=True)
class Filed:
    info: InstanceInfo
    blob_sha256: str
    attached: bool


FileResult = Filed | Refused


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
        consultation_id: str | None,
        source_kind: str,
        user_id: int | None,
    ) -> FileResult:
        """Validate, store and file one object; a refusal stores nothing."""
        result = await self.validate(source)
        if isinstance(result, Refused):
            return result
        return await self.file(
            result, consultation_id=consultation_id, source_kind=source_kind, user_id=user_id
        )

    async def file(
        self,
        accepted: Accepted,
        *,
        consultation_id: str | None,
        source_kind: str,
        user_id: int | None,
    ) -> FileResult:
        blob = await asyncio.to_thread(self.platform.blobs.put_bytes, accepted.data)
        info = accepted.info
        # two uploads of one new study race to create its rows: the loser retries
        for attempt in range(3):
            try:
                async with self.platform.db() as db:
                    await file_instance(db, info, blob.sha256, len(accepted.data))
                    attached = False
                    if consultation_id is not None:
                        attached = await attach(
                            db, consultation_id, info.study_instance_uid, source_kind, user_id
                        )
                    await db.commit()
                return Filed(info, blob.sha256, attached)
            except CatalogConflict as conflict:
                return Refused(str(conflict))
            except IntegrityError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

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
