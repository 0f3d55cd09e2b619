"""The audit log over HTTP, for administrators; every read of it is itself audited."""

from __future__ import annotations

from aiohttp import web

from ..errors import PlatformError
from .admin_routes import require_admin
from .keys import platform_of

routes = web.RouteTableDef()


@routes.get("/api/audit")
async def audit_events(request: web.Request) -> web.Response:
    _, actor = await require_admin(request, "audit.read")
    platform = platform_of(request)
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
