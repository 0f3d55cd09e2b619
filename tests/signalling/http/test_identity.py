"""Who is asking: a signed token whose subject names no account is a 401, never a 500."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
import socketio
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from signalling.auth.tokens import Audience
from signalling.db.models import User
from signalling.errors import Unauthorized
from signalling.http.identity import staff_user_id
from signalling.platform import Platform

BAD_SUBJECTS = [
    "abc",
    "user:abc",
    "user:",
    "user: 1",
    "user:1 ",
    "user:+1",
    "user:-1",
    "user:0",
    "user:01",
    "user:١",  # an Arabic-Indic digit: int() would accept it
    "user:99999999999999999999",  # beyond the database's 64-bit integer
    "user:1.5",
]


@pytest.mark.parametrize("subject", BAD_SUBJECTS)
def test_staff_user_id_refuses_what_names_no_account(subject: str) -> None:
    with pytest.raises(Unauthorized, match="not a staff token"):
        staff_user_id(subject)


def test_staff_user_id_reads_an_account() -> None:
    assert staff_user_id("user:7") == 7
    assert staff_user_id("user:999999999999999999") == 999999999999999999


def _token(platform: Platform, subject: str) -> str:
    token, _ = platform.signer.issue(
        subject=subject, audience=Audience.API, ttl=timedelta(minutes=5)
    )
    return token


@pytest.mark.parametrize("subject", ["abc", "user:abc", "user:99999999999999999999", "user:١"])
async def test_signed_token_with_bad_subject_is_a_401(
    client: TestClient[Any, Any], platform: Platform, subject: str
) -> None:
    headers = {"Authorization": f"Bearer {_token(platform, subject)}"}
    response = await client.get("/api/me", headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "the token is not a staff token"
    response = await client.put("/api/me/on-call", json={"on_call": True}, headers=headers)
    assert response.status == 401


async def test_socket_with_bad_subject_is_refused_without_an_error(
    client: TestClient[Any, Any], platform: Platform, caplog: pytest.LogCaptureFixture
) -> None:
    sio = socketio.AsyncClient(reconnection=False)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await sio.connect(
            str(client.make_url("/")),
            auth={"token": _token(platform, "user:abc")},
            transports=["websocket"],
            wait_timeout=5,
        )
    await sio.disconnect()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_good_subject_still_works(client: TestClient[Any, Any], platform: Platform) -> None:
    async with platform.db() as db:
        spec = await db.scalar(select(User).where(User.username == "spec"))
    assert spec is not None
    headers = {"Authorization": f"Bearer {_token(platform, f'user:{spec.id}')}"}
    response = await client.get("/api/me", headers=headers)
    assert response.status == 200
    assert (await response.json())["user"]["username"] == "spec"
