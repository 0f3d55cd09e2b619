"""Administration over HTTP: the network, staff, nodes (audit log and live rooms: elsewhere).

Every route is for administrators only; every change and every read of the
audit log is itself audited.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from signalling.auth.login_sessions import end_sessions_of
from signalling.cluster.keys import NODES
from signalling.db.models import (
    Facility,
    FacilityLevel,
    Role,
    Specialty,
    User,
)
from signalling.errors import PlatformError
from signalling.http.api_docs import Param, api_doc
from signalling.http.errors import NOT_BLANK, RequestBody, parse_json
from signalling.http.identity import require_admin
from signalling.http.keys import platform_of
from signalling.network.facilities import (
    add_facility,
    get_facility,
    list_facilities,
    list_pairings,
    pair,
)
from signalling.network.staff import add_user, get_user, list_users, set_active
from signalling.realtime.keys import SIO
from signalling.realtime.revocation import revocation_of

routes = web.RouteTableDef()


def _facility(f: Facility) -> dict[str, Any]:
    return {"code": f.code, "name": f.name, "level": f.level.value, "province": f.province}


@routes.get("/api/admin/network")
@api_doc("Facilities and pairings", "admin", errors=(401, 403))
async def network(request: web.Request) -> web.Response:
    await require_admin(request, "admin.network.read")
    async with platform_of(request).db() as db:
        facilities = [_facility(f) for f in await list_facilities(db)]
        pairings = [
            {"central": p.central.code, "partner": p.partner.code, "specialty": p.specialty or None}
            for p in await list_pairings(db)
        ]
    return web.json_response({"facilities": facilities, "pairings": pairings})


class NewFacility(RequestBody):
    code: str = Field(min_length=2, max_length=32, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]+$")
    name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    level: FacilityLevel
    province: str = Field(min_length=1, max_length=100, pattern=NOT_BLANK)


@routes.post("/api/admin/facilities")
@api_doc("Add a facility", "admin", ok=201, body=NewFacility, errors=(400, 401, 403, 409, 415))
async def create_facility(request: web.Request) -> web.Response:
    _, actor = await require_admin(request, "admin.facility.add")
    body = await parse_json(request, NewFacility)
    platform = platform_of(request)
    async with platform.db() as db:
        facility = await add_facility(
            db, code=body.code, name=body.name, level=body.level, province=body.province
        )
        await db.commit()
    await platform.audit.record(
        actor, "admin.facility.add", object_type="facility", object_id=facility.code
    )
    return web.json_response({"facility": _facility(facility)}, status=201)


class NewPairing(RequestBody):
    central: str = Field(min_length=2, max_length=32)
    partner: str = Field(min_length=2, max_length=32)
    specialty: Specialty | None = None


@routes.post("/api/admin/pairings")
@api_doc(
    "Pair a central hospital with a facility",
    "admin",
    ok=201,
    body=NewPairing,
    errors=(400, 401, 403, 404, 409, 415),
)
async def create_pairing(request: web.Request) -> web.Response:
    _, actor = await require_admin(request, "admin.pairing.add")
    body = await parse_json(request, NewPairing)
    platform = platform_of(request)
    async with platform.db() as db:
        await pair(
            db, central_code=body.central, partner_code=body.partner, specialty=body.specialty
        )
        await db.commit()
    await platform.audit.record(
        actor,
        "admin.pairing.add",
        object_type="facility",
        object_id=body.partner.upper(),
        detail={"central": body.central.upper()},
    )
    return web.json_response({"ok": True}, status=201)


def _user(u: User, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "username": u.username,
        "full_name": u.full_name,
        "role": u.role.value,
        "facility": codes.get(u.facility_id) if u.facility_id else None,
        "specialties": u.specialties,
        "active": u.is_active,
        "on_call": u.on_call,
    }


@routes.get("/api/admin/users")
@api_doc("Staff accounts", "admin", errors=(401, 403))
async def users(request: web.Request) -> web.Response:
    await require_admin(request, "admin.users.read")
    async with platform_of(request).db() as db:
        codes = {f.id: f.code for f in await db.scalars(select(Facility))}
        return web.json_response({"users": [_user(u, codes) for u in await list_users(db)]})


class NewUser(RequestBody):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]+$")
    full_name: str = Field(min_length=1, max_length=200, pattern=NOT_BLANK)
    role: Role
    facility: str | None = Field(None, min_length=2, max_length=32)
    specialties: list[Specialty] = Field(default_factory=list, max_length=12)
    password: str = Field(min_length=10, max_length=1024)


@routes.post("/api/admin/users")
@api_doc(
    "Add a staff account", "admin", ok=201, body=NewUser, errors=(400, 401, 403, 404, 409, 415)
)
async def create_user(request: web.Request) -> web.Response:
    _, actor = await require_admin(request, "admin.user.add")
    body = await parse_json(request, NewUser)
    platform = platform_of(request)
    async with platform.db() as db:
        facility = await get_facility(db, body.facility) if body.facility else None
        user = await add_user(
            db,
            username=body.username,
            full_name=body.full_name,
            role=body.role,
            password=body.password,
            facility=facility,
            specialties=body.specialties,
        )
        await db.commit()
        codes = {facility.id: facility.code} if facility else {}
    await platform.audit.record(actor, "user.add", object_type="user", object_id=str(user.id))
    return web.json_response({"user": _user(user, codes)}, status=201)


class Active(RequestBody):
    active: bool


@routes.put("/api/admin/users/{username}/active")
@api_doc(
    "Enable or disable an account",
    "admin",
    body=Active,
    params=(Param("username", "path", {"type": "string", "maxLength": 64}, required=True),),
    errors=(400, 401, 403, 404, 415),
)
async def set_user_active(request: web.Request) -> web.Response:
    admin, actor = await require_admin(request, "admin.user.change")
    body = await parse_json(request, Active)
    platform = platform_of(request)
    async with platform.db() as db:
        target = await get_user(db, request.match_info["username"])
        if target.id == admin.id and not body.active:
            raise PlatformError("you cannot disable your own account")
        await set_active(db, target.username, body.active)
        if not body.active:
            await end_sessions_of(db, target.id)  # log-ins end at once
        await db.commit()
    await platform.audit.record(
        actor,
        "user.enable" if body.active else "user.disable",
        object_type="user",
        object_id=str(target.id),
    )
    if not body.active:
        # Its sockets on this node go now; every other node's sweep finds them within 0.5 s.
        await revocation_of(request.app[SIO]).sweep()
    return web.json_response({"username": target.username, "active": body.active})


@routes.get("/api/admin/nodes")
@api_doc("Live nodes of the cluster and their load", "admin", errors=(401, 403))
async def nodes(request: web.Request) -> web.Response:
    """The nodes that sent a heartbeat in the last 5 s, with their load."""
    await require_admin(request, "admin.nodes.read")
    live = await request.app[NODES].live_nodes()
    return web.json_response({"nodes": [{"id": k, **v} for k, v in sorted(live.items())]})
