"""Runs the platform until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl

from aiohttp import web

from .app import build_app
from .http.web_client import MissingClientDependencies, check_web_client
from .platform import StartupError, open_platform
from .settings import Settings

log = logging.getLogger(__name__)


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.tls_cert is None or settings.tls_key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(settings.tls_cert, settings.tls_key)
    except (ssl.SSLError, OSError) as exc:
        raise StartupError(f"cannot load TLS certificate/key: {exc}") from None
    return context


async def serve(settings: Settings) -> None:
    try:
        check_web_client()
    except MissingClientDependencies as exc:
        raise StartupError(str(exc)) from None
    ssl_context = _ssl_context(settings)
    async with open_platform(settings, migrate=settings.auto_migrate) as platform:
        app = build_app(platform)
        runner = web.AppRunner(app, access_log=logging.getLogger("telehealth.access"))
        await runner.setup()
        site = web.TCPSite(
            runner, settings.host, settings.port, ssl_context=ssl_context, shutdown_timeout=5
        )
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise StartupError(
                f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}"
            ) from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        log.info("serving", extra={"url": settings.effective_public_url})
        try:
            await stop.wait()
        finally:
            log.info("shutting down")
            await runner.cleanup()
