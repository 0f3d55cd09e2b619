"""Recording a room, consent first.

A moderator with the record grant asks; everyone sees a notice; every
patient in the room must answer explicitly (their answer goes to the audit
log and the case file), and a patient who refuses is not recorded. Staff
are recorded unless they refuse. The recording starts once every patient
present has answered, shows an indicator to everyone while it runs, and
takes in what starts later (a new camera, a late joiner who accepts).
Each track goes to its own file through recordings.Recorder, which taps
the SFU's forwarded RTP without decoding.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from recordings.composite import CompositeFailed, CompositeJob
from recordings.recorder import Recorder
from signalling.auth.tokens import Grant
from signalling.casefile.documents import add_document, case_file_for
from signalling.db.models import Consultation, User
from signalling.db.recording_models import Recording, RecordingConsent, RecordingFile
from signalling.db.types import utcnow
from signalling.errors import Forbidden
from signalling.rooms.events import EventHandler
from signalling.rooms.listener import RoomListener
from signalling.rooms.manager import Rooms
from signalling.rooms.protocol import Empty, RecordingAnswer
from signalling.rooms.room import Member, ProducerInfo, Room, RoomError, sio_moderators, sio_room

log = logging.getLogger(__name__)


class _ConsentBody(BaseModel):
    """How a patient's answer is kept in their case file."""

    model_config = ConfigDict(extra="forbid")
    kind: str = "consent"
    recording_id: str
    participant: str
    decision: str


class RecordingDesk(RoomListener):
    def __init__(self, rooms: Rooms, recorder: Recorder, directory: Path) -> None:
        self.rooms = rooms
        self.recorder = recorder
        self.directory = directory
        self.active: dict[str, Recording] = {}  # room id -> its recording in progress
        self.decisions: dict[str, dict[str, str]] = {}  # recording id -> member -> decision
        self._closing: set[asyncio.Task[Any]] = set()
        self.composites: dict[str, CompositeJob] = {}  # recording id -> its job

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "recording.request": self.request,
            "recording.consent": self.consent,
            "recording.stop": self.stop,
        }

    async def room_state(self, room_id: str) -> dict[str, Any]:
        recording = self.active.get(room_id)
        if recording is None:
            return {"recording": None}
        return {"recording": {"id": recording.id, "status": recording.status}}

    # Asking ----------------------------------------------------------------

    async def request(self, sid: str, payload: Empty) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        if Grant.RECORD not in member.grants:
            raise Forbidden("you may not record in this room")
        if room.id in self.active:
            raise RoomError("this room is being recorded already")
        platform = self.rooms.platform
        async with platform.db() as db:
            c = await db.scalar(select(Consultation).where(Consultation.room == room.id))
            recording = Recording(
                id=str(uuid.uuid4()),
                room=room.id,
                consultation_id=c.id if c else None,
                requested_by=member.subject,
                status="consent",
            )
            db.add(recording)
            await db.commit()
        self.active[room.id] = recording
        self.decisions[recording.id] = {}
        await platform.audit.record(
            member.actor,
            "recording.request",
            object_type="room",
            object_id=room.id,
            detail={"recording": recording.id},
        )
        await self._decide(room, member, "accepted", recording)
        await self.rooms.sio.emit(
            "recording.consent_request",
            {"recording_id": recording.id, "by": member.name},
            room=sio_room(room.id),
        )
        await self._maybe_start(room, recording)
        return {"recording_id": recording.id, "status": recording.status}

    async def consent(self, sid: str, payload: RecordingAnswer) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        recording = self.active.get(room.id)
        if recording is None or recording.id != payload.recording_id:
            raise RoomError("no such recording in this room")
        decision = "accepted" if payload.accept else "refused"
        await self._decide(room, member, decision, recording)
        await self.rooms.sio.emit(
            "recording.consent_update",
            {
                "recording_id": recording.id,
                "participant_id": member.id,
                "name": member.name,
                "role": member.role,
                "decision": decision,
            },
            room=sio_moderators(room.id),
        )
        if recording.status == "recording":
            if payload.accept:
                await self._record_member(room, member)
            else:
                await self._unrecord_member(room, member)
        else:
            await self._maybe_start(room, recording)
        return {"status": recording.status}

    async def _decide(
        self, room: Room, member: Member, decision: str, recording: Recording
    ) -> None:
        self.decisions[recording.id][member.id] = decision
        platform = self.rooms.platform
        async with platform.db() as db:
            row = await db.get(RecordingConsent, (recording.id, member.id))
            if row is None:
                db.add(
                    RecordingConsent(
                        recording_id=recording.id,
                        participant_id=member.id,
                        subject=member.subject,
                        name=member.name,
                        role=member.role,
                        decision=decision,
                    )
                )
            else:
                row.decision, row.decided_at = decision, utcnow()
            await db.commit()
            if member.role == "patient" and recording.consultation_id:
                c = await db.get(Consultation, recording.consultation_id)
                author = await db.scalar(
                    select(User).where(User.id == int(recording.requested_by.removeprefix("user:")))
                )
                if c is not None and c.patient_id is not None and author is not None:
                    # The patient's answer is part of their record.
                    case_file = await case_file_for(db, c)
                    await add_document(
                        db,
                        case_file,
                        author,
                        _ConsentBody(
                            recording_id=recording.id, participant=member.name, decision=decision
                        ),
                        c.id,
                    )
        await platform.audit.record(
            member.actor,
            "recording.consent",
            object_type="room",
            object_id=room.id,
            detail={"recording": recording.id, "decision": decision},
        )

    # Running -----------------------------------------------------------------

    def _recorded(self, recording: Recording, member: Member) -> bool:
        decision = self.decisions.get(recording.id, {}).get(member.id)
        if member.role == "patient":
            return decision == "accepted"  # explicitly, or not at all
        return decision != "refused"

    async def _maybe_start(self, room: Room, recording: Recording) -> None:
        patients = [m for m in room.admitted() if m.role == "patient"]
        waiting = [m for m in patients if m.id not in self.decisions[recording.id]]
        if waiting or recording.status != "consent":
            return
        recording.status = "recording"
        recording.started_at = utcnow()
        async with self.rooms.platform.db() as db:
            row = await db.get(Recording, recording.id)
            assert row is not None
            row.status, row.started_at = recording.status, recording.started_at
            await db.commit()
        for member in room.admitted():
            if self._recorded(recording, member):
                await self._record_member(room, member)
        excluded = [m.id for m in room.admitted() if not self._recorded(recording, m)]
        await self.rooms.sio.emit(
            "recording.started",
            {"recording_id": recording.id, "excluded": excluded},
            room=sio_room(room.id),
        )

    async def _record_member(self, room: Room, member: Member) -> None:
        for producer_id, info in list(room.producers.items()):
            if info["participant_id"] == member.id:
                await self._start_track(room.id, member.id, producer_id, info["kind"])

    async def _unrecord_member(self, room: Room, member: Member) -> None:
        for producer_id, info in list(room.producers.items()):
            if info["participant_id"] == member.id:
                await self._finish(
                    [await self.recorder.stop(room.id, producer_id)], room.id, member.id
                )

    async def _start_track(self, room_id: str, member_id: str, producer_id: str, kind: str) -> None:
        try:
            await self.recorder.start(room_id, member_id, producer_id, kind)
        except Exception:
            # A track that cannot be recorded must not stop the consultation.
            log.exception("cannot record %s", producer_id)

    async def producer_added(self, room_id: str, info: ProducerInfo) -> None:
        recording = self.active.get(room_id)
        room = self.rooms.rooms.get(room_id)
        if recording is None or room is None or recording.status != "recording":
            return
        member = room.members.get(info["participant_id"])
        if member is not None and member.admitted and self._recorded(recording, member):
            await self._start_track(room_id, member.id, info["producer_id"], info["kind"])

    async def producer_removed(self, room_id: str, producer_id: str) -> None:
        # A camera turned off or a participant gone: finish that file now.
        if room_id in self.active and producer_id in self.recorder.recording(room_id):
            await self._finish([await self.recorder.stop(room_id, producer_id)], room_id, None)

    async def stop(self, sid: str, payload: Empty) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        if Grant.RECORD not in member.grants:
            raise Forbidden("you may not stop the recording")
        recording = self.active.get(room.id)
        if recording is None:
            raise RoomError("nothing is being recorded")
        files = await self._stop(room.id)
        await self.rooms.platform.audit.record(
            member.actor,
            "recording.stop",
            object_type="room",
            object_id=room.id,
            detail={"recording": recording.id, "files": files},
        )
        return {"status": "stopped", "files": files}

    async def _stop(self, room_id: str) -> int:
        recording = self.active.pop(room_id)
        infos = await self.recorder.stop_room(room_id)
        count = await self._finish(infos, room_id, None, recording=recording)
        async with self.rooms.platform.db() as db:
            row = await db.get(Recording, recording.id)
            assert row is not None
            row.status = "stopped" if recording.status == "recording" else "refused"
            row.ended_at = utcnow()
            await db.commit()
        await self.rooms.sio.emit(
            "recording.stopped",
            {"recording_id": recording.id, "files": count},
            room=sio_room(room_id),
        )
        await self._compose(recording)
        return count

    async def _compose(self, recording: Recording) -> None:
        """After the session: one file, the videos in a grid and the audio mixed.

        Decoding and encoding happen in another process, never on the forwarding path.
        """
        async with self.rooms.platform.db() as db:
            files = list(
                await db.scalars(
                    select(RecordingFile).where(RecordingFile.recording_id == recording.id)
                )
            )
        sidecars = [
            (self.directory / f.path).with_suffix(".json")
            for f in files
            if f.kind in ("audio", "video")
        ]
        if not sidecars:
            return
        out = self.directory / room_id_dir(recording.room) / f"composite_{recording.id}.webm"
        job = CompositeJob(sidecars, out)
        self.composites[recording.id] = job
        job.start()
        task = asyncio.ensure_future(self._composed(recording, job))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _composed(self, recording: Recording, job: CompositeJob) -> None:
        try:
            facts = await job.wait()
        except CompositeFailed:
            log.exception("composite of %s failed", recording.id)
            return
        async with self.rooms.platform.db() as db:
            db.add(
                RecordingFile(
                    recording_id=recording.id,
                    participant_id="*",
                    producer_id="composite",
                    kind="composite",
                    path=str(job.out.relative_to(self.directory)),
                    sha256=facts.sha256,
                    duration_s=facts.duration,
                    size=job.out.stat().st_size,
                )
            )
            await db.commit()

    def composite_progress(self, recording_id: str) -> float | None:
        job = self.composites.get(recording_id)
        return None if job is None else job.progress

    async def _finish(
        self,
        infos: list[Any],
        room_id: str,
        member_id: str | None,
        recording: Recording | None = None,
    ) -> int:
        recording = recording or self.active.get(room_id)
        if recording is None:
            return 0
        count = 0
        async with self.rooms.platform.db() as db:
            for info in infos:
                if info is None:
                    continue
                media = self.directory / room_id_dir(room_id) / info.media
                db.add(
                    RecordingFile(
                        recording_id=recording.id,
                        participant_id=info.peer_id,
                        producer_id=info.producer_id,
                        kind=info.kind,
                        path=str(media.relative_to(self.directory)),
                        sha256=info.sha256,
                        duration_s=info.duration,
                        size=media.stat().st_size if media.exists() else None,
                    )
                )
                count += 1
            await db.commit()
        return count

    def room_closed(self, room_id: str) -> None:
        if room_id in self.active:
            task = asyncio.ensure_future(self._stop(room_id))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)


def room_id_dir(room_id: str) -> str:
    from recordings.recorder import safe_name

    return safe_name(room_id)
