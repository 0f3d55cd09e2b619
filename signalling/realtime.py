"""socket.io on the aiohttp app; Redis carries its messages between nodes when configured."""

from __future__ import annotations

import logging
from typing import Any

import socketio
from aiohttp import web

from .auth.login_sessions import COOKIE_NAME
from .errors import Unauthorized
from .http.identity import user_from_bearer, user_from_cookie
from .http.metrics import Metrics
from .platform import Platform

log = logging.getLogger(__name__)

SIO = web.AppKey("sio", socketio.AsyncServer)


def create_socketio(platform: Platform, metrics: Metrics) -> socketio.AsyncServer:
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
        try:
            if isinstance(auth, dict) and isinstance(auth.get("token"), str):
                user = await user_from_bearer(platform, auth["token"])
            elif cookie := request.cookies.get(COOKIE_NAME):
                user = await user_from_cookie(platform, cookie)
        except Unauthorized as exc:
            raise socketio.exceptions.ConnectionRefusedError(str(exc)) from None
        if user is None:
            raise socketio.exceptions.ConnectionRefusedError("log in first")
        await sio.save_session(sid, {"user_id": user.id, "username": user.username})
        metrics.socket_connections.inc()
        await sio.emit("welcome", {"username": user.username, "role": user.role.value}, to=sid)

    async def disconnect(sid: str, *args: Any) -> None:
        metrics.socket_connections.dec()

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    return sio
