"""Training sessions in a room: questions with upvotes, speakers, the attendance register.

Trainees join with a token that lets them receive and chat but not publish,
so a broadcast costs the server no upstream media from them. A trainer
promotes a trainee (who raised a hand) to speaker: the member's grants grow
and their media peer is joined again with the new permissions, after which
their page publishes; demotion reverses it.

These events belong to trainings only (a consultation's room has a patient
in it, and no questions board), and what a moderator does here the
training's trainer does, checked again at each event: a role taken away
during a session takes the trainer's powers with it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from signalling.audit import Outcome
from signalling.auth.tokens import Grant
from signalling.db.models import Consultation, User
from signalling.db.training_models import Attendance, TrainingQuestion, TrainingVote
from signalling.db.types import utcnow
from signalling.dispatch.training_policy import is_trainer, training_in_room
from signalling.errors import Forbidden
from signalling.rooms.events import EventHandler
from signalling.rooms.listener import RoomListener
from signalling.rooms.manager import Rooms
from signalling.rooms.protocol import Promote, QuestionAsk, QuestionRef
from signalling.rooms.room import Member, Room, RoomError, sio_room

SPEAKER_GRANTS = frozenset({Grant.PUBLISH_AUDIO, Grant.PUBLISH_VIDEO, Grant.PUBLISH_SCREEN})


class TrainingEvents(RoomListener):
    def __init__(self, rooms: Rooms) -> None:
        self.rooms = rooms

    def handlers(self) -> dict[str, EventHandler]:
        return {
            "qa.ask": self.ask,
            "qa.upvote": self.upvote,
            "qa.answer": self.answer,
            "qa.dismiss": self.dismiss,
            "participant.promote": self.promote,
        }

    # Which room, whose -------------------------------------------------------

    async def _training(self, room: Room) -> Consultation:
        async with self.rooms.platform.db() as db:
            training = await training_in_room(db, room.id)
        if training is None:
            raise RoomError("questions and speakers are for trainings")
        return training

    async def _trainee(self, sid: str) -> tuple[Room, Member]:
        room, member = self.rooms.admitted(sid)
        await self._training(room)
        return room, member

    async def _trainer(self, sid: str) -> tuple[Room, Member]:
        room, member = self.rooms.moderator(sid)
        training = await self._training(room)
        user = None
        if member.subject.startswith("user:"):
            async with self.rooms.platform.db() as db:
                user = await db.get(User, int(member.subject.removeprefix("user:")))
        if user is None or not is_trainer(training, user):
            await self.rooms.platform.audit.record(
                member.actor,
                "room.moderate",
                outcome=Outcome.DENIED,
                object_type="room",
                object_id=room.id,
                detail={"reason": "not the training's trainer"},
            )
            raise Forbidden("only the training's trainer does that")
        return room, member

    # Questions ---------------------------------------------------------------

    async def _questions(self, room_id: str) -> list[dict[str, Any]]:
        votes = (
            select(TrainingVote.question_id, func.count().label("votes"))
            .group_by(TrainingVote.question_id)
            .subquery()
        )
        async with self.rooms.platform.db() as db:
            rows = await db.execute(
                select(TrainingQuestion, func.coalesce(votes.c.votes, 0))
                .outerjoin(votes, votes.c.question_id == TrainingQuestion.id)
                .where(TrainingQuestion.room == room_id, TrainingQuestion.status == "open")
                .order_by(func.coalesce(votes.c.votes, 0).desc(), TrainingQuestion.id)
            )
            return [
                {"id": q.id, "author": q.author_name, "text": q.text, "votes": int(n)}
                for q, n in rows
            ]

    async def room_state(self, room_id: str) -> dict[str, Any]:
        return {"questions": await self._questions(room_id)}

    async def _broadcast(self, room: Room) -> None:
        await self.rooms.sio.emit(
            "qa.updated", {"questions": await self._questions(room.id)}, room=sio_room(room.id)
        )

    async def ask(self, sid: str, payload: QuestionAsk) -> dict[str, Any]:
        room, member = await self._trainee(sid)
        question = TrainingQuestion(
            room=room.id, author=member.id, author_name=member.name, text=payload.text
        )
        async with self.rooms.platform.db() as db:
            db.add(question)
            await db.commit()
        await self._broadcast(room)
        return {"id": question.id}

    async def upvote(self, sid: str, payload: QuestionRef) -> dict[str, Any]:
        room, member = await self._trainee(sid)
        await self._question(room, payload.question_id)
        async with self.rooms.platform.db() as db:
            db.add(TrainingVote(question_id=payload.question_id, voter=member.id))
            try:
                await db.commit()
            except IntegrityError:  # one vote each; a second is not an error
                await db.rollback()
                return {"ok": True, "counted": False}
        await self._broadcast(room)
        return {"ok": True, "counted": True}

    async def _question(self, room: Room, question_id: int) -> TrainingQuestion:
        async with self.rooms.platform.db() as db:
            question = await db.get(TrainingQuestion, question_id)
        if question is None or question.room != room.id or question.status != "open":
            raise RoomError("no such open question in this room")
        return question

    async def _close(self, sid: str, payload: QuestionRef, status: str) -> dict[str, Any]:
        room, _ = await self._trainer(sid)
        await self._question(room, payload.question_id)
        async with self.rooms.platform.db() as db:
            await db.execute(
                update(TrainingQuestion)
                .where(TrainingQuestion.id == payload.question_id)
                .values(status=status)
            )
            await db.commit()
        await self._broadcast(room)
        return {"ok": True}

    async def answer(self, sid: str, payload: QuestionRef) -> dict[str, Any]:
        return await self._close(sid, payload, "answered")

    async def dismiss(self, sid: str, payload: QuestionRef) -> dict[str, Any]:
        return await self._close(sid, payload, "dismissed")

    # Speakers ----------------------------------------------------------------

    async def promote(self, sid: str, payload: Promote) -> dict[str, Any]:
        room, moderator = await self._trainer(sid)
        target = self.rooms.target(room, payload.participant_id)
        if not target.admitted:
            raise RoomError("admit them first")
        target.grants = (
            target.grants | SPEAKER_GRANTS if payload.speaker else target.grants - SPEAKER_GRANTS
        )
        target.hand_raised = False
        # The media plane takes permissions at join: join again with the new ones.
        await self.rooms.rejoin_media(room, target)
        await self.rooms.platform.audit.record(
            moderator.actor,
            "room.promote" if payload.speaker else "room.demote",
            object_type="room",
            object_id=room.id,
            detail={"member": target.id},
        )
        if target.sid is not None:
            await self.rooms.sio.emit("room.promoted", {"speaker": payload.speaker}, to=target.sid)
        await self.rooms.sio.emit("participant.updated", target.public(), room=sio_room(room.id))
        return {"ok": True}

    # Attendance ----------------------------------------------------------------

    async def member_entered(self, room: Room, member: Member) -> None:
        async with self.rooms.platform.db() as db:
            if await training_in_room(db, room.id) is None:
                return  # a consultation keeps no register (its patient is not a trainee)
            open_stay = await db.scalar(
                select(Attendance.id).where(
                    Attendance.room == room.id,
                    Attendance.member_id == member.id,
                    Attendance.left_at.is_(None),
                )
            )
            if open_stay is not None:
                return  # a reconnect within the grace period is the same stay
            user = None
            if member.subject.startswith("user:"):
                user = await db.get(User, int(member.subject.removeprefix("user:")))
            db.add(
                Attendance(
                    room=room.id,
                    member_id=member.id,
                    user_id=user.id if user else None,
                    name=member.name,
                    facility_id=user.facility_id if user else None,
                )
            )
            await db.commit()

    async def member_gone(self, room_id: str, member_id: str) -> None:
        async with self.rooms.platform.db() as db:
            await db.execute(
                update(Attendance)
                .where(
                    Attendance.room == room_id,
                    Attendance.member_id == member_id,
                    Attendance.left_at.is_(None),
                )
                .values(left_at=utcnow())
            )
            await db.commit()
