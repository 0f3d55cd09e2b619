"""Joining a consultation's room over HTTP: room tokens, patient links, and the live rooms."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy import func, select

from signalling.auth.tokens import Grant
from signalling.db.models import Consultation, ConsultStatus, Patient, User
from signalling.dispatch.participation import STAFF_GRANTS, active_participation
from signalling.errors import Forbidden
from signalling.http.api_docs import api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_admin, require_user
from signalling.http.keys import platform_of
from signalling.rooms.invites import create_invite
from signalling.rooms.keys import ROOMS

routes = web.RouteTableDef()


@routes.post("/api/consultations/{id}/token")
@api_doc("A room token for a participant", "rooms", errors=(401, 404, 409))
@audited("token.issue", "consultation")
async def room_token(request: web.Request) -> web.Response:
    """A room token for a participant: what the web client joins the room with."""
    user = require_user(request)
    c, part = await active_participation(request, user)
    about = {"consultation": c.id, "patient_id": c.patient_id}
    return await staff_room_token(request, user, c.room, STAFF_GRANTS[part.part], about)


async def staff_room_token(
    request: web.Request,
    user: User,
    room: str,
    grants: frozenset[Grant],
    about: Mapping[str, object],
) -> web.Response:
    """A staff member's room token, audited with what it is for (``about``)."""
    platform = platform_of(request)
    token, claims = platform.signer.issue_room(subject=f"user:{user.id}", room=room, grants=grants)
    await platform.audit.record(
        actor_of(user, request),
        "token.issue",
        object_type="room",
        object_id=room,
        detail={**about, "token_id": claims.token_id, "grants": sorted(claims.grants)},
    )
    return web.json_response(
        {"token": token, "room": room, "expires_at": claims.expires_at.isoformat()}
    )


class PatientLink(RequestBody):
    minutes: int = Field(60, ge=5, le=24 * 60)


@routes.post("/api/consultations/{id}/patient-link")
@api_doc(
    "A one-time link that brings the patient to the lobby",
    "rooms",
    ok=201,
    body=PatientLink,
    errors=(400, 401, 403, 404, 409, 415),
)
@audited("invite.create", "consultation")
async def patient_link(request: web.Request) -> web.Response:
    """A one-time link that brings the consultation's patient into the lobby."""
    user = require_user(request)
    body = await parse_json(request, PatientLink)
    c, part = await active_participation(request, user)
    if Grant.MODERATE not in STAFF_GRANTS[part.part]:
        raise Forbidden("only the consultation's clinicians invite the patient")
    platform = platform_of(request)
    async with platform.db() as db:
        patient = await db.get(Patient, c.patient_id) if c.patient_id else None
        issued = await create_invite(
            db,
            platform.signer,
            room=c.room,
            public_url=platform.settings.effective_public_url,
            ttl=timedelta(minutes=body.minutes),
            patient_name=patient.full_name if patient else "",
            issued_by_id=user.id,
            starts_at=c.scheduled_for,
        )
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "invite.create",
        object_type="room",
        object_id=c.room,
        detail={"consultation": c.id, "invite_id": issued.invite_id, "patient_id": c.patient_id},
    )
    return web.json_response(
        {"url": issued.url, "token": issued.token, "expires_at": issued.expires_at.isoformat()},
        status=201,
    )


@routes.get("/api/admin/sessions")
@api_doc("Live consultations and their media health", "admin", errors=(401, 403))
async def live_sessions(request: web.Request) -> web.Response:
    """Live consultations on this node, with the health of their media."""
    await require_admin(request, "admin.sessions.read")
    rooms = request.app[ROOMS]
    async with platform_of(request).db() as db:
        live = list(
            await db.scalars(
                select(Consultation)
                .where(Consultation.status == ConsultStatus.LIVE)
                .order_by(Consultation.started_at.desc())
                .limit(200)
            )
        )
        waiting = await db.scalar(
            select(func.count()).where(Consultation.status == ConsultStatus.REQUESTED)
        )
    sessions = []
    for c in live:
        entry: dict[str, Any] = {
            "id": c.id,
            "specialty": c.specialty,
            "urgency": c.urgency.value,
            "room": c.room,
            "started_at": c.started_at.isoformat() if c.started_at else None,
            "participants": 0,
            "lobby": 0,
            "media": None,
        }
        room = rooms.rooms.get(c.room)
        if room is not None:
            entry["participants"] = len(room.admitted())
            entry["lobby"] = len(room.lobby())
            stats = await rooms.media.stats(c.room)
            entry["media"] = {
                "peers": len(stats.peers),
                "producers": len(stats.producers),
                "consumers": len(stats.consumers),
                "packets_received": sum(p.packets_received for p in stats.producers),
                "packets_sent": sum(s.packets_sent for s in stats.consumers),
                "retransmitted": sum(s.packets_retransmitted for s in stats.consumers),
            }
        sessions.append(entry)
    return web.json_response({"sessions": sessions, "waiting_requests": waiting or 0})
