"""socket.io on the real server: authentication, and fan-out between nodes through Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from signalling.app import build_app
from signalling.auth.tokens import Audience
from signalling.db.models import User
from signalling.http.keys import PLATFORM
from signalling.platform import Platform, open_platform
from signalling.realtime.keys import SIO
from tests.conftest import RedisServer
from tests.signalling.conftest import PASSWORD, make_settings, seed_staff


async def staff_token(platform: Platform, username: str) -> str:
    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    token, _ = platform.signer.issue(
        subject=f"user:{user.id}", audience=Audience.API, ttl=timedelta(minutes=5)
    )
    return token


async def connect(url: str, **kwargs: Any) -> tuple[socketio.AsyncClient, asyncio.Queue[Any]]:
    sio = socketio.AsyncClient(reconnection=False)
    events: asyncio.Queue[Any] = asyncio.Queue()
    sio.on("welcome", lambda data: events.put_nowait(("welcome", data)))
    sio.on("notice", lambda data: events.put_nowait(("notice", data)))
    await sio.connect(url, transports=["websocket"], wait_timeout=5, **kwargs)
    return sio, events


async def test_token_and_cookie_authenticate(client: TestClient[Any, Any]) -> None:
    url = str(client.make_url("/"))
    token = await staff_token(client.app[PLATFORM], "spec")
    sio, events = await connect(url, auth={"token": token})
    try:
        assert await asyncio.wait_for(events.get(), 5) == (
            "welcome",
            {"username": "spec", "role": "specialist"},
        )
    finally:
        await sio.disconnect()

    response = await client.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    cookie = response.cookies["th_session"].value
    sio, events = await connect(url, headers={"Cookie": f"th_session={cookie}"})
    try:
        assert (await asyncio.wait_for(events.get(), 5))[1]["username"] == "doc"
    finally:
        await sio.disconnect()


async def test_anonymous_sockets_get_nothing_until_they_join_a_room(
    client: TestClient[Any, Any],
) -> None:
    """A patient's browser connects without an account; it is not anyone yet."""
    sio = socketio.AsyncClient(reconnection=False)
    welcomed: list[Any] = []
    sio.on("welcome", welcomed.append)
    await sio.connect(str(client.make_url("/")), transports=["websocket"], wait_timeout=5)
    try:
        ack = await sio.call("chat.send", {"text": "hi", "client_id": "1"}, timeout=5)
        assert ack == {"error": "join a room first", "code": "not_in_room"}
        assert welcomed == []
    finally:
        await sio.disconnect()


@pytest.mark.parametrize("auth", [{"token": "not-a-token"}, {"token": 5}])
async def test_bad_credentials_are_refused(client: TestClient[Any, Any], auth: Any) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            str(client.make_url("/")), auth=auth, transports=["websocket"], wait_timeout=5
        )
    metrics = await (await client.get("/metrics")).text()
    assert "telehealth_socketio_connections 0.0" in metrics


async def test_messages_cross_nodes_through_redis(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """Two nodes share Redis and the database; an emit on A reaches a client on B."""
    settings = make_settings(tmp_path, redis_url=redis_server.url)
    async with open_platform(settings, migrate=True) as node_a, open_platform(settings) as node_b:
        await seed_staff(node_a)
        app_a, app_b = build_app(node_a), build_app(node_b)
        async with (
            TestClient(TestServer(app_a)) as client_a,
            TestClient(TestServer(app_b)) as client_b,
        ):
            token = await staff_token(node_b, "spec")
            sio, events = await connect(str(client_b.make_url("/")), auth={"token": token})
            try:
                assert (await asyncio.wait_for(events.get(), 5))[0] == "welcome"
                # The Redis manager needs a moment to subscribe on each node.
                for _ in range(50):
                    await app_a[SIO].emit("notice", {"from": "node A"})
                    try:
                        got = await asyncio.wait_for(events.get(), 0.2)
                        break
                    except TimeoutError:
                        continue
                else:
                    pytest.fail("the message never crossed to node B")
                assert got == ("notice", {"from": "node A"})
            finally:
                await sio.disconnect()
        assert client_a.server is not None


@pytest.fixture
async def consult_with_images(tmp_path: Path, database_url: str) -> AsyncIterator[Any]:
    from tests.signalling.imaging_helpers import served_consult

    async for _, _, consult in served_consult(tmp_path, database_url):
        yield consult


async def test_socket_audit_rows_carry_the_source_address(consult_with_images: Any) -> None:
    """The address is taken at connect and kept with the connection and its member."""
    from tests.signalling.imaging_helpers import audit_rows, ct5n, upload
    from tests.signalling.rooms.test_manager import Patient, emit, let_in

    consult = consult_with_images
    status, body = await upload(consult.doc, consult.id, [(p.name, p.read_bytes()) for p in ct5n()])
    assert status == 200, body
    series = body["results"][0]["series_uid"]
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    patient = Patient(consult.url)
    await patient.connect()
    try:
        await let_in(consult, patient)
        assert "id" in await emit(consult.doc, "chat.send", {"text": "xin chào", "client_id": "1"})
        assert (await emit(consult.spec, "chat.history", {"after_id": 0}))["messages"]
        assert "state" in await emit(
            consult.doc, "view.open", {"object_id": series, "kind": "series"}
        )
    finally:
        await patient.sio.disconnect()
    for action in ("room.join", "room.admit", "chat.send", "chat.read", "imaging.view"):
        rows = await audit_rows(consult.platform, action)
        assert rows, action
        assert {r.ip for r in rows} == {"127.0.0.1"}, action
    # The patient's join too, and staff rows name their facility.
    joins = await audit_rows(consult.platform, "room.join")
    assert any(r.actor.startswith("patient:") for r in joins)
    assert all(r.facility_id is not None for r in joins if r.actor.startswith("user:"))
