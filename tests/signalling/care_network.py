"""A small network of hospitals and people who use it through real clients."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer

from signalling.app import build_app
from signalling.auth.tokens import Audience
from signalling.db.models import FacilityLevel, Role, Specialty
from signalling.network.facilities import add_facility, pair
from signalling.network.staff import add_user
from signalling.platform import Platform, open_platform
from signalling.settings import Settings
from tests.conftest import free_port
from tests.signalling.conftest import PASSWORD

NETWORK_USERS = {
    # username: (role, facility, specialties)
    "bm.cardio": (Role.SPECIALIST, "BVBM", [Specialty.CARDIOLOGY]),
    "bm.radio": (Role.SPECIALIST, "BVBM", [Specialty.RADIOLOGY]),
    "cr.cardio": (Role.SPECIALIST, "BVCR", [Specialty.CARDIOLOGY]),
    "hue.cardio": (Role.SPECIALIST, "BVTWH", [Specialty.CARDIOLOGY]),
    "mc.doc": (Role.DOCTOR, "TTYT-MC", []),
}


async def build_network(platform: Platform) -> None:
    """Ring 1 for MC is BVBM, ring 2 BVCR (paired for radiology only), ring 3 Huế."""
    async with platform.db() as db:
        facilities = {}
        for code, level in [
            ("BVBM", FacilityLevel.CENTRAL),
            ("BVCR", FacilityLevel.CENTRAL),
            ("BVTWH", FacilityLevel.CENTRAL),
            ("TTYT-MC", FacilityLevel.DISTRICT),
        ]:
            facilities[code] = await add_facility(
                db, code=code, name=code, level=level, province="VN"
            )
        await pair(db, central_code="BVBM", partner_code="TTYT-MC", specialty=None)
        await pair(db, central_code="BVCR", partner_code="TTYT-MC", specialty=Specialty.RADIOLOGY)
        for username, (role, code, specialties) in NETWORK_USERS.items():
            await add_user(
                db,
                username=username,
                full_name=username.upper(),
                role=role,
                password=PASSWORD,
                facility=facilities[code],
                specialties=specialties,
            )
        await db.commit()


class Member:
    """One person at one browser: REST with a bearer token, events over socket.io."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"})
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("*", lambda name, data=None: self.events.put_nowait((name, data)))

    async def connect(self) -> None:
        await self.sio.connect(
            self.base_url, auth={"token": self.token}, transports=["websocket"], wait_timeout=5
        )

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with self.http.request(
            method, self.base_url.rstrip("/") + path, json=body
        ) as response:
            return response.status, await response.json()

    async def next(self, name: str, timeout: float = 10) -> Any:
        while True:
            got, data = await asyncio.wait_for(self.events.get(), timeout)
            if got == name:
                return data

    async def nothing(self, name: str, wait: float = 0.5) -> None:
        await asyncio.sleep(wait)
        while not self.events.empty():
            got, data = self.events.get_nowait()
            assert got != name, (name, data)

    async def close(self) -> None:
        await self.sio.disconnect()
        await self.http.close()


async def member(
    platform: Platform, base_url: str, username: str, *, on_call: bool = True, online: bool = True
) -> Member:
    from sqlalchemy import select

    from signalling.db.models import User

    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    token, _ = platform.signer.issue(
        subject=f"user:{user.id}", audience=Audience.API, ttl=timedelta(minutes=10)
    )
    m = Member(base_url, token)
    if user.role is Role.SPECIALIST:
        assert (await m.call("PUT", "/api/me/on-call", {"on_call": on_call}))[0] == 200
    if online:
        await m.connect()
    return m


@pytest.fixture
async def network(settings: Settings) -> AsyncIterator[tuple[Platform, str]]:
    async with served(settings) as served_network:
        yield served_network


class ServerProcess:
    """`telehealth serve` as its own process, as one node of a cluster."""

    def __init__(self, data_dir: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "signalling",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, **env},
        )

    async def ready(self, timeout: float = 30) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        async with aiohttp.ClientSession() as http:
            while True:
                assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
                try:
                    async with http.get(self.url + "readyz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                assert asyncio.get_running_loop().time() < deadline, "node did not start"
                await asyncio.sleep(0.1)

    def stop(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=20)


@contextlib.asynccontextmanager
async def served_app(
    settings: Settings,
    *,
    seed: Callable[[Platform], Awaitable[object]] = build_network,
    port: int | None = None,
) -> AsyncIterator[tuple[Platform, web.Application, str]]:
    """The real application on a platform seeded by ``seed`` (the test network unless
    told), served over TCP: (platform, app, base URL)."""
    async with open_platform(settings, migrate=True) as platform:
        await seed(platform)
        app = build_app(platform)
        server = TestServer(app, port=port or None)
        await server.start_server()
        try:
            yield platform, app, str(server.make_url("/"))
        finally:
            await server.close()


@contextlib.asynccontextmanager
async def served(
    settings: Settings, *, port: int | None = None
) -> AsyncIterator[tuple[Platform, str]]:
    """The real application with the test network, served over TCP: (platform, base URL)."""
    async with served_app(settings, port=port) as (platform, _, url):
        yield platform, url


async def accepted_consultation(
    platform: Platform, url: str, request: dict[str, Any], *, with_patient: bool = False
) -> str:
    """mc.doc asks, bm.cardio accepts; the consultation's id."""
    doc = await member(platform, url, "mc.doc", online=False)
    spec = await member(platform, url, "bm.cardio", online=False)
    try:
        if with_patient:
            status, body = await doc.call(
                "POST",
                "/api/patients",
                {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"},
            )
            assert status == 201, body
            request = {**request, "patient_id": body["patient"]["id"]}
        status, body = await doc.call("POST", "/api/consultations", request)
        assert status == 201, body
        cid = str(body["consultation"]["id"])
        assert (await spec.call("POST", f"/api/consultations/{cid}/accept", {}))[0] == 200
        return cid
    finally:
        await doc.close()
        await spec.close()


async def add_admin(platform: Platform, username: str = "root") -> None:
    from signalling.auth.passwords import hash_password
    from signalling.db.models import User

    async with platform.db() as db:
        db.add(
            User(
                username=username,
                full_name="Quản trị",
                role=Role.ADMIN,
                password_hash=hash_password(PASSWORD),
            )
        )
        await db.commit()
