"""Administration over HTTP: network, staff, live sessions; administrators only, audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from signalling.auth.tokens import Audience
from signalling.db.models import User
from signalling.http.keys import PLATFORM
from tests.signalling.care_network import add_admin, member
from tests.signalling.conftest import PASSWORD
from tests.signalling.rooms.test_manager import Consult, consult, emit

__all__ = ["consult"]


async def as_admin(client: TestClient[Any, Any]) -> None:
    await add_admin(client.app[PLATFORM])
    response = await client.post("/api/auth/login", json={"username": "root", "password": PASSWORD})
    assert response.status == 200


async def add_at_con_dao(client: TestClient[Any, Any], **account: Any) -> ClientResponse:
    """POST /api/admin/users: an account at TTYT-CD with a long enough password."""
    return await client.post(
        "/api/admin/users",
        json={**account, "facility": "TTYT-CD", "password": "long enough password"},
    )


async def test_network_and_staff(client: TestClient[Any, Any]) -> None:
    # A doctor is refused, and the refusal is audited.
    await client.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    assert (await client.get("/api/admin/users")).status == 403
    platform = client.app[PLATFORM]
    assert (await platform.audit.events(limit=1))[0].outcome == "denied"
    await client.post("/api/auth/logout")

    await as_admin(client)
    response = await client.post(
        "/api/admin/facilities",
        json={"code": "TTYT-CD", "name": "TTYT Côn Đảo", "level": "district", "province": "BR-VT"},
    )
    assert response.status == 201
    again = await client.post(
        "/api/admin/facilities",
        json={"code": "ttyt-cd", "name": "x", "level": "district", "province": "y"},
    )
    assert again.status == 409
    response = await client.post(
        "/api/admin/pairings",
        json={"central": "BVBM", "partner": "TTYT-CD", "specialty": "surgery"},
    )
    assert response.status == 201
    net = await (await client.get("/api/admin/network")).json()
    assert {"central": "BVBM", "partner": "TTYT-CD", "specialty": "surgery"} in net["pairings"]

    response = await add_at_con_dao(
        client, username="cd.doctor", full_name="BS. Côn Đảo", role="doctor"
    )
    assert response.status == 201, await response.text()
    bad = await add_at_con_dao(
        client, username="x.spec", full_name="S", role="specialist", specialties=["surgery"]
    )
    assert bad.status == 400  # specialists work at central hospitals
    users = (await (await client.get("/api/admin/users")).json())["users"]
    assert {"username": "cd.doctor", "facility": "TTYT-CD", "active": True}.items() <= next(
        u for u in users if u["username"] == "cd.doctor"
    ).items()

    # Disabling ends the account's log-ins at once.
    async with platform.db() as db:
        doc = await db.scalar(select(User).where(User.username == "doc"))
    assert doc is not None
    token, _ = platform.signer.issue(
        subject=f"user:{doc.id}", audience=Audience.API, ttl=timedelta(minutes=5)
    )
    response = await client.put("/api/admin/users/doc/active", json={"active": False})
    assert (await response.json()) == {"username": "doc", "active": False}
    me = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401
    own = await client.put("/api/admin/users/root/active", json={"active": False})
    assert own.status == 400
    actions = [e.action for e in await platform.audit.events(limit=20)]
    assert {"admin.facility.add", "admin.pairing.add", "user.add", "user.disable"} <= set(actions)


async def test_live_sessions_show_their_health(consult: Consult) -> None:
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    await emit(consult.doc, "chat.send", {"text": "x", "client_id": "1"})
    platform = consult.platform
    await add_admin(platform)
    admin = await member(platform, consult.url, "root", online=False)
    try:
        status, body = await admin.call("GET", "/api/admin/sessions")
        assert status == 200
        (session,) = body["sessions"]
        assert session["id"] == consult.id
        assert session["participants"] == 2
        assert session["media"]["peers"] == 2
    finally:
        await admin.close()
