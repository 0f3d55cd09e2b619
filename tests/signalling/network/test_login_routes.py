"""Log-in, sessions, bearer tokens and request validation over real HTTP."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from signalling.auth.tokens import Audience
from signalling.db.models import LoginSession, User
from signalling.db.types import utcnow
from signalling.http.keys import PLATFORM
from tests.signalling.conftest import PASSWORD


async def login(client: TestClient[Any, Any], username: str, password: str) -> Any:
    return await client.post("/api/auth/login", json={"username": username, "password": password})


async def test_login_me_logout(client: TestClient[Any, Any]) -> None:
    assert (await client.get("/api/me")).status == 401
    response = await login(client, "spec", PASSWORD)
    assert response.status == 200
    cookie = response.cookies["th_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Strict"
    me = await (await client.get("/api/me")).json()
    assert me["user"]["username"] == "spec"
    assert me["user"]["specialties"] == ["cardiology"]
    assert me["user"]["facility"]["code"] == "BVBM"
    assert (await client.post("/api/auth/logout")).status == 200
    assert (await client.get("/api/me")).status == 401


async def test_wrong_password_then_lockout(client: TestClient[Any, Any]) -> None:
    refused = {"error": "wrong user name or password"}
    for _ in range(5):
        response = await login(client, "doc", "wrong password!")
        assert response.status == 401
        assert (await response.json()) == refused
    # Throttled now from this address: even the right password gets the same answer,
    # which says nothing of the account (tests/signalling/test_login_throttle.py).
    response = await login(client, "doc", PASSWORD)
    assert response.status == 401
    assert (await response.json()) == refused
    # Unknown names get the same answer as wrong passwords.
    response = await login(client, "nobody", "whatever123")
    assert response.status == 401
    assert (await response.json()) == refused


async def test_idle_session_expires(client: TestClient[Any, Any]) -> None:
    assert (await login(client, "spec", PASSWORD)).status == 200
    platform = client.app[PLATFORM]
    async with platform.db() as db:
        row = await db.scalar(select(LoginSession))
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(minutes=31)
        await db.commit()
    assert (await client.get("/api/me")).status == 401


async def test_bad_bodies_are_refused_with_the_field(client: TestClient[Any, Any]) -> None:
    response = await client.post("/api/auth/login", json={"username": "spec"})
    assert response.status == 400
    assert (await response.json())["field"] == "password"
    response = await client.post("/api/auth/login", json={"username": "x", "password": 5})
    assert (await response.json())["field"] == "password"
    response = await client.post(
        "/api/auth/login", json={"username": "spec", "password": PASSWORD, "admin": True}
    )
    assert (await response.json())["field"] == "admin"
    response = await client.post(
        "/api/auth/login", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    response = await client.post("/api/auth/login", data={"username": "spec"})  # a form post
    assert response.status == 415
    response = await client.post(
        "/api/auth/login",
        data=b"x" * (2 * 1024 * 1024),
        headers={"Content-Type": "application/json"},
    )
    assert response.status == 413


def _forge(payload: dict[str, Any], key: bytes, alg: str = "HS256") -> str:
    return jwt.encode(payload, key, algorithm=alg)


async def test_bearer_tokens(client: TestClient[Any, Any]) -> None:
    platform = client.app[PLATFORM]
    async with platform.db() as db:
        doc = await db.scalar(select(User).where(User.username == "doc"))
    assert doc is not None
    good, _ = platform.signer.issue(
        subject=f"user:{doc.id}", audience=Audience.API, ttl=timedelta(minutes=5)
    )

    async def me(token: str) -> tuple[int, Any]:
        response = await client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
        return response.status, await response.json()

    assert (await me(good))[1]["user"]["username"] == "doc"

    expired, _ = platform.signer.issue(
        subject=f"user:{doc.id}",
        audience=Audience.API,
        ttl=timedelta(minutes=5),
        now=utcnow() - timedelta(hours=1),
    )
    assert await me(expired) == (401, {"error": "the token has expired"})

    room_token, _ = platform.signer.issue(
        subject=f"user:{doc.id}", audience=Audience.ROOM, ttl=timedelta(minutes=5), room="r1"
    )
    assert (await me(room_token))[0] == 401

    header, body, signature = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["sub"] = "user:1"
    tampered_body = base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()
    assert await me(f"{header}.{tampered_body}.{signature}") == (
        401,
        {"error": "the token is invalid"},
    )

    unsigned = jwt.encode({**payload, "sub": f"user:{doc.id}"}, None, algorithm="none")
    assert (await me(unsigned))[0] == 401
    foreign = _forge({**payload}, b"another deployment's key, 32 bytes+")
    assert (await me(foreign))[0] == 401

    status, _ = await me("")
    assert status == 401
    response = await client.get("/api/me", headers={"Authorization": f"Basic {good}"})
    assert response.status == 401

    async with platform.db() as db:
        row = await db.get(User, doc.id)
        assert row is not None
        row.is_active = False
        await db.commit()
    assert await me(good) == (401, {"error": "the account behind this token is disabled"})
