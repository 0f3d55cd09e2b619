"""Log-in, log-out and "who am I" for browsers and token holders."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import Field

from signalling.audit import Actor, Outcome
from signalling.auth.login import LoginRefused, TooManyAttempts, authenticate
from signalling.auth.login_sessions import COOKIE_NAME, end_session, start_session
from signalling.auth.login_throttle import LoginThrottle, Throttled
from signalling.db.models import Facility, User
from signalling.http.api_docs import api_doc
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of, user_of
from signalling.http.metrics import METRICS
from signalling.realtime.keys import SIO
from signalling.realtime.revocation import revocation_of

routes = web.RouteTableDef()


class LoginBody(RequestBody):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def describe_user(request: web.Request, user: User) -> dict[str, Any]:
    facility = None
    if user.facility_id is not None:
        async with platform_of(request).db() as db:
            row = await db.get(Facility, user.facility_id)
            if row is not None:
                facility = {"code": row.code, "name": row.name, "level": row.level.value}
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": user.role.value,
        "specialties": user.specialties,
        "facility": facility,
        "on_call": user.on_call,
    }


@routes.post("/api/auth/login")
@api_doc(
    "Log in with a password; sets the session cookie",
    "auth",
    body=LoginBody,
    public=True,
    errors=(400, 401, 413, 415),
)
async def login(request: web.Request) -> web.Response:
    body = await parse_json(request, LoginBody)
    platform = platform_of(request)
    metrics = request.app[METRICS]
    ip = request.remote or ""
    name = body.username.strip().lower()
    policy = platform.login_policy
    throttle = LoginThrottle(
        platform.shared,
        policy.max_failures,
        policy.address_failures,
        policy.lockout.total_seconds(),
    )

    async def refused(reason: str) -> None:
        metrics.logins.labels("refused").inc()
        await platform.audit.record(
            Actor(f"name:{name[:60]}", "", ip),
            "login",
            outcome=Outcome.DENIED,
            detail={"reason": reason},
        )

    blocked = await throttle.blocked(name, ip)
    if blocked is Throttled.ADDRESS:
        # Whatever the name: an address guessing at many accounts (no hash is run).
        await refused(blocked.value)
        raise TooManyAttempts("too many failed log-ins from your address; try again later")
    async with platform.db() as db:
        try:
            user = await authenticate(
                db, body.username, body.password, throttled=blocked is not None
            )
        except LoginRefused as exc:
            if exc.reason != "disabled":  # the right password is no guess
                await throttle.failed(name, ip)
            await refused(blocked.value if blocked is not None else exc.reason)
            raise
        token = await start_session(
            db,
            user,
            ip=request.remote or "",
            user_agent=request.headers.get("User-Agent", ""),
        )
        await db.commit()
    await throttle.succeeded(name, ip)
    metrics.logins.labels("ok").inc()
    await platform.audit.record(
        actor_of(user, request), "login", object_type="user", object_id=str(user.id)
    )
    response = web.json_response({"user": await describe_user(request, user)})
    response.set_cookie(
        COOKIE_NAME,
        token,
        httponly=True,
        samesite="Strict",
        secure=request.secure,
        path="/",
        max_age=platform.settings.session_absolute_hours * 3600,
    )
    return response


@routes.post("/api/auth/logout")
@api_doc("End the browser session", "auth", public=True, errors=())
async def logout(request: web.Request) -> web.Response:
    token = request.cookies.get(COOKIE_NAME)
    if (user := user_of(request)) is not None:
        await platform_of(request).audit.record(actor_of(user, request), "logout")
    if token:
        async with platform_of(request).db() as db:
            await end_session(db, token)
            await db.commit()
        # The log-in's sockets on this node go now; other nodes' sweeps find theirs.
        await revocation_of(request.app[SIO]).sweep()
    response = web.json_response({"ok": True})
    response.del_cookie(COOKIE_NAME, path="/")
    return response


@routes.get("/api/auth/session")
@api_doc("The logged-in user, or null", "auth", public=True, errors=(401,))
async def session(request: web.Request) -> web.Response:
    """The browser's question "am I logged in?": a plain answer, never a 401."""
    user = user_of(request)
    return web.json_response({"user": await describe_user(request, user) if user else None})


@routes.get("/api/me")
@api_doc("The authenticated user", "auth")
async def me(request: web.Request) -> web.Response:
    user = require_user(request)
    return web.json_response({"user": await describe_user(request, user)})
