"""Nodes announce themselves in Redis; a killed node drops out within 5 s."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select

from signalling.auth.tokens import Audience
from signalling.db.models import User
from signalling.platform import open_platform
from tests.conftest import RedisServer
from tests.signalling.care_network import ServerProcess, add_admin, build_network
from tests.signalling.conftest import make_settings


async def test_a_killed_node_leaves_the_cluster(
    tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    key = "cluster-signing-key-" + "n" * 24
    settings = make_settings(
        tmp_path, redis_url=redis_server.url, database_url=postgres_url, signing_key=key
    )
    env = {
        "TELEHEALTH_DATABASE_URL": postgres_url,
        "TELEHEALTH_REDIS_URL": redis_server.url,
        "TELEHEALTH_SIGNING_KEY": key,
        "TELEHEALTH_AUTO_MIGRATE": "false",
        "TELEHEALTH_LOG_LEVEL": "WARNING",
    }
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        await add_admin(platform)
        async with platform.db() as db:
            admin = await db.scalar(select(User).where(User.username == "root"))
        assert admin is not None
        token, _ = platform.signer.issue(
            subject=f"user:{admin.id}", audience=Audience.API, ttl=timedelta(minutes=5)
        )
        node_a = ServerProcess(tmp_path / "a", env)
        node_b = ServerProcess(tmp_path / "b", env)
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

            async def live() -> set[str]:
                async with http.get(node_a.url + "api/admin/nodes") as response:
                    assert response.status == 200
                    return {n["address"] for n in (await response.json())["nodes"]}

            try:
                await asyncio.gather(node_a.ready(), node_b.ready())
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while len(await live()) < 2:
                    assert loop.time() < deadline, "both nodes never showed up"
                    await asyncio.sleep(0.2)
                node_b.process.send_signal(signal.SIGKILL)
                node_b.process.wait(timeout=10)
                killed = loop.time()
                while len(await live()) > 1:
                    assert loop.time() - killed < 7, "the dead node stayed listed"
                    await asyncio.sleep(0.2)
            finally:
                assert node_a.stop() == 0
                if node_b.process.poll() is None:
                    node_b.stop()
