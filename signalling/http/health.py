"""Liveness (/healthz: the process answers) and readiness (/readyz: it can do work)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from signalling.db.engine import check_database
from signalling.http.keys import platform_of

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _shared_state_ok(request: web.Request) -> bool:
    try:
        async with asyncio.timeout(2.0):
            return await platform_of(request).shared.ping()
    except TimeoutError:
        return False


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    platform = platform_of(request)
    checks: dict[str, str] = {}
    try:
        await check_database(platform.engine, timeout=2.0)
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = str(exc)
    checks["shared_state"] = (
        "ok" if await _shared_state_ok(request) else f"{platform.shared.description} unreachable"
    )
    ready = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
