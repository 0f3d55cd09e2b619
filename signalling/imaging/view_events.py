"""Shared image viewing in a room: view.* events over socket.io.

The presenter's client sends state (frame, window, zoom, annotations...);
the server keeps each object's state with a version (dicom_viewer's
ViewStates drops stale updates) and broadcasts it to the room as
``view.state``. Pixels never travel here: every client fetches renditions
over HTTP, which caches them.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from dicom_viewer.view_state import Outcome, UpdateResult, ViewState
from signalling.audit import Outcome as AuditOutcome
from signalling.auth.tokens import Grant
from signalling.db.models import Consultation, ConsultationStudy, ImagingInstance, ImagingSeries
from signalling.errors import Forbidden
from signalling.imaging.catalog import info_of, load_index
from signalling.imaging.desk import Imaging
from signalling.rooms.events import EventHandler
from signalling.rooms.listener import RoomListener
from signalling.rooms.manager import Rooms
from signalling.rooms.protocol import ViewChange, ViewHandover, ViewOpen, ViewRef
from signalling.rooms.room import Member, Room, RoomError, sio_room


def _json(state: ViewState) -> dict[str, Any]:
    return state.model_dump(mode="json")


class ViewEvents(RoomListener):
    def __init__(self, rooms: Rooms, imaging: Imaging) -> None:
        self.rooms = rooms
        self.imaging = imaging
        self.views = imaging.views
        self._shown: dict[str, set[str]] = {}  # room -> objects it shows

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "view.open": self.open,
            "view.update": self.update,
            "view.handover": self.handover,
            "view.claim": self.claim,
            "view.close": self.close,
        }

    def room_closed(self, room_id: str) -> None:
        self.views.close(room_id)
        for object_id in self._shown.pop(room_id, set()):
            self._forget(object_id)

    def _forget(self, object_id: str) -> None:
        # the frames' blobs are kept while any room on this node shows the object
        if not any(object_id in shown for shown in self._shown.values()):
            self.imaging.forget_frames(object_id)

    async def room_state(self, room_id: str) -> dict[str, Any]:
        # a late joiner is in step at once: every object's current state
        return {"views": [_json(s) for s in self.views.room(room_id)]}

    async def member_gone(self, room_id: str, member_id: str) -> None:
        for state in self.views.leave(room_id, member_id):
            await self._broadcast(state)

    async def _broadcast(self, state: ViewState, skip_sid: str | None = None) -> None:
        await self.rooms.sio.emit(
            "view.state", _json(state), room=sio_room(state.room_id), skip_sid=skip_sid
        )

    async def open(self, sid: str, payload: ViewOpen) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        if Grant.VIEW_CASE_FILE not in member.grants:
            # A patient follows what a clinician shows; bringing up the case
            # file's images is the care team's (the room token's grant).
            await self.rooms.platform.audit.record(
                member.actor,
                "imaging.view",
                outcome=AuditOutcome.DENIED,
                object_type=payload.kind,
                object_id=payload.object_id,
                detail={
                    "room": room.id,
                    "object": payload.object_id,
                    "reason": "no case-file grant",
                },
                patient_id=await self._patient(room),
            )
            raise Forbidden("only the care team opens the case file's images")
        existing = self.views.current(room.id, payload.object_id)
        if existing is not None:
            return {"state": _json(existing)}
        study_uid, frames, spacing, series_uid, fps = await self._object(room, payload)
        state = self.views.open(
            room.id,
            payload.object_id,
            member.id,
            frames=len(frames),
            pixel_spacing=spacing,
            series_uid=series_uid,
            fps=fps,
        )
        self.imaging.remember_frames(payload.object_id, frames)
        self._shown.setdefault(room.id, set()).add(payload.object_id)
        await self.rooms.platform.audit.record(
            member.actor,
            "imaging.view",
            object_type="study",
            object_id=study_uid,
            detail={"room": room.id, "object": payload.object_id},
            patient_id=await self._patient(room),
        )
        await self._broadcast(state, skip_sid=sid)
        return {"state": _json(state)}

    async def _patient(self, room: Room) -> int | None:
        """The consultation's patient, whose images these are."""
        async with self.rooms.platform.db() as db:
            return await db.scalar(
                select(Consultation.patient_id).where(Consultation.room == room.id)
            )

    async def _object(
        self, room: Room, payload: ViewOpen
    ) -> tuple[str, list[tuple[str, int]], tuple[float, float] | None, str | None, float | None]:
        """(study, blob and frame per displayed frame, pixel spacing, series, fps)."""
        async with self.rooms.platform.db() as db:
            c = await db.scalar(select(Consultation).where(Consultation.room == room.id))
            if payload.kind == "series":
                series = await db.get(ImagingSeries, payload.object_id)
                study_uid = None if series is None else series.study_uid
            else:
                instance = await db.get(ImagingInstance, payload.object_id)
                study_uid = None if instance is None else instance.study_uid
            linked = (
                c is not None
                and study_uid is not None
                and await db.get(ConsultationStudy, (c.id, study_uid)) is not None
            )
            if not linked or study_uid is None:
                raise RoomError("no such object in this consultation's case file")
            if payload.kind == "instance":
                assert instance is not None
                info = info_of(instance)
                frames = [(instance.blob_sha256, i) for i in range(info.frames)]
                return study_uid, frames, info.pixel_spacing, None, info.frame_rate
            index = await load_index(db, [study_uid])
        record = index.series(payload.object_id)
        assert record is not None
        ordered = record.ordered()
        spacing = ordered[0].info.pixel_spacing if ordered else None
        return study_uid, [(r.blob_sha256, 0) for r in ordered], spacing, payload.object_id, None

    async def _answer(self, sid: str, result: UpdateResult) -> dict[str, Any]:
        if result.outcome is Outcome.APPLIED:
            assert result.state is not None
            await self._broadcast(result.state, skip_sid=sid)
            return {"applied": True, "state": _json(result.state)}
        if result.outcome is Outcome.STALE:
            # out of order, not wrong: answered, not counted as a refusal
            assert result.state is not None
            return {"applied": False, "stale": True, "state": _json(result.state)}
        if result.outcome is Outcome.UNKNOWN_OBJECT:
            raise RoomError("that object is not shown in this room")
        raise RoomError(result.detail or result.outcome.value)

    async def update(self, sid: str, payload: ViewChange) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        result = self.views.update(room.id, payload.object_id, member.id, payload.update)
        return await self._answer(sid, result)

    async def handover(self, sid: str, payload: ViewHandover) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        target = room.members.get(payload.participant_id)
        if target is None or not target.admitted:
            raise RoomError("no such participant in this room")
        result = self.views.hand_over(
            room.id, payload.object_id, member.id, target.id, sender_moderates=member.moderator
        )
        return await self._answer(sid, result)

    async def claim(self, sid: str, payload: ViewRef) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        return await self._answer(sid, self.views.claim(room.id, payload.object_id, member.id))

    async def close(self, sid: str, payload: ViewRef) -> dict[str, Any]:
        room, member = self.rooms.admitted(sid)
        state = self.views.current(room.id, payload.object_id)
        if state is None:
            raise RoomError("that object is not shown in this room")
        if not _may_close(state, member):
            raise RoomError("only the presenter or a moderator closes it")
        self.views.close(room.id, payload.object_id)
        self._shown.get(room.id, set()).discard(payload.object_id)
        self._forget(payload.object_id)
        await self.rooms.sio.emit(
            "view.closed", {"object_id": payload.object_id}, room=sio_room(room.id)
        )
        return {"ok": True}


def _may_close(state: ViewState, member: Member) -> bool:
    return state.presenter == member.id or member.moderator
