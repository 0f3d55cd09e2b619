"""Who is asking: a log-in cookie (browsers) or a bearer token (scripts, DICOMweb)."""

from __future__ import annotations

import re

from aiohttp import web

from signalling.audit import Actor, Outcome, user_actor
from signalling.auth.login_sessions import COOKIE_NAME, resolve_session
from signalling.auth.tokens import Audience, InvalidToken
from signalling.db.models import Role, User
from signalling.errors import Forbidden, Unauthorized
from signalling.http.errors import RequestHandler
from signalling.http.keys import USER, platform_of
from signalling.platform import Platform

# "user:<id>": ASCII digits only (int() would take "١٢" or " 12"), at most 18
# so that the id fits the database's 64-bit integer.
_STAFF_SUBJECT = re.compile(r"user:([1-9][0-9]{0,17})")


def staff_user_id(subject: str) -> int:
    """The account id a token's `sub` names; Unauthorized (401) if it names none."""
    match = _STAFF_SUBJECT.fullmatch(subject)
    if match is None:
        raise Unauthorized("the token is not a staff token")
    return int(match.group(1))


async def user_from_bearer(platform: Platform, token: str) -> User:
    try:
        claims = platform.signer.verify(token, audience=Audience.API)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    user_id = staff_user_id(claims.subject)
    async with platform.db() as db:
        user = await db.get(User, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("the account behind this token is disabled")
    return user


async def user_from_cookie(platform: Platform, token: str) -> User | None:
    async with platform.db() as db:
        return await resolve_session(db, token, platform.session_policy)


async def identify(platform: Platform, request: web.Request) -> User | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("use Authorization: Bearer <token>")
        return await user_from_bearer(platform, token.strip())
    cookie = request.cookies.get(COOKIE_NAME)
    return await user_from_cookie(platform, cookie) if cookie else None


@web.middleware
async def identity_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    # Only the API needs to know; static files and probes stay cheap.
    # Patients have no account: their routes check the room session token themselves.
    if request.path.startswith(("/api/", "/dicomweb/", "/whip/")) and not request.path.startswith(
        "/api/patient/"
    ):
        user = await identify(platform_of(request), request)
        if user is not None:
            request[USER] = user
    return await handler(request)


def actor_of(user: User, request: web.Request) -> Actor:
    return user_actor(user, request.remote or "")


def require_user(request: web.Request) -> User:
    if USER not in request:
        raise Unauthorized("log in first")
    return request[USER]


async def require_admin(request: web.Request, action: str) -> tuple[User, Actor]:
    user = require_user(request)
    actor = actor_of(user, request)
    if user.role is not Role.ADMIN:
        await platform_of(request).audit.record(actor, action, outcome=Outcome.DENIED)
        raise Forbidden("only administrators may do that")
    return user, actor
