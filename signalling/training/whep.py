"""WHEP playback (the IETF WebRTC-HTTP egress protocol): a plain player watches a training.

POST the player's SDP offer to /whep/trainings/<id> with a viewer token (the
room token POST /api/trainings/<id>/token gives, as a bearer token): 201
Created with the answer, carrying the presenter's camera and microphone
(then screen), and a Location; DELETE that location stops watching; PATCH
there takes trickled candidates. The player is listed in the room like any
trainee and, like one, sends no media. Any node answers: see room_node.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from media_server.errors import MediaError
from media_server.permissions import Permissions
from signalling.audit import Actor
from signalling.auth.tokens import Audience, Grant, InvalidToken, TokenClaims
from signalling.cluster.room_node import from_room_node
from signalling.db.models import Consultation, ConsultKind, ConsultStatus, User
from signalling.errors import Forbidden, NotFound, PlatformError, Unauthorized
from signalling.http.keys import platform_of
from signalling.rooms.keys import ROOMS
from signalling.training.whip import SDP, end_resource, trickle_resource

routes = web.RouteTableDef()


async def _viewer(request: web.Request) -> tuple[TokenClaims, Consultation]:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use Authorization: Bearer <viewer token>")
    try:
        claims = platform_of(request).signer.verify(token.strip(), audience=Audience.ROOM)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
    if c is None or c.kind is not ConsultKind.TRAINING:
        raise NotFound("no such training")
    if claims.room != c.room or Grant.SUBSCRIBE not in claims.grants:
        raise Forbidden("this token does not let you watch this training")
    return claims, c


async def _may_enter(request: web.Request, claims: TokenClaims, room_id: str) -> None:
    """What a socket's join checks: the account still active, not removed, not locked out."""
    member_key = claims.subject
    if claims.subject.startswith("user:"):
        async with platform_of(request).db() as db:
            user = await db.get(User, int(claims.subject.removeprefix("user:")))
        if user is None or not user.is_active:
            raise Forbidden("the account behind this token is disabled")
        member_key = f"u{user.id}"
    room = request.app[ROOMS].rooms.get(room_id)
    if room is None:
        return
    if member_key in room.banned:
        raise Forbidden("you were removed from this training")
    if room.locked and Grant.MODERATE not in claims.grants:
        raise Forbidden("the training is locked")


def _member_id(claims: TokenClaims, resource: str) -> str:
    return f"{claims.subject.replace(':', '')}-whep-{resource}"[:48]


@routes.post("/whep/trainings/{id}")
async def whep_play(request: web.Request) -> web.Response:
    claims, c = await _viewer(request)
    if (passed_on := await from_room_node(request, c.room)) is not None:
        return passed_on
    if request.content_type != SDP:
        raise web.HTTPUnsupportedMediaType(text="send the offer as application/sdp")
    if c.status not in (ConsultStatus.LIVE, ConsultStatus.SCHEDULED):
        raise PlatformError(f"this training is {c.status.value}")
    await _may_enter(request, claims, c.room)
    offer = (await request.read()).decode("utf-8", "replace")
    member_id = _member_id(claims, uuid.uuid4().hex[:12])
    name = f"{claims.name or claims.subject} (WHEP)"
    try:
        answer = await request.app[ROOMS].add_broadcaster(
            c.room, member_id, name, Permissions(may_subscribe=True), offer, viewer=True
        )
    except MediaError as exc:
        raise PlatformError(f"offer refused: {exc}") from None
    await platform_of(request).audit.record(
        # (passed on by another node, this is that node's address: see room_node)
        Actor(claims.subject, "viewer", request.remote or ""),
        "whep.play",
        object_type="room",
        object_id=c.room,
        detail={"member": member_id},
    )
    location = f"/whep/trainings/{c.id}/{member_id}"
    return web.Response(status=201, text=answer, content_type=SDP, headers={"Location": location})


async def _resource(request: web.Request) -> tuple[str, str]:
    claims, c = await _viewer(request)
    member_id = request.match_info["member"]
    if not member_id.startswith(_member_id(claims, "")):
        raise NotFound("no such WHEP resource")
    return c.room, member_id


@routes.delete("/whep/trainings/{id}/{member}")
async def whep_stop(request: web.Request) -> web.Response:
    room_id, member_id = await _resource(request)
    return await end_resource(request, room_id, member_id, "WHEP")


@routes.patch("/whep/trainings/{id}/{member}")
async def whep_trickle(request: web.Request) -> web.Response:
    room_id, member_id = await _resource(request)
    return await trickle_resource(request, room_id, member_id, "subscribe")
