"""Who takes part in a consultation, and in what part: what its routes and its room check."""

from __future__ import annotations

from aiohttp import web

from signalling.auth.tokens import Grant
from signalling.db.models import Consultation, ConsultStatus, Participant, User
from signalling.dispatch.training_policy import is_training
from signalling.errors import Conflict, NotFound
from signalling.http.keys import platform_of

STAFF_GRANTS = {
    # The clinicians who own the consultation run the room.
    "requester": frozenset(Grant),
    "consultant": frozenset(Grant),
    "invited": frozenset(
        {
            Grant.PUBLISH_AUDIO,
            Grant.PUBLISH_VIDEO,
            Grant.PUBLISH_SCREEN,
            Grant.SUBSCRIBE,
            Grant.VIEW_CASE_FILE,
            Grant.CHAT,
        }
    ),
}


async def active_participation(
    request: web.Request, user: User
) -> tuple[Consultation, Participant]:
    """The caller's part in the consultation of the route, while its room can be joined."""
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        part = await db.get(Participant, (c.id, user.id)) if c else None
    if c is None or part is None:
        raise NotFound("no such consultation", code="not_found")
    if is_training(c):
        # A training's room is open to all staff and its tokens carry no case
        # file; it has its own routes, which check the trainer.
        raise Conflict(f"this is a training: join it with POST /api/trainings/{c.id}/token")
    if c.status in (ConsultStatus.ENDED, ConsultStatus.CANCELLED):
        raise Conflict(f"this consultation is {c.status.value}", code="session_ended")
    if c.status is ConsultStatus.REQUESTED:
        raise Conflict("this consultation is requested", code="not_accepted")
    return c, part
