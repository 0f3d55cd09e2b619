"""Consultation requests and their dispatch, over HTTP (events arrive over socket.io)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, BeforeValidator, Field, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError
from sqlalchemy import select

from signalling.db.models import (
    Consultation,
    ConsultationEvent,
    ConsultKind,
    Participant,
    Role,
    Specialty,
    Urgency,
    User,
)
from signalling.dispatch.calendar import invitation
from signalling.dispatch.dispatcher import summary
from signalling.dispatch.keys import DISPATCHER
from signalling.dispatch.participation import active_participation
from signalling.dispatch.training_policy import TRAINING_ENDPOINT
from signalling.errors import Conflict, Forbidden, NotFound
from signalling.free_text import TEXT, MultiLine
from signalling.http.api_docs import api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.network.patients import MAX_PATIENT_ID

routes = web.RouteTableDef()


REQUEST_KINDS = [k.value for k in ConsultKind if k is not ConsultKind.TRAINING]


def _not_training(value: Any) -> Any:
    if value == ConsultKind.TRAINING:
        raise PydanticCustomError(
            "training_kind",
            "a training is not a consultation request: hold one with {endpoint}",
            {"endpoint": TRAINING_ENDPOINT},
        )
    return value


# Every kind but training: the schema says so, and the message names the right endpoint.
RequestKind = Annotated[
    ConsultKind,
    BeforeValidator(_not_training),
    WithJsonSchema({"type": "string", "enum": REQUEST_KINDS, "title": "Kind"}),
]


class OpenRequest(RequestBody):
    kind: RequestKind
    specialty: Specialty
    urgency: Urgency
    question: MultiLine = Field(min_length=1, max_length=4000, pattern=TEXT)
    patient_id: int | None = Field(
        None, ge=1, le=MAX_PATIENT_ID
    )  # a 400, not the driver's overflow


class Accept(RequestBody):
    scheduled_for: AwareDatetime | None = None

    @field_validator("scheduled_for")
    @classmethod
    def _future(cls, value: datetime | None) -> datetime | None:
        if value is not None and value <= datetime.now(UTC):
            raise ValueError("must be in the future")
        return value


class Decline(RequestBody):
    reason: MultiLine = Field(min_length=1, max_length=500, pattern=TEXT)


class OnCall(RequestBody):
    on_call: bool


@routes.post("/api/consultations")
@api_doc(
    "Open a consultation request",
    "consultations",
    ok=201,
    body=OpenRequest,
    errors=(400, 401, 403, 404, 415),
)
@audited("consultation.request", "consultation")
async def open_request(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, OpenRequest)
    c = await request.app[DISPATCHER].open_request(
        user,
        actor_of(user, request),
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


def _listed(consultations: list[Consultation]) -> dict[str, Any]:
    """What a list read puts in its audit row: which consultations (and patients) were shown."""
    return {
        "consultations": [c.id for c in consultations],
        "patients": sorted({c.patient_id for c in consultations if c.patient_id is not None}),
    }


@routes.get("/api/consultations")
@api_doc("Consultations you take part in", "consultations")
@audited("consultation.list", "consultation")
async def mine(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    async with platform.db() as db:
        taking_part = select(Participant.consultation_id).where(Participant.user_id == user.id)
        rows = list(
            await db.scalars(
                select(Consultation)
                .where(Consultation.id.in_(taking_part))
                .order_by(Consultation.created_at.desc())
                .limit(100)
            )
        )
    await platform.audit.record(
        actor_of(user, request),
        "consultation.list",
        object_type="consultation",
        detail=_listed(rows),
    )
    return web.json_response({"consultations": [summary(c) for c in rows]})


@routes.get("/api/consultations/queue")
@api_doc("Open requests offered to you", "consultations")
@audited("consultation.queue", "consultation")
async def queue(request: web.Request) -> web.Response:
    user = require_user(request)
    offered = list(await request.app[DISPATCHER].queue(user))
    await platform_of(request).audit.record(
        actor_of(user, request),
        "consultation.queue",
        object_type="consultation",
        detail=_listed(offered),
    )
    return web.json_response({"consultations": [summary(c) for c in offered]})


@routes.get("/api/consultations/{id}")
@api_doc("A consultation and its history", "consultations", errors=(401, 404))
@audited("consultation.read", "consultation")
async def detail(request: web.Request) -> web.Response:
    user = require_user(request)
    dispatcher = request.app[DISPATCHER]
    platform = platform_of(request)
    async with platform.db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        # Not readable looks the same as not there: no probing by id.
        if c is None or not await dispatcher.may_read(db, c, user):
            raise NotFound("no such consultation")
        events = list(
            await db.scalars(
                select(ConsultationEvent)
                .where(ConsultationEvent.consultation_id == c.id)
                .order_by(ConsultationEvent.id)
            )
        )
        actors = {e.actor_id for e in events if e.actor_id is not None}
        names: dict[int, str] = {
            uid: name
            for uid, name in await db.execute(
                select(User.id, User.username).where(User.id.in_(actors))
            )
        }
    await platform.audit.record(
        actor_of(user, request),
        "consultation.read",
        object_type="consultation",
        object_id=c.id,
        detail={"patient_id": c.patient_id},
    )
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
@api_doc(
    "Accept a request (first wins)",
    "consultations",
    body=Accept,
    errors=(400, 401, 403, 404, 409, 415),
)
@audited("consultation.accept", "consultation")
async def accept(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Accept)
    c = await request.app[DISPATCHER].accept(
        user, actor_of(user, request), request.match_info["id"], scheduled_for=body.scheduled_for
    )
    return web.json_response({"consultation": summary(c)})


@routes.post("/api/consultations/{id}/decline")
@api_doc(
    "Decline a request, with a reason",
    "consultations",
    body=Decline,
    errors=(400, 401, 403, 404, 409, 415),
)
@audited("consultation.decline", "consultation")
async def decline(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Decline)
    await request.app[DISPATCHER].decline(
        user, actor_of(user, request), request.match_info["id"], body.reason
    )
    return web.json_response({"ok": True})


@routes.post("/api/consultations/{id}/cancel")
@api_doc("Cancel your request", "consultations", errors=(401, 403, 404, 409))
@audited("consultation.cancel", "consultation")
async def cancel(request: web.Request) -> web.Response:
    user = require_user(request)
    await request.app[DISPATCHER].cancel(user, actor_of(user, request), request.match_info["id"])
    return web.json_response({"ok": True})


@routes.put("/api/me/on-call")
@api_doc(
    "Go on or off call (specialists)", "consultations", body=OnCall, errors=(400, 401, 404, 415)
)
@audited("user.on_call", "user")
async def set_on_call(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, OnCall)
    platform = platform_of(request)
    async with platform.db() as db:
        row = await db.get(User, user.id)
        assert row is not None
        if row.role is not Role.SPECIALIST:
            raise NotFound("only specialists go on call")
        row.on_call = body.on_call
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "user.on_call",
        object_type="user",
        object_id=str(user.id),
        detail={"on_call": body.on_call},
    )
    return web.json_response({"on_call": body.on_call})


async def _member_of(request: web.Request, user: User) -> Consultation:
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        part = await db.get(Participant, (c.id, user.id)) if c else None
    if c is None or part is None:
        raise NotFound("no such consultation")
    return c


@routes.get("/api/consultations/{id}/calendar.ics")
@api_doc(
    "iCalendar invitation of a scheduled consultation",
    "consultations",
    errors=(401, 404, 409),
    media_type="text/calendar",
)
@audited("consultation.calendar", "consultation")
async def calendar(request: web.Request) -> web.Response:
    """The iCalendar invitation of a scheduled consultation, for the participants."""
    user = require_user(request)
    c = await _member_of(request, user)
    if c.scheduled_for is None:
        raise Conflict("this consultation is not scheduled")
    platform = platform_of(request)
    async with platform.db() as db:
        people = list(
            await db.scalars(
                select(User)
                .join(Participant, Participant.user_id == User.id)
                .where(Participant.consultation_id == c.id)
                .order_by(User.id)
            )
        )
    body = invitation(
        c,
        people,
        f"{platform.settings.effective_public_url}/#/consultations/{c.id}",
        datetime.now(UTC),
    )
    await platform.audit.record(
        actor_of(user, request),
        "consultation.calendar",
        object_type="consultation",
        object_id=c.id,
        detail={"patient_id": c.patient_id},
    )
    return web.Response(
        body=body,
        content_type="text/calendar",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="consultation-{c.id[:8]}.ics"'},
    )


class Invite(RequestBody):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")


@routes.post("/api/consultations/{id}/participants")
@api_doc(
    "Invite another clinician into the consultation",
    "consultations",
    ok=201,
    body=Invite,
    errors=(400, 401, 403, 404, 409, 415),
)
@audited("consultation.invite", "consultation")
async def invite_colleague(request: web.Request) -> web.Response:
    """Bring another specialist or a site's clinician into the consultation."""
    user = require_user(request)
    body = await parse_json(request, Invite)
    c, part = await active_participation(request, user)
    if part.part not in ("requester", "consultant"):
        raise Forbidden("only the consultation's clinicians invite others")
    platform = platform_of(request)
    async with platform.db() as db:
        guest = await db.scalar(select(User).where(User.username == body.username.lower()))
        if guest is None or not guest.is_active or guest.role is Role.ADMIN:
            raise NotFound(f"no clinician {body.username}")
        if await db.get(Participant, (c.id, guest.id)) is not None:
            raise Conflict(f"{guest.full_name} takes part already")
        db.add(
            Participant(
                consultation_id=c.id, user_id=guest.id, part="invited", invited_by_id=user.id
            )
        )
        db.add(
            ConsultationEvent(
                consultation_id=c.id,
                actor_id=user.id,
                action="invited",
                detail=json.dumps({"user": guest.username}),
            )
        )
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "consultation.invite",
        object_type="consultation",
        object_id=c.id,
        detail={"user_id": guest.id, "patient_id": c.patient_id},
    )
    await request.app[DISPATCHER].notifier.to_user(
        guest.id,
        "consult.invited",
        {**summary(c), "invited_by": {"username": user.username, "name": user.full_name}},
    )
    return web.json_response({"ok": True}, status=201)
