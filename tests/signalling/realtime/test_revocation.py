"""Live sockets end with the account, the log-in or the room membership behind them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update

from signalling.app import build_app
from signalling.db.models import ChatMessage, LoginSession, User
from signalling.db.types import utcnow
from signalling.platform import open_platform
from signalling.realtime.keys import SIO
from signalling.realtime.revocation import revocation_of
from signalling.rooms.keys import ROOMS
from signalling.rooms.manager import Rooms
from tests.conftest import RedisServer
from tests.signalling.care_network import Member, add_admin, build_network, member
from tests.signalling.conftest import PASSWORD, make_settings
from tests.signalling.rooms.test_manager import Consult, Patient, consult_served, emit, let_in

DEADLINE_S = 5.0  # generous: the sweep runs every half second
GONE = (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError)


class Served:
    def __init__(self, consult: Consult, app: web.Application) -> None:
        self.consult = consult
        self.app = app

    @property
    def rooms(self) -> Rooms:
        return self.app[ROOMS]

    def member_ids(self) -> set[str]:
        room = self.rooms.rooms.get(self.consult.room)
        return set(room.members) if room else set()

    def in_media(self) -> set[str]:
        room = self.rooms.rooms.get(self.consult.room)
        return set(room.in_media) if room else set()


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[Served]:
    # A long grace period: a socket that merely drops would keep its member.
    settings = make_settings(tmp_path, room_grace_seconds=60, database_url=database_url)
    async with consult_served(settings) as (app, consult):
        yield Served(consult, app)


async def gone(sio: socketio.AsyncClient) -> None:
    """Wait (at most DEADLINE_S) for the server to close this socket."""
    deadline = asyncio.get_running_loop().time() + DEADLINE_S
    while sio.connected:
        assert asyncio.get_running_loop().time() < deadline, "the socket is still connected"
        await asyncio.sleep(0.05)


async def user_id(served: Served, username: str) -> int:
    async with served.consult.platform.db() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    return user.id


async def log_in(browser: aiohttp.ClientSession, url: str, username: str) -> tuple[int, str]:
    """A log-in with the password in this browser: (status, the session cookie)."""
    async with browser.post(
        url + "/api/auth/login", json={"username": username, "password": PASSWORD}
    ) as response:
        return response.status, response.cookies["th_session"].value


async def cookie_socket(url: str, cookie: str) -> socketio.AsyncClient:
    """A page's socket, with the log-in cookie and no token."""
    sio = socketio.AsyncClient(reconnection=False)
    await sio.connect(url, headers={"Cookie": f"th_session={cookie}"}, transports=["websocket"])
    return sio


async def doc_page(consult: Consult, cookie: str) -> tuple[socketio.AsyncClient, Any]:
    """The doctor's page on the cookie's socket, joining the room: (socket, the join's ack)."""
    page = await cookie_socket(consult.url, cookie)
    ack = await page.call("room.join", {"token": await consult.token(consult.doc)}, timeout=10)
    return page, ack


async def refused_or_gone(who: Member | Patient, event: str, data: Any = None) -> None:
    """The event is refused, or the socket is gone already: either way nothing is done."""
    try:
        ack = await who.sio.call(event, data, timeout=5)
    except GONE:
        return
    assert "error" in ack and "token" not in ack and "id" not in ack, ack


async def test_a_disabled_account_loses_its_socket_and_media(served: Served) -> None:
    consult = served.consult
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    spec_member = f"u{await user_id(served, 'bm.cardio')}"
    assert spec_member in served.in_media()
    # What `telehealth user disable` does, from another process: a write to the database.
    async with consult.platform.db() as db:
        await db.execute(update(User).where(User.username == "bm.cardio").values(is_active=False))
        await db.commit()
    await refused_or_gone(consult.spec, "room.refresh")
    await refused_or_gone(consult.spec, "chat.send", {"text": "still here?", "client_id": "x"})
    await refused_or_gone(consult.spec, "chat.history", {"after_id": 0})
    await gone(consult.spec.sio)
    # Out of the room at once, media and all, without the grace period.
    left = await consult.doc.next("participant.left")
    assert left == {"id": spec_member, "reason": "removed"}
    assert spec_member not in served.member_ids()
    assert spec_member not in served.in_media()
    # And it cannot come back.
    again = Member(consult.url, consult.spec.token)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await again.connect()
    await again.close()
    async with consult.platform.db() as db:
        texts = list(await db.scalars(select(ChatMessage.text)))
    assert "still here?" not in texts


async def test_an_admin_disabling_an_account_cuts_it_off(served: Served) -> None:
    consult = served.consult
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    await add_admin(consult.platform, "root")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as admin:
        url = consult.url.rstrip("/")
        status, _ = await log_in(admin, url, "root")
        assert status == 200
        async with admin.put(
            url + "/api/admin/users/bm.cardio/active", json={"active": False}
        ) as response:
            assert response.status == 200
        # On this node the route itself cut the socket off: it is gone by the answer,
        # give or take the close reaching the client.
        await gone(consult.spec.sio)
    spec_member = f"u{await user_id(served, 'bm.cardio')}"
    assert spec_member not in served.member_ids()
    assert spec_member not in served.in_media()


async def test_logging_out_ends_the_log_ins_sockets(served: Served) -> None:
    consult = served.consult
    await consult.enter(consult.spec)
    url = consult.url.rstrip("/")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        status, cookie = await log_in(browser, url, "mc.doc")
        assert status == 200
        page, ack = await doc_page(consult, cookie)
        assert ack["state"] == "joined", ack
        doc_member = ack["participant_id"]
        assert doc_member in served.in_media()
        # Another tab with a bearer token is another log-in: it stays.
        async with browser.post(url + "/api/auth/logout") as response:
            assert response.status == 200
        await gone(page)
        left = await consult.spec.next("participant.left")
        assert left == {"id": doc_member, "reason": "removed"}
        assert doc_member not in served.in_media()
        assert consult.doc.sio.connected
        # The ended log-in cannot open a socket as anyone.
        again = await cookie_socket(consult.url, cookie)
        assert (await again.call("room.refresh", timeout=5))["error"] == "join a room first"
        await again.disconnect()


async def test_a_removed_member_loses_its_socket_and_media(served: Served) -> None:
    consult = served.consult
    await consult.enter(consult.doc)
    patient = Patient(consult.url)
    await patient.connect()
    ack = await let_in(consult, patient, name="Páo")
    assert ack["participant_id"] in served.in_media()
    assert (
        await emit(consult.doc, "participant.remove", {"participant_id": ack["participant_id"]})
    )["ok"]
    assert "by" in await patient.next("room.removed")
    await gone(patient.sio)
    assert ack["participant_id"] not in served.member_ids()
    assert ack["participant_id"] not in served.in_media()
    # Its session token neither rejoins nor refreshes.
    back = Patient(consult.url)
    await back.connect()
    answer = await back.emit("room.join", {"token": ack["session_token"]})
    assert answer["error"] == "you were removed from this room"
    assert (await back.emit("room.refresh"))["error"] == "join a room first"
    assert (await back.emit("chat.send", {"text": "x", "client_id": "1"}))["error"] == (
        "join a room first"
    )
    await back.sio.disconnect()


async def test_a_disabled_account_is_cut_off_on_every_node(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """The room lives on node A; the specialist's socket is on node B (its events
    carried to A): B's sweep cuts the socket and A drops the member at once."""
    settings = make_settings(tmp_path, redis_url=redis_server.url, room_grace_seconds=60)
    async with open_platform(settings, migrate=True) as node_a, open_platform(settings) as node_b:
        await build_network(node_a)
        app_a, app_b = build_app(node_a), build_app(node_b)
        server_a, server_b = TestServer(app_a), TestServer(app_b)
        await server_a.start_server()
        await server_b.start_server()
        consult = Consult(node_a, str(server_a.make_url("/")))
        spec_b = None
        try:
            await consult.start()
            await consult.enter(consult.doc)  # the room is placed on A
            spec_b = await member(node_b, str(server_b.make_url("/")), "bm.cardio")
            joined = await consult.enter(spec_b)
            spec_member = joined["participant_id"]
            room = app_a[ROOMS].rooms[consult.room]
            assert spec_member in room.members and spec_member in room.in_media
            assert consult.room not in app_b[ROOMS].rooms
            async with node_a.db() as db:
                await db.execute(
                    update(User).where(User.username == "bm.cardio").values(is_active=False)
                )
                await db.commit()
            await gone(spec_b.sio)
            await gone(consult.spec.sio)  # its other socket, on A
            left = await consult.doc.next("participant.left")
            assert left == {"id": spec_member, "reason": "removed"}
            assert spec_member not in room.members and spec_member not in room.in_media
        finally:
            if spec_b is not None:
                await spec_b.close()
            await consult.close()
            await server_a.close()
            await server_b.close()


async def test_an_idle_time_out_does_not_drop_a_live_call(served: Served) -> None:
    """Only an ended log-in cuts its sockets; one found idle (the clinician clicked
    nothing during a long call) refuses HTTP but keeps the call."""
    consult = served.consult
    url = consult.url.rstrip("/")
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser:
        _, cookie = await log_in(browser, url, "mc.doc")
        page, ack = await doc_page(consult, cookie)
        assert ack["state"] == "joined", ack
        async with consult.platform.db() as db:
            await db.execute(
                update(LoginSession).values(last_seen_at=utcnow() - timedelta(minutes=31))
            )
            await db.commit()
        async with browser.get(url + "/api/me") as response:
            assert response.status == 401  # the log-in is over for HTTP
        assert await revocation_of(served.app[SIO]).sweep() == 0
        assert page.connected
        assert "id" in await page.call("chat.send", {"text": "still", "client_id": "s"}, timeout=5)
        await page.disconnect()
