"""Consultation requests and their dispatch, over HTTP (events arrive over socket.io)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import or_, select

from ..db.models import (
    Consultation,
    ConsultationEvent,
    ConsultKind,
    Participant,
    Role,
    Specialty,
    Urgency,
    User,
)
from ..dispatch import Dispatcher, summary
from ..errors import NotFound
from .errors import parse_json
from .identity import require_user
from .keys import platform_of

routes = web.RouteTableDef()
DISPATCHER = web.AppKey("dispatcher", Dispatcher)


class OpenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: ConsultKind
    specialty: Specialty
    urgency: Urgency
    question: str = Field(min_length=1, max_length=4000)
    patient_id: int | None = Field(None, ge=1)


class Accept(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scheduled_for: AwareDatetime | None = None

    @field_validator("scheduled_for")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value


class Decline(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=500)


class OnCall(BaseModel):
    model_config = ConfigDict(extra="forbid")
    on_call: bool


@routes.post("/api/consultations")
async def open_request(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, OpenRequest)
    c = await request.app[DISPATCHER].open_request(
        user,
        kind=body.kind,
        specialty=body.specialty.value,
        urgency=body.urgency,
        question=body.question,
        patient_id=body.patient_id,
    )
    async with platform_of(request).db() as db:
        fresh = await db.get(Consultation, c.id)
    assert fresh is not None
    return web.json_response({"consultation": summary(fresh)}, status=201)


@routes.get("/api/consultations")
async def mine(request: web.Request) -> web.Response:
    user = require_user(request)
    async with platform_of(request).db() as db:
        rows = await db.scalars(
            select(Consultation)
            .join(Participant, Participant.consultation_id == Consultation.id)
            .where(or_(Participant.user_id == user.id, Consultation.requester_id == user.id))
            .order_by(Consultation.created_at.desc())
            .limit(100)
        )
        return web.json_response({"consultations": [summary(c) for c in rows]})


@routes.get("/api/consultations/queue")
async def queue(request: web.Request) -> web.Response:
    user = require_user(request)
    offered = await request.app[DISPATCHER].queue(user)
    return web.json_response({"consultations": [summary(c) for c in offered]})


@routes.get("/api/consultations/{id}")
async def detail(request: web.Request) -> web.Response:
    user = require_user(request)
    dispatcher = request.app[DISPATCHER]
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        if c is None:
            raise NotFound("no such consultation")
        part = await db.get(Participant, (c.id, user.id))
        if part is None and user.role is not Role.ADMIN:
            if not await dispatcher.offered_to(db, c, user):
                raise NotFound("no such consultation")
        events = await db.scalars(
            select(ConsultationEvent)
            .where(ConsultationEvent.consultation_id == c.id)
            .order_by(ConsultationEvent.id)
        )
        names = {u.id: u.username for u in await db.scalars(select(User))}
        return web.json_response(
            {
                "consultation": summary(c),
                "events": [
                    {
                        "at": e.at.isoformat(),
                        "action": e.action,
                        "by": names.get(e.actor_id) if e.actor_id else None,
                        "detail": json.loads(e.detail),
                    }
                    for e in events
                ],
            }
        )


@routes.post("/api/consultations/{id}/accept")
async def accept(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Accept)
    c = await request.app[DISPATCHER].accept(
        user, request.match_info["id"], scheduled_for=body.scheduled_for
    )
    return web.json_response({"consultation": summary(c)})


@routes.post("/api/consultations/{id}/decline")
async def decline(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Decline)
    await request.app[DISPATCHER].decline(user, request.match_info["id"], body.reason)
    return web.json_response({"ok": True})


@routes.post("/api/consultations/{id}/cancel")
async def cancel(request: web.Request) -> web.Response:
    user = require_user(request)
    await request.app[DISPATCHER].cancel(user, request.match_info["id"])
    return web.json_response({"ok": True})


@routes.put("/api/me/on-call")
async def set_on_call(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, OnCall)
    async with platform_of(request).db() as db:
        row = await db.get(User, user.id)
        assert row is not None
        if row.role is not Role.SPECIALIST:
            raise NotFound("only specialists go on call")
        row.on_call = body.on_call
        await db.commit()
    return web.json_response({"on_call": body.on_call})
