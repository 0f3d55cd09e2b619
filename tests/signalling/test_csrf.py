"""CSRF: state-changing requests carrying the log-in cookie from another origin are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from signalling.app import build_app
from signalling.auth.login_sessions import COOKIE_NAME
from signalling.auth.tokens import Audience
from signalling.db.models import AuditEvent, User
from signalling.platform import Platform, open_platform
from tests.signalling.conftest import PASSWORD, make_settings, seed_staff

PUBLIC = "https://telehealth.benhvien.example"


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Platform, str, str]]:
    """(platform, base URL, the specialist's session cookie)."""
    settings = make_settings(tmp_path, public_url=PUBLIC)
    async with open_platform(settings, migrate=True) as platform:
        await seed_staff(platform)
        server = TestServer(build_app(platform))
        await server.start_server()
        base = str(server.make_url("")).rstrip("/")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                base + "/api/auth/login", json={"username": "spec", "password": PASSWORD}
            ) as response:
                assert response.status == 200
                cookie = response.cookies[COOKIE_NAME].value
        try:
            yield platform, base, cookie
        finally:
            await server.close()


async def on_call(platform: Platform) -> bool:
    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == "spec"))
        assert user is not None
        return user.on_call


async def put_on_call(base: str, headers: dict[str, str], value: bool) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http:
        async with http.put(
            base + "/api/me/on-call", json={"on_call": value}, headers=headers
        ) as response:
            return response.status, await response.json()


@pytest.mark.parametrize(
    "forged",
    [
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://127.0.0.1:1"},  # same host, another port: another origin
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
    ],
)
async def test_forged_request_with_cookie_is_refused_and_audited(
    served: tuple[Platform, str, str], forged: dict[str, str]
) -> None:
    platform, base, cookie = served
    before = await on_call(platform)
    status, body = await put_on_call(base, {"Cookie": f"{COOKIE_NAME}={cookie}", **forged}, True)
    assert status == 403
    assert body["reason"] == "csrf" and "cross-site request refused" in body["error"]
    assert await on_call(platform) == before  # nothing changed
    async with platform.db() as db:
        row = await db.scalar(select(AuditEvent).where(AuditEvent.action == "http.csrf"))
    assert row is not None
    assert row.outcome == "denied" and row.actor.startswith("user:")
    assert row.object_id == "PUT /api/me/on-call"
    assert json.loads(row.detail)["status"] == 403


async def test_body_less_post_with_cookie_from_elsewhere_is_refused(
    served: tuple[Platform, str, str],
) -> None:
    _, base, cookie = served
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base + "/api/auth/logout",
            headers={"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": "https://evil.example"},
        ) as response:
            assert response.status == 403
        # the session survived: the forged log-out did nothing
        async with http.get(
            base + "/api/me", headers={"Cookie": f"{COOKIE_NAME}={cookie}"}
        ) as response:
            assert response.status == 200


@pytest.mark.parametrize(
    "own",
    [
        {},  # a non-browser client: neither header
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},  # typed by the user / a bookmark
        {"Origin": PUBLIC},  # the configured public URL (behind a proxy)
        {"Origin": PUBLIC + ":443"},  # same origin, default port spelled out
    ],
)
async def test_own_requests_with_cookie_pass(
    served: tuple[Platform, str, str], own: dict[str, str]
) -> None:
    platform, base, cookie = served
    status, _ = await put_on_call(base, {"Cookie": f"{COOKIE_NAME}={cookie}", **own}, True)
    assert status == 200
    assert await on_call(platform) is True


async def test_origin_of_the_request_itself_passes(served: tuple[Platform, str, str]) -> None:
    platform, base, cookie = served
    status, _ = await put_on_call(base, {"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": base}, True)
    assert status == 200
    assert await on_call(platform) is True


async def test_bearer_without_cookie_is_not_checked(served: tuple[Platform, str, str]) -> None:
    platform, base, _ = served
    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == "spec"))
    assert user is not None
    token, _ = platform.signer.issue(
        subject=f"user:{user.id}", audience=Audience.API, ttl=timedelta(minutes=5)
    )
    headers = {"Authorization": f"Bearer {token}", "Origin": "https://tool.example"}
    status, _ = await put_on_call(base, headers, True)
    assert status == 200
    assert await on_call(platform) is True


async def test_safe_methods_with_cookie_are_not_checked(
    served: tuple[Platform, str, str],
) -> None:
    _, base, cookie = served
    async with aiohttp.ClientSession() as http:
        async with http.get(
            base + "/api/me",
            headers={"Cookie": f"{COOKIE_NAME}={cookie}", "Sec-Fetch-Site": "cross-site"},
        ) as response:
            assert response.status == 200
