"""Pairing and dispatch: a district request finds a specialist, ring by ring.

Ring 1 is the central hospitals paired with the requesting facility for the
wanted specialty (or for all specialties); ring 2 the facility's other
paired hospitals; ring 3 every central hospital. Each ring is offered to
its specialists of that specialty who are on call and online; if nobody
accepts before the urgency's deadline, or everyone declines, or nobody is
there at all, the request moves to the next ring. Offers accumulate: a
specialist asked in ring 1 can still accept after it escalated.

The first accept wins by a conditional UPDATE, so two specialists pressing
"accept" together, even on two nodes, cannot both get it. Once taken, the
request is no longer an offer: only its participants and its requesting
facility's staff read it.

Every change is audited here with the caller's actor (address included);
the routes audit what they read and what they refuse.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol, TypedDict

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.audit import SYSTEM, Actor
from signalling.db.models import (
    Consultation,
    ConsultationEvent,
    ConsultKind,
    ConsultStatus,
    Facility,
    FacilityLevel,
    Pairing,
    Participant,
    Patient,
    Role,
    Urgency,
    User,
    UserSpecialty,
)
from signalling.db.types import utcnow
from signalling.dispatch.training_policy import TRAINING_ENDPOINT
from signalling.errors import Conflict, Forbidden, NotFound, PlatformError
from signalling.platform import Platform
from signalling.realtime.presence import Presence

log = logging.getLogger(__name__)

LAST_RING = 3


class Notifier(Protocol):
    """Delivers an event to every connection of a user, on whichever node it is."""

    async def to_user(self, user_id: int, event: str, data: Mapping[str, object]) -> None: ...


@dataclass(frozen=True)
class Deadlines:
    emergency: timedelta
    urgent: timedelta
    routine: timedelta

    def for_urgency(self, urgency: Urgency) -> timedelta:
        return {
            Urgency.EMERGENCY: self.emergency,
            Urgency.URGENT: self.urgent,
            Urgency.ROUTINE: self.routine,
        }[urgency]


def _event(c: Consultation, action: str, actor: User | None, **detail: object) -> ConsultationEvent:
    return ConsultationEvent(
        consultation_id=c.id,
        actor_id=actor.id if actor else None,
        action=action,
        detail=json.dumps(detail, ensure_ascii=False, default=str),
    )


class Summary(TypedDict):
    """A consultation as clients see it; times in ISO 8601."""

    id: str
    kind: str
    specialty: str
    urgency: str
    status: str
    ring: int
    ring_deadline: str | None
    question: str
    room: str
    created_at: str
    scheduled_for: str | None


def summary(c: Consultation) -> Summary:
    """What clients are told about a consultation (no patient details)."""
    return {
        "id": c.id,
        "kind": c.kind.value,
        "specialty": c.specialty,
        "urgency": c.urgency.value,
        "status": c.status.value,
        "ring": c.ring,
        "ring_deadline": c.ring_deadline.isoformat() if c.ring_deadline else None,
        "question": c.question,
        "room": c.room,
        "created_at": c.created_at.isoformat(),
        "scheduled_for": c.scheduled_for.isoformat() if c.scheduled_for else None,
    }


class Dispatcher:
    def __init__(self, platform: Platform, notifier: Notifier, deadlines: Deadlines) -> None:
        self.platform = platform
        self.notifier = notifier
        self.deadlines = deadlines
        self.presence = Presence(platform.shared)

    # Who is asked ------------------------------------------------------------

    async def _ring_facilities(self, db: AsyncSession, c: Consultation, ring: int) -> set[int]:
        pairings = list(
            await db.scalars(select(Pairing).where(Pairing.partner_id == c.facility_id))
        )
        first = {p.central_id for p in pairings if p.specialty in ("", c.specialty)}
        if ring == 1:
            return first
        paired = {p.central_id for p in pairings}
        if ring == 2:
            return paired
        central = await db.scalars(
            select(Facility.id).where(Facility.level == FacilityLevel.CENTRAL)
        )
        return set(central)

    async def _declined_by(self, db: AsyncSession, c: Consultation) -> set[int]:
        rows = await db.scalars(
            select(ConsultationEvent.actor_id).where(
                ConsultationEvent.consultation_id == c.id,
                ConsultationEvent.action == "declined",
            )
        )
        return {r for r in rows if r is not None}

    async def candidates(self, db: AsyncSession, c: Consultation, ring: int) -> list[User]:
        """On-call, online specialists of the specialty in rings 1..ring, minus decliners."""
        facilities = await self._ring_facilities(db, c, ring)
        if not facilities:
            return []
        users = await db.scalars(
            select(User)
            .join(UserSpecialty, UserSpecialty.user_id == User.id)
            .where(
                User.role == Role.SPECIALIST,
                User.is_active.is_(True),
                User.on_call.is_(True),
                User.facility_id.in_(facilities),
                UserSpecialty.specialty == c.specialty,
            )
            .order_by(User.id)
        )
        online = await self.presence.online_users()
        declined = await self._declined_by(db, c)
        return [u for u in users if u.id in online and u.id not in declined]

    # Requests ------------------------------------------------------------------

    async def open_request(
        self,
        requester: User,
        actor: Actor,
        *,
        kind: ConsultKind,
        specialty: str,
        urgency: Urgency,
        question: str,
        patient_id: int | None,
    ) -> Consultation:
        if kind is ConsultKind.TRAINING:
            # A training is a room any staff member may watch: never a request, never a patient.
            raise PlatformError(
                f"kind: a training is not a consultation request: hold one with {TRAINING_ENDPOINT}"
            )
        if requester.role not in (Role.DOCTOR, Role.NURSE, Role.SPECIALIST, Role.TRAINER):
            raise Forbidden("only clinical staff open consultation requests")
        if requester.facility_id is None:
            raise PlatformError("your account belongs to no facility")
        async with self.platform.db() as db:
            if patient_id is not None:
                patient = await db.get(Patient, patient_id)
                if patient is None or patient.home_facility_id != requester.facility_id:
                    raise NotFound("no such patient at your facility")
            c = Consultation(
                id=str(uuid.uuid4()),
                kind=kind,
                specialty=specialty,
                urgency=urgency,
                question=question,
                patient_id=patient_id,
                requester_id=requester.id,
                facility_id=requester.facility_id,
                status=ConsultStatus.REQUESTED,
                ring=0,
                room=f"c-{uuid.uuid4().hex[:16]}",
            )
            db.add(c)
            db.add(Participant(consultation_id=c.id, user_id=requester.id, part="requester"))
            db.add(_event(c, "requested", requester))
            await db.commit()
        await self.platform.audit.record(
            actor,
            "consultation.request",
            object_type="consultation",
            object_id=c.id,
            detail={"patient_id": patient_id, "specialty": specialty, "urgency": urgency.value},
        )
        await self._route(c.id, from_ring=0, reason="new request")
        return c

    async def _route(self, consultation_id: str, *, from_ring: int, reason: str) -> None:
        """Move a request on from ``from_ring`` to the next ring that has someone to ask."""
        async with self.platform.db() as db:
            c = await db.get(Consultation, consultation_id)
            if c is None or c.status is not ConsultStatus.REQUESTED or c.ring != from_ring:
                return  # taken, cancelled, or another node moved it already
            asked_before = (
                {u.id for u in await self.candidates(db, c, from_ring)} if from_ring else set()
            )
            target, offered = min(from_ring + 1, LAST_RING), []
            for ring in range(from_ring + 1, LAST_RING + 1):
                target = ring
                offered = await self.candidates(db, c, ring)
                if offered:
                    break
            deadline = utcnow() + self.deadlines.for_urgency(c.urgency)
            claimed = await db.execute(
                update(Consultation)
                .where(
                    Consultation.id == c.id,
                    Consultation.ring == from_ring,
                    Consultation.status == ConsultStatus.REQUESTED,
                )
                .values(ring=target, ring_deadline=deadline)
            )
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                await db.rollback()
                return
            new = [u for u in offered if u.id not in asked_before]
            action = "offered" if from_ring == 0 else "escalated"
            db.add(_event(c, action, None, ring=target, reason=reason, offered=[u.id for u in new]))
            await db.commit()
            await db.refresh(c)
        # Who was shown the request (its question) is a disclosure: audited.
        await self.platform.audit.record(
            SYSTEM,
            "consultation.offer" if from_ring == 0 else "consultation.escalate",
            object_type="consultation",
            object_id=c.id,
            detail={
                "ring": target,
                "reason": reason,
                "offered": [u.id for u in new],
                "patient_id": c.patient_id,
            },
        )
        info = summary(c)
        for user in new:
            await self.notifier.to_user(user.id, "consult.offer", info)
        await self.notifier.to_user(
            c.requester_id,
            "consult.status",
            {**info, "escalated": from_ring > 0, "offered": len(offered), "reason": reason},
        )

    async def escalate_due(self, now: datetime | None = None) -> int:
        """Escalate every request whose ring deadline has passed; returns how many."""
        now = now or utcnow()
        async with self.platform.db() as db:
            due = list(
                await db.execute(
                    select(Consultation.id, Consultation.ring).where(
                        Consultation.status == ConsultStatus.REQUESTED,
                        Consultation.ring_deadline < now,
                    )
                )
            )
        for consultation_id, ring in due:
            if ring < LAST_RING:
                await self._route(consultation_id, from_ring=ring, reason="no answer in time")
            else:
                await self._rearm(consultation_id, ring)
        return len(due)

    async def _rearm(self, consultation_id: str, ring: int) -> None:
        """The last ring timed out too: ask it again (new on-call staff may be there)."""
        async with self.platform.db() as db:
            moved = await db.execute(
                update(Consultation)
                .where(
                    Consultation.id == consultation_id,
                    Consultation.ring == ring,
                    Consultation.status == ConsultStatus.REQUESTED,
                )
                .values(ring=LAST_RING - 1)
            )
            await db.commit()
        if moved.rowcount == 1:  # type: ignore[attr-defined]
            await self._route(consultation_id, from_ring=LAST_RING - 1, reason="still unanswered")

    async def _load(self, db: AsyncSession, consultation_id: str) -> Consultation:
        c = await db.get(Consultation, consultation_id)
        if c is None:
            raise NotFound("no such consultation")
        return c

    async def offered_to(self, db: AsyncSession, c: Consultation, user: User) -> bool:
        if user.role is not Role.SPECIALIST or c.specialty not in user.specialties:
            return False
        facilities = await self._ring_facilities(db, c, max(c.ring, 1))
        return user.facility_id in facilities

    async def may_read(self, db: AsyncSession, c: Consultation, user: User) -> bool:
        """Participants and the requesting facility's staff; the rings only while it is open."""
        if user.role is Role.ADMIN or user.facility_id == c.facility_id:
            return True
        if await db.get(Participant, (c.id, user.id)) is not None:
            return True
        return c.status is ConsultStatus.REQUESTED and await self.offered_to(db, c, user)

    async def accept(
        self,
        user: User,
        actor: Actor,
        consultation_id: str,
        *,
        scheduled_for: datetime | None = None,
    ) -> Consultation:
        async with self.platform.db() as db:
            c = await self._load(db, consultation_id)
            if not await self.offered_to(db, c, user):
                raise Forbidden("this request was not offered to you")
            now = utcnow()
            status = ConsultStatus.SCHEDULED if scheduled_for else ConsultStatus.LIVE
            won = await db.execute(
                update(Consultation)
                .where(Consultation.id == c.id, Consultation.status == ConsultStatus.REQUESTED)
                .values(
                    status=status,
                    accepted_by_id=user.id,
                    accepted_at=now,
                    started_at=None if scheduled_for else now,
                    scheduled_for=scheduled_for,
                    ring_deadline=None,
                )
            )
            if won.rowcount != 1:  # type: ignore[attr-defined]
                await db.rollback()
                await db.refresh(c)
                taker = await db.get(User, c.accepted_by_id) if c.accepted_by_id else None
                if taker is not None:
                    raise Conflict(f"already taken by {taker.full_name}")
                raise Conflict(f"this request is {c.status.value}")
            db.add(Participant(consultation_id=c.id, user_id=user.id, part="consultant"))
            db.add(_event(c, "accepted", user, scheduled_for=scheduled_for))
            await db.commit()
            await db.refresh(c)
            others = [u.id for u in await self.candidates(db, c, LAST_RING) if u.id != user.id]
        await self.platform.audit.record(
            actor,
            "consultation.accept",
            object_type="consultation",
            object_id=c.id,
            detail={
                "patient_id": c.patient_id,
                "scheduled_for": scheduled_for.isoformat() if scheduled_for else None,
            },
        )
        info = {
            **summary(c),
            "accepted_by": {"username": user.username, "name": user.full_name},
            "join_url": f"{self.platform.settings.effective_public_url}/#/consultations/{c.id}",
        }
        await self.notifier.to_user(c.requester_id, "consult.accepted", info)
        for other in others:
            await self.notifier.to_user(other, "consult.taken", info)
        return c

    async def decline(self, user: User, actor: Actor, consultation_id: str, reason: str) -> None:
        reason = reason.strip()
        if not reason:
            raise PlatformError("reason: say why you decline")
        async with self.platform.db() as db:
            c = await self._load(db, consultation_id)
            if not await self.offered_to(db, c, user):
                raise Forbidden("this request was not offered to you")
            if c.status is not ConsultStatus.REQUESTED:
                raise Conflict(f"this request is {c.status.value}")
            if user.id in await self._declined_by(db, c):
                raise Conflict("you have declined it already")
            db.add(_event(c, "declined", user, reason=reason))
            await db.commit()
            ring = c.ring
            remaining = await self.candidates(db, c, ring)
        await self.platform.audit.record(
            actor,
            "consultation.decline",
            object_type="consultation",
            object_id=c.id,
            detail={"reason": reason, "patient_id": c.patient_id},
        )
        await self.notifier.to_user(
            c.requester_id,
            "consult.declined",
            {
                "id": c.id,
                "by": {"username": user.username, "name": user.full_name},
                "reason": reason,
            },
        )
        if not remaining:
            if ring < LAST_RING:
                await self._route(c.id, from_ring=ring, reason="declined by everyone asked")

    async def cancel(self, user: User, actor: Actor, consultation_id: str) -> None:
        async with self.platform.db() as db:
            c = await self._load(db, consultation_id)
            if not await self.may_read(db, c, user):
                raise NotFound("no such consultation")
            if c.requester_id != user.id and user.role is not Role.ADMIN:
                raise Forbidden("only the requester cancels a request")
            done = await db.execute(
                update(Consultation)
                .where(
                    Consultation.id == c.id,
                    Consultation.status.in_([ConsultStatus.REQUESTED, ConsultStatus.SCHEDULED]),
                )
                .values(status=ConsultStatus.CANCELLED, ended_at=utcnow(), ring_deadline=None)
            )
            if done.rowcount != 1:  # type: ignore[attr-defined]
                raise Conflict(f"this consultation is {c.status.value}")
            db.add(_event(c, "cancelled", user))
            await db.commit()
            await db.refresh(c)
            asked = [u.id for u in await self.candidates(db, c, LAST_RING)]
        await self.platform.audit.record(
            actor,
            "consultation.cancel",
            object_type="consultation",
            object_id=c.id,
            detail={"patient_id": c.patient_id},
        )
        for uid in asked:
            await self.notifier.to_user(uid, "consult.taken", summary(c))

    async def queue(self, user: User) -> Sequence[Consultation]:
        """Open requests currently offered to this specialist."""
        async with self.platform.db() as db:
            open_requests = await db.scalars(
                select(Consultation)
                .where(Consultation.status == ConsultStatus.REQUESTED)
                .order_by(Consultation.created_at)
            )
            mine = []
            for c in open_requests:
                if await self.offered_to(db, c, user) and user.id not in await self._declined_by(
                    db, c
                ):
                    mine.append(c)
            return mine
