"""The DIMSE C-STORE receiver, wired to the case files.

Off unless ``dicom_scp_port`` is set. pynetdicom calls back from its own
threads; each object is filed on the event loop and the sender is answered
only once it is stored, so a success status means the object is kept.

Which consultation an object joins: the open one (requested, scheduled or
live) whose patient's identifier equals the object's PatientID, the newest
if a facility has several. When none matches, or the identifier matches
patients of different facilities (it is unique only within one), the study
is kept unattached, out of everyone's sight, rather than guessed.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select

from dicom_viewer.scp import Origin, StorageSCP, StorageSCPConfig, StoreRefused
from dicom_viewer.validate import Accepted, Refused
from signalling.audit import Actor, Outcome
from signalling.db.models import Consultation, ConsultStatus, Patient
from signalling.imaging.access import Claimant
from signalling.imaging.desk import Declined, FileResult, Held, Imaging

log = logging.getLogger(__name__)
OPEN = (ConsultStatus.REQUESTED, ConsultStatus.SCHEDULED, ConsultStatus.LIVE)
FILING_TIMEOUT_S = 60.0


class Receiver:
    def __init__(self, imaging: Imaging) -> None:
        self.imaging = imaging
        self.scp: StorageSCP | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        settings = self.imaging.platform.settings
        if settings.dicom_scp_port is None:
            return
        self._loop = asyncio.get_running_loop()
        config = StorageSCPConfig(
            ae_title=settings.dicom_scp_ae_title,
            host=settings.dicom_scp_host,
            port=settings.dicom_scp_port,
            limits=self.imaging.limits,
        )
        self.scp = StorageSCP(config, self._accepted, self._refused)
        await asyncio.to_thread(self.scp.start)
        _, port = self.scp.address
        log.info("DICOM receiver listening", extra={"ae_title": config.ae_title, "port": port})

    async def stop(self) -> None:
        if self.scp is not None:
            await asyncio.to_thread(self.scp.stop)
            self.scp = None

    # pynetdicom threads ------------------------------------------------------

    def _accepted(self, accepted: Accepted, origin: Origin) -> None:
        assert self._loop is not None
        future = asyncio.run_coroutine_threadsafe(self._file(accepted, origin), self._loop)
        reason = future.result(timeout=FILING_TIMEOUT_S)
        if reason is not None:
            raise StoreRefused(reason)  # answered as a failure with the reason

    def _refused(self, refused: Refused, origin: Origin) -> None:
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(
            self.imaging.platform.audit.record(
                _actor(origin),
                "imaging.store",
                outcome=Outcome.DENIED,
                detail={"reason": refused.reason},
            ),
            self._loop,
        )

    # event loop ------------------------------------------------------------------

    async def _file(self, accepted: Accepted, origin: Origin) -> str | None:
        patient_identifier = accepted.info.patient_id
        consultation = await self.consultation_for(patient_identifier)
        actor = _actor(origin)

        async def file_into(target: Consultation | None) -> FileResult:
            return await self.imaging.file(
                accepted,
                claimant=Claimant(None, target, patient_identifier),
                actor=actor,
                source_kind="c-store",
            )

        result = await file_into(consultation)
        if isinstance(result, Held):
            # matched by PatientID, yet the birth date, sex or name disagree: a
            # modality cannot confirm, so it is kept out of sight, unattached
            consultation = None
            result = await file_into(None)
        if isinstance(result, Refused | Declined | Held):
            return result.reason if not isinstance(result, Held) else result.mismatch.reason
        await self.imaging.platform.audit.record(
            actor,
            "imaging.store",
            object_type="study",
            object_id=accepted.info.study_instance_uid,
            detail={
                "consultation": consultation.id if consultation else None,
                "sop": accepted.info.sop_instance_uid,
            },
        )
        return None

    async def consultation_for(self, patient_identifier: str | None) -> Consultation | None:
        if not patient_identifier:
            return None
        async with self.imaging.platform.db() as db:
            rows = list(
                await db.execute(
                    select(Consultation, Patient.home_facility_id)
                    .join(Patient, Patient.id == Consultation.patient_id)
                    .where(Patient.identifier == patient_identifier, Consultation.status.in_(OPEN))
                    .order_by(Consultation.created_at.desc())
                )
            )
        if not rows or len({facility for _, facility in rows}) > 1:
            return None
        consultation: Consultation = rows[0][0]
        return consultation


def _actor(origin: Origin) -> Actor:
    return Actor(f"dicom:{origin.calling_ae_title}"[:80], "modality", origin.address)
