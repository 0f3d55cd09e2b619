"""Runs the platform until SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import ssl

from aiohttp import web

from signalling.app import build_app
from signalling.http.access_log import RedactingAccessLogger
from signalling.http.web_client import MissingClientDependencies, check_web_client
from signalling.platform import StartupError, open_platform
from signalling.settings import Settings

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


def _listen(settings: Settings) -> socket.socket:
    # Bound before anything else opens, so a busy port fails fast and alone.
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    try:
        return socket.create_server((settings.host, settings.port), family=family, backlog=256)
    except OSError as exc:
        raise StartupError(
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
        ) from None


async def serve(settings: Settings) -> None:
    try:
        check_web_client()
    except MissingClientDependencies as exc:
        raise StartupError(str(exc)) from None
    ssl_context = _ssl_context(settings)
    sock = _listen(settings)
    try:
        async with open_platform(settings, migrate=settings.auto_migrate) as platform:
            app = build_app(platform)
            runner = web.AppRunner(
                app,
                access_log=logging.getLogger("telehealth.access"),
                access_log_class=RedactingAccessLogger,  # no tokens from query strings
            )
            await runner.setup()
            site = web.SockSite(runner, sock, ssl_context=ssl_context, shutdown_timeout=5)
            await site.start()
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
    finally:
        sock.close()
