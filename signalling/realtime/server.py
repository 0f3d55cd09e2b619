"""socket.io on the aiohttp app; Redis carries its messages between nodes when configured.

Every connection joins the socket.io room ``user:<id>``, so that an event for
a user reaches all their tabs and devices on whichever node they are, and
is counted in the presence set while it lasts.

Connections are kept in signalling.realtime.connections; each is cut off when its
account or log-in ends (signalling.realtime.revocation).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import cast

import socketio
from aiohttp import web

from signalling.auth.login_sessions import COOKIE_NAME, session_id
from signalling.auth.tokens import Audience, InvalidToken
from signalling.background import every, running
from signalling.errors import Unauthorized
from signalling.http.identity import user_from_bearer, user_from_cookie
from signalling.http.metrics import Metrics
from signalling.platform import Platform
from signalling.realtime.connections import Connection, Connections, Server
from signalling.realtime.keys import CONNECTIONS, SIO
from signalling.realtime.revocation import revocation_of

log = logging.getLogger(__name__)

# How often each node looks for connections whose account or log-in has ended.
SWEEP_S = 0.5


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def connection_address(request: web.Request) -> str:
    """The client's address as the audit log names it (as actor_of does for HTTP)."""
    return request.remote or ""


class SocketNotifier:
    """The dispatcher's Notifier, over socket.io rooms (and Redis between nodes)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def to_user(self, user_id: int, event: str, data: Mapping[str, object]) -> None:
        await self._sio.emit(event, data, room=user_room(user_id))


def create_socketio(
    platform: Platform, metrics: Metrics, connections: Connections
) -> socketio.AsyncServer:
    manager = None
    if platform.settings.redis_url:
        manager = socketio.AsyncRedisManager(platform.settings.redis_url)
    sio = Server(
        platform,
        connections,
        async_mode="aiohttp",
        client_manager=manager,
        # Same origin only (the default when None): the web client is served here.
        cors_allowed_origins=None,
        max_http_buffer_size=1_000_000,
        ping_interval=10,
        ping_timeout=10,
        logger=False,
        engineio_logger=False,
    )

    async def connect(sid: str, environ: Mapping[str, object], auth: object) -> None:
        # engineio's aiohttp driver puts the request in the environ
        request = cast(web.Request, environ["aiohttp.request"])
        connection = Connection(sid, connection_address(request))
        user = None
        token = auth.get("token") if isinstance(auth, dict) else None
        if auth is not None and not isinstance(token, str):
            raise socketio.exceptions.ConnectionRefusedError('auth must be {"token": "..."}')
        try:
            if isinstance(token, str):  # auth is not None
                user = await user_from_bearer(platform, token)
                connection.expires_at = _expiry(platform, token)
            elif cookie := request.cookies.get(COOKIE_NAME):
                user = await user_from_cookie(platform, cookie)
                connection.session = session_id(cookie)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        if user is None:
            # A patient from a link: no account; the room token comes with room.join.
            await sio.save_session(sid, {"user_id": None})
            connection.session = None
            await connections.add(connection)
            return
        connection.user_id = user.id
        await sio.save_session(sid, {"user_id": user.id, "username": user.username})
        await sio.enter_room(sid, user_room(user.id))
        await connections.add(connection)
        metrics.socket_connections.inc()
        await sio.emit("welcome", {"username": user.username, "role": user.role.value}, to=sid)

    async def disconnect(sid: str, *args: object) -> None:
        if sid in connections.users:
            metrics.socket_connections.dec()
        await connections.remove(sid)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    return sio


def _expiry(platform: Platform, token: str) -> datetime | None:
    try:
        return platform.signer.verify(token, audience=Audience.API).expires_at
    except InvalidToken:
        return None


async def presence_heartbeat(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: keeps this node's connections in the presence set, and
    cuts off those whose account or log-in has ended (signalling.realtime.revocation)."""
    revocation = revocation_of(app[SIO])
    async with (
        running(app[CONNECTIONS].refresh_forever()),
        running(every(SWEEP_S, revocation.sweep, "revocation sweep")),
    ):
        yield
