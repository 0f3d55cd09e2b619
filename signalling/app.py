"""The composition root: builds the aiohttp application around an open Platform."""

from __future__ import annotations

from aiohttp import web

from .http import admin_routes, auth_routes, health
from .http.errors import error_middleware, security_headers
from .http.identity import identity_middleware
from .http.keys import PLATFORM
from .http.metrics import METRICS, Metrics, metrics_handler, metrics_middleware
from .http.web_client import add_web_client_routes
from .platform import Platform
from .realtime import SIO, create_socketio


def build_app(platform: Platform) -> web.Application:
    app = web.Application(
        middlewares=[metrics_middleware, security_headers, error_middleware, identity_middleware],
        client_max_size=1024**2,  # JSON bodies; uploads stream through their own routes
    )
    metrics = Metrics()
    app[PLATFORM] = platform
    app[METRICS] = metrics
    app.add_routes(health.routes)
    app.add_routes(auth_routes.routes)
    app.add_routes(admin_routes.routes)
    app.router.add_get("/metrics", metrics_handler)
    add_web_client_routes(app)
    sio = create_socketio(platform, metrics)
    sio.attach(app, socketio_path="socket.io")
    app[SIO] = sio

    async def stop_socketio(app: web.Application) -> None:
        await sio.shutdown()

    app.on_shutdown.append(stop_socketio)
    return app
