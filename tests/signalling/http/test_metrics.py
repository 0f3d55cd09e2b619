"""Who may scrape /metrics: loopback only by default, anyone with metrics_token when set."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from signalling.app import build_app
from signalling.platform import open_platform
from tests.signalling.conftest import make_settings

TOKEN = "scrape-token-0123456789abcdef"


class Served:
    """The real application on a loopback TCP port and on a Unix socket (no address)."""

    def __init__(self, tcp: str, unix: Path) -> None:
        self.tcp = tcp
        self.unix = unix

    async def get(
        self, headers: dict[str, str] | None = None, *, unix: bool = False
    ) -> tuple[int, str, CIMultiDictProxy[str]]:
        connector = aiohttp.UnixConnector(path=str(self.unix)) if unix else None
        base = "http://localhost" if unix else self.tcp
        async with aiohttp.ClientSession(connector=connector) as http:
            async with http.get(base + "/metrics", headers=headers or {}) as response:
                return response.status, await response.text(), response.headers


async def serve(tmp_path: Path, **settings: str) -> AsyncIterator[Served]:
    async with open_platform(make_settings(tmp_path, **settings), migrate=True) as platform:
        runner = web.AppRunner(build_app(platform))
        await runner.setup()
        tcp = web.TCPSite(runner, "127.0.0.1", 0)
        unix_path = tmp_path / "m.sock"
        await tcp.start()
        await web.UnixSite(runner, str(unix_path)).start()
        port = runner.addresses[0][1]
        try:
            yield Served(f"http://127.0.0.1:{port}", unix_path)
        finally:
            await runner.cleanup()


@pytest.fixture
async def open_metrics(tmp_path: Path) -> AsyncIterator[Served]:
    async for served in serve(tmp_path):
        yield served


@pytest.fixture
async def token_metrics(tmp_path: Path) -> AsyncIterator[Served]:
    async for served in serve(tmp_path, metrics_token=TOKEN):
        yield served


async def test_without_token_only_direct_loopback_scrapes(open_metrics: Served) -> None:
    status, body, _ = await open_metrics.get()
    assert status == 200 and "telehealth_http_requests_total" in body
    # passed on by a reverse proxy on this host: someone elsewhere asked
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        status, body, _ = await open_metrics.get({header: "203.0.113.9"})
        assert status == 403 and "metrics_token" in body, header
    # no address at all (a Unix socket) is not loopback either
    status, body, _ = await open_metrics.get(unix=True)
    assert status == 403


async def test_with_token_every_scrape_needs_it(token_metrics: Served) -> None:
    status, body, headers = await token_metrics.get()
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "telehealth_" not in body
    for wrong in (f"Bearer {TOKEN}x", f"Basic {TOKEN}", f"Bearer {TOKEN[:-1]}", "Bearer"):
        status, _, _ = await token_metrics.get({"Authorization": wrong})
        assert status == 401, wrong
    good = {"Authorization": f"Bearer {TOKEN}"}
    status, body, _ = await token_metrics.get(good)
    assert status == 200 and "telehealth_http_requests_total" in body
    # from elsewhere (through a proxy, or a socket with no address) the token is enough
    status, _, _ = await token_metrics.get({**good, "X-Forwarded-For": "203.0.113.9"})
    assert status == 200
    status, _, _ = await token_metrics.get(good, unix=True)
    assert status == 200
