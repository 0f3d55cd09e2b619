"""socket.io on the aiohttp app; Redis carries its messages between nodes when configured.

Every connection joins the socket.io room ``user:<id>``, so that an event for
a user reaches all their tabs and devices on whichever node they are, and
is counted in the presence set while it lasts.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import socketio
from aiohttp import web

from .auth.login_sessions import COOKIE_NAME
from .background import running
from .errors import Unauthorized
from .http.identity import user_from_bearer, user_from_cookie
from .http.metrics import Metrics
from .platform import Platform
from .presence import REFRESH_S, Presence
from .shared_state import SharedStateUnavailable

log = logging.getLogger(__name__)

SIO = web.AppKey("sio", socketio.AsyncServer)


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


class SocketNotifier:
    """The dispatcher's Notifier, over socket.io rooms (and Redis between nodes)."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self._sio = sio

    async def to_user(self, user_id: int, event: str, data: dict[str, Any]) -> None:
        await self._sio.emit(event, data, room=user_room(user_id))


class Connections:
    """This node's live connections, kept in the presence set by a heartbeat."""

    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.users: dict[str, int] = {}
        # Called with the sid of every connection that closes (rooms keep a grace period).
        self.on_close: list[Callable[[str], Awaitable[None]]] = []

    async def add(self, sid: str, user_id: int) -> None:
        self.users[sid] = user_id
        await self._quietly(self.presence.connected(user_id, sid))

    async def remove(self, sid: str) -> None:
        user_id = self.users.pop(sid, None)
        if user_id is not None:
            await self._quietly(self.presence.disconnected(user_id, sid))
        for hook in self.on_close:
            await hook(sid)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            for sid, user_id in list(self.users.items()):
                await self._quietly(self.presence.connected(user_id, sid))

    @staticmethod
    async def _quietly(coro: Any) -> None:
        # Presence is best effort: while Redis is away, sockets keep working.
        try:
            await coro
        except SharedStateUnavailable as exc:
            log.warning("presence not updated: %s", exc)


CONNECTIONS = web.AppKey("connections", Connections)


def create_socketio(
    platform: Platform, metrics: Metrics, connections: Connections
) -> socketio.AsyncServer:
    manager = None
    if platform.settings.redis_url:
        manager = socketio.AsyncRedisManager(platform.settings.redis_url)
    sio = socketio.AsyncServer(
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

    async def connect(sid: str, environ: dict[str, Any], auth: Any) -> None:
        request: web.Request = environ["aiohttp.request"]
        user = None
        if auth is not None and not (isinstance(auth, dict) and isinstance(auth.get("token"), str)):
            raise socketio.exceptions.ConnectionRefusedError('auth must be {"token": "..."}')
        try:
            if auth is not None:
                user = await user_from_bearer(platform, auth["token"])
            elif cookie := request.cookies.get(COOKIE_NAME):
                user = await user_from_cookie(platform, cookie)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        if user is None:
            # A patient from a link: no account; the room token comes with room.join.
            await sio.save_session(sid, {"user_id": None})
            return
        await sio.save_session(sid, {"user_id": user.id, "username": user.username})
        await sio.enter_room(sid, user_room(user.id))
        await connections.add(sid, user.id)
        metrics.socket_connections.inc()
        await sio.emit("welcome", {"username": user.username, "role": user.role.value}, to=sid)

    async def disconnect(sid: str, *args: Any) -> None:
        if sid in connections.users:
            metrics.socket_connections.dec()
        await connections.remove(sid)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    return sio


async def presence_heartbeat(app: web.Application) -> AsyncIterator[None]:
    """aiohttp cleanup context: keeps this node's connections in the presence set."""
    async with running(app[CONNECTIONS].refresh_forever()):
        yield
