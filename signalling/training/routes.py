"""Training sessions over HTTP: create, list, join as trainer or trainee, attendance.

A training is only ever made here, by a trainer or specialist, and never
names a patient (signalling.dispatch.training_policy); every other staff member may
watch it, so only rows that are trainings by that rule are listed or joined.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from pydantic import AwareDatetime, Field
from sqlalchemy import select

from signalling.auth.tokens import Grant
from signalling.db.models import (
    Consultation,
    ConsultKind,
    ConsultStatus,
    Facility,
    Participant,
    Role,
    Urgency,
)
from signalling.db.training_models import Attendance
from signalling.dispatch.dispatcher import summary
from signalling.dispatch.training_policy import is_trainer, may_hold_trainings
from signalling.dispatch.training_policy import training as find_training
from signalling.errors import Forbidden, NotFound, PlatformError
from signalling.free_text import LINE, OneLine
from signalling.http.api_docs import api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.rooms.routes import staff_room_token

routes = web.RouteTableDef()
TRAINEE_GRANTS = frozenset({Grant.SUBSCRIBE, Grant.CHAT})


class NewTraining(RequestBody):
    title: OneLine = Field(min_length=1, max_length=300, pattern=LINE)
    scheduled_for: AwareDatetime | None = None


@routes.post("/api/trainings")
@api_doc(
    "Hold a training session (trainers and specialists)",
    "trainings",
    ok=201,
    body=NewTraining,
    errors=(400, 401, 403, 415),
)
@audited("training.create", "training")
async def create(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, NewTraining)
    if not may_hold_trainings(user) or user.facility_id is None:
        raise Forbidden("trainers and specialists of a facility hold trainings")
    later = body.scheduled_for is not None and body.scheduled_for > datetime.now(UTC)
    training = Consultation(
        id=str(uuid.uuid4()),
        kind=ConsultKind.TRAINING,
        specialty="training",
        urgency=Urgency.ROUTINE,
        question=body.title,
        patient_id=None,
        requester_id=user.id,
        facility_id=user.facility_id,
        status=ConsultStatus.SCHEDULED if later else ConsultStatus.LIVE,
        ring=0,
        room=f"t-{uuid.uuid4().hex[:16]}",
        scheduled_for=body.scheduled_for,
        started_at=None if later else datetime.now(UTC),
    )
    platform = platform_of(request)
    async with platform.db() as db:
        db.add(training)
        db.add(Participant(consultation_id=training.id, user_id=user.id, part="requester"))
        await db.commit()
        await db.refresh(training)
    await platform.audit.record(
        actor_of(user, request), "training.create", object_type="training", object_id=training.id
    )
    return web.json_response({"training": summary(training)}, status=201)


@routes.get("/api/trainings")
@api_doc("Live and scheduled trainings", "trainings")
@audited("training.list", "training")
async def trainings(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    async with platform.db() as db:
        rows = list(
            await db.scalars(
                select(Consultation)
                .where(
                    Consultation.kind == ConsultKind.TRAINING,
                    Consultation.patient_id.is_(None),
                    Consultation.status.in_([ConsultStatus.LIVE, ConsultStatus.SCHEDULED]),
                )
                .order_by(Consultation.created_at.desc())
                .limit(100)
            )
        )
    await platform.audit.record(
        actor_of(user, request),
        "training.list",
        object_type="training",
        detail={"trainings": [c.id for c in rows]},
    )
    return web.json_response({"trainings": [summary(c) for c in rows]})


async def _training(request: web.Request) -> Consultation:
    async with platform_of(request).db() as db:
        c = await find_training(db, request.match_info["id"])
    if c is None:
        raise NotFound("no such training", code="not_found")
    return c


@routes.post("/api/trainings/{id}/token")
@api_doc(
    "A room token: the trainer runs the room, others watch and ask",
    "trainings",
    errors=(400, 401, 404),
)
@audited("token.issue", "training")
async def token(request: web.Request) -> web.Response:
    """The trainer runs the room; every other staff member joins to watch and ask."""
    user = require_user(request)
    c = await _training(request)
    if c.status not in (ConsultStatus.LIVE, ConsultStatus.SCHEDULED):
        raise PlatformError(f"this training is {c.status.value}", code="training_ended")
    # The trainer, while still allowed to hold trainings, runs it; everyone else watches.
    grants = frozenset(Grant) if is_trainer(c, user) else TRAINEE_GRANTS
    return await staff_room_token(request, user, c.room, grants, {"training": c.id})


@routes.get("/api/trainings/{id}/attendance")
@api_doc("The attendance register: who, from where, how long", "trainings", errors=(401, 403, 404))
@audited("training.attendance", "training")
async def attendance(request: web.Request) -> web.Response:
    """Who attended, from which facility, for how long (trainer and administrators)."""
    user = require_user(request)
    c = await _training(request)
    if not is_trainer(c, user) and user.role is not Role.ADMIN:
        raise Forbidden("the trainer and administrators read the register")
    now = datetime.now(UTC)
    async with platform_of(request).db() as db:
        codes = {f.id: f.code for f in await db.scalars(select(Facility))}
        stays = list(
            await db.scalars(
                select(Attendance).where(Attendance.room == c.room).order_by(Attendance.joined_at)
            )
        )
    people: dict[str, dict[str, Any]] = {}
    for stay in stays:
        entry = people.setdefault(
            stay.member_id,
            {
                "name": stay.name,
                "facility": codes.get(stay.facility_id) if stay.facility_id else None,
                "first_joined": stay.joined_at.isoformat(),
                "seconds": 0.0,
                "stays": 0,
            },
        )
        entry["seconds"] += ((stay.left_at or now) - stay.joined_at).total_seconds()
        entry["stays"] += 1
    await platform_of(request).audit.record(
        actor_of(user, request), "training.attendance", object_type="training", object_id=c.id
    )
    return web.json_response(
        {"attendance": [{**v, "seconds": round(v["seconds"], 1)} for v in people.values()]}
    )
