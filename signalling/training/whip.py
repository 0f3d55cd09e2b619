"""WHIP ingest (the IETF WebRTC-HTTP ingestion protocol OBS Studio speaks) into a training.

POST an SDP offer with a bearer token to /whip/trainings/<id>: 201 Created
with the answer and a Location; DELETE that location ends the broadcast;
PATCH there takes trickled candidates (an SDP fragment). The broadcaster is
a participant of the room without a socket, so trainees see and hear it
like any presenter.
"""

from __future__ import annotations

import uuid

from aiohttp import web

from media_server.errors import MediaError
from media_server.permissions import Permissions
from signalling.cluster.room_node import from_room_node
from signalling.db.models import Consultation, ConsultKind, ConsultStatus
from signalling.errors import Forbidden, NotFound, PlatformError
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.rooms.keys import ROOMS

routes = web.RouteTableDef()
SDP = "application/sdp"


@routes.post("/whip/trainings/{id}")
async def whip_publish(request: web.Request) -> web.Response:
    user = require_user(request)
    if request.content_type != SDP:
        raise web.HTTPUnsupportedMediaType(text="send the offer as application/sdp")
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
    if c is None or c.kind is not ConsultKind.TRAINING:
        raise NotFound("no such training")
    if c.requester_id != user.id:
        raise Forbidden("only the training's trainer broadcasts into it")
    if (passed_on := await from_room_node(request, c.room)) is not None:
        return passed_on
    if c.status not in (ConsultStatus.LIVE, ConsultStatus.SCHEDULED):
        raise PlatformError(f"this training is {c.status.value}")
    offer = (await request.read()).decode("utf-8", "replace")
    rooms = request.app[ROOMS]
    resource = uuid.uuid4().hex[:12]
    member_id = f"u{user.id}-whip-{resource}"[:40]
    permissions = Permissions(
        may_publish_audio=True, may_publish_video=True, may_publish_screen=True, may_subscribe=False
    )
    try:
        answer = await rooms.add_broadcaster(
            c.room, member_id, f"{user.full_name} (WHIP)", permissions, offer
        )
    except MediaError as exc:
        raise PlatformError(f"offer refused: {exc}") from None
    await platform_of(request).audit.record(
        actor_of(user, request),
        "whip.publish",
        object_type="room",
        object_id=c.room,
        detail={"resource": resource},
    )
    location = f"/whip/trainings/{c.id}/{member_id}"
    return web.Response(status=201, text=answer, content_type=SDP, headers={"Location": location})


async def _resource(request: web.Request) -> tuple[str, str]:
    user = require_user(request)
    member_id = request.match_info["member"]
    if not member_id.startswith(f"u{user.id}-whip-"):
        raise NotFound("no such WHIP resource")
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
    if c is None:
        raise NotFound("no such training")
    return c.room, member_id


@routes.delete("/whip/trainings/{id}/{member}")
async def whip_end(request: web.Request) -> web.Response:
    room_id, member_id = await _resource(request)
    return await end_resource(request, room_id, member_id, "WHIP")


@routes.patch("/whip/trainings/{id}/{member}")
async def whip_trickle(request: web.Request) -> web.Response:
    room_id, member_id = await _resource(request)
    return await trickle_resource(request, room_id, member_id, "publish")


# The resource verbs WHIP and WHEP share, once the caller owns the resource.


async def end_resource(
    request: web.Request, room_id: str, member_id: str, protocol: str
) -> web.Response:
    """DELETE: the socket-less member leaves the room."""
    if (passed_on := await from_room_node(request, room_id)) is not None:
        return passed_on
    if not await request.app[ROOMS].remove_broadcaster(room_id, member_id):
        raise NotFound(f"no such {protocol} resource")
    return web.Response(status=200)


async def trickle_resource(
    request: web.Request, room_id: str, member_id: str, leg: str
) -> web.Response:
    """PATCH: trickled candidates for the member's `leg` connection."""
    if (passed_on := await from_room_node(request, room_id)) is not None:
        return passed_on
    await apply_trickle(request, room_id, member_id, leg)
    return web.Response(status=204)


async def apply_trickle(request: web.Request, room_id: str, member_id: str, leg: str) -> None:
    """Trickled candidates as an SDP fragment (RFC 8840): a=mid lines then a=candidate."""
    if request.content_type != "application/trickle-ice-sdpfrag":
        raise web.HTTPUnsupportedMediaType(text="send application/trickle-ice-sdpfrag")
    fragment = (await request.read()).decode("utf-8", "replace")
    mid: str | None = None
    media = request.app[ROOMS].media
    try:
        for line in fragment.splitlines()[:200]:
            if line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=candidate:"):
                await media.add_ice_candidate(room_id, member_id, leg, line[2:], mid)
            elif line.startswith("a=end-of-candidates"):
                await media.add_ice_candidate(room_id, member_id, leg, None, mid)
    except MediaError as exc:
        raise PlatformError(f"candidate refused: {exc}") from None
