"""/healthz, /readyz and /metrics on the real application."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient, TestServer

from signalling.app import build_app
from signalling.platform import open_platform
from tests.conftest import RedisServer
from tests.signalling.conftest import make_settings


async def test_health_ready_and_metrics(client: TestClient[Any, Any]) -> None:
    response = await client.get("/healthz")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}
    response = await client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok", "shared_state": "ok"}
    await client.get("/no/such/page")
    metrics = await (await client.get("/metrics")).text()
    assert (
        'telehealth_http_requests_total{method="GET",route="/healthz",status="200"} 1.0' in metrics
    )
    # Unknown paths share one label, so scanners cannot grow the registry.
    assert 'route="unmatched",status="404"' in metrics
    assert "telehealth_socketio_connections 0.0" in metrics


async def _ready(client: TestClient[Any, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.get("/readyz")
    return response.status, await response.json()


async def test_readyz_follows_redis_down_and_back(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    settings = make_settings(tmp_path, redis_url=redis_server.url)
    async with open_platform(settings, migrate=True) as platform:
        async with TestClient(TestServer(build_app(platform))) as client:
            assert (await _ready(client))[0] == 200

            redis_server.stop()
            status, body = await _ready(client)
            assert status == 503
            assert body["checks"]["database"] == "ok"
            assert "unreachable" in body["checks"]["shared_state"]
            assert (await client.get("/healthz")).status == 200  # alive, just not ready

            redis_server.start()
            for _ in range(100):
                status, body = await _ready(client)
                if status == 200:
                    break
                await asyncio.sleep(0.1)
            assert status == 200, body
