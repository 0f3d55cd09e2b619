"""Administration over HTTP: for now, reading the audit log (itself audited)."""

from __future__ import annotations

from aiohttp import web

from ..audit import Outcome
from ..db.models import Role
from ..errors import Forbidden, PlatformError
from .identity import actor_of, require_user
from .keys import platform_of

routes = web.RouteTableDef()


@routes.get("/api/audit")
async def audit_events(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    actor = actor_of(user, request)
    if user.role is not Role.ADMIN:
        await platform.audit.record(actor, "audit.read", outcome=Outcome.DENIED)
        raise Forbidden("only administrators read the audit log")
    try:
        limit = min(int(request.query.get("limit", "100")), 1000)
    except ValueError:
        raise PlatformError("limit: must be a whole number") from None
    object_id = request.query.get("object")
    events = await platform.audit.events(limit=max(limit, 1), object_id=object_id)
    await platform.audit.record(actor, "audit.read", detail={"rows": len(events)})
    return web.json_response(
        {
            "events": [
                {
                    "id": e.id,
                    "at": e.at.isoformat(),
                    "actor": e.actor,
                    "actor_role": e.actor_role,
                    "ip": e.ip,
                    "action": e.action,
                    "object_type": e.object_type,
                    "object_id": e.object_id,
                    "outcome": e.outcome,
                    "hash": e.hash,
                }
                for e in events
            ]
        }
    )
