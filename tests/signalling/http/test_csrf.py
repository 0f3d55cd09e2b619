"""CSRF: state-changing requests carrying the log-in cookie from another origin are refused."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser
from sqlalchemy import select

from signalling.auth.login_sessions import COOKIE_NAME
from signalling.auth.tokens import Audience
from signalling.db.models import AuditEvent, User
from signalling.platform import Platform
from tests.signalling.care_network import served as network_served
from tests.signalling.care_network import served_app
from tests.signalling.conftest import PASSWORD, make_settings, seed_staff
from tests.web_client.conftest import browser

__all__ = ["browser"]

PUBLIC = "https://telehealth.benhvien.example"

Served = tuple[Platform, str, str]
"""(platform, base URL, the specialist's session cookie)"""


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    settings = make_settings(tmp_path, public_url=PUBLIC)
    async with served_app(settings, seed=seed_staff) as (platform, _, url):
        base = url.rstrip("/")
        async with aiohttp.ClientSession() as http:
            async with http.post(
                base + "/api/auth/login", json={"username": "spec", "password": PASSWORD}
            ) as response:
                assert response.status == 200
                cookie = response.cookies[COOKIE_NAME].value
        yield platform, base, cookie


async def on_call(platform: Platform) -> bool:
    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == "spec"))
        assert user is not None
        return user.on_call


async def status_of(method: str, url: str, headers: dict[str, str]) -> int:
    """The status a fresh client (no cookie jar of its own) gets for this request."""
    async with aiohttp.ClientSession() as http:
        async with http.request(method, url, headers=headers) as response:
            return response.status


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
    served: Served, forged: dict[str, str]
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


async def test_body_less_post_with_cookie_from_elsewhere_is_refused(served: Served) -> None:
    _, base, cookie = served
    forged = {"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": "https://evil.example"}
    assert await status_of("POST", base + "/api/auth/logout", forged) == 403
    # the session survived: the forged log-out did nothing
    assert await status_of("GET", base + "/api/me", {"Cookie": f"{COOKIE_NAME}={cookie}"}) == 200


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
async def test_own_requests_with_cookie_pass(served: Served, own: dict[str, str]) -> None:
    platform, base, cookie = served
    status, _ = await put_on_call(base, {"Cookie": f"{COOKIE_NAME}={cookie}", **own}, True)
    assert status == 200
    assert await on_call(platform) is True


async def test_origin_of_the_request_itself_passes(served: Served) -> None:
    platform, base, cookie = served
    status, _ = await put_on_call(base, {"Cookie": f"{COOKIE_NAME}={cookie}", "Origin": base}, True)
    assert status == 200
    assert await on_call(platform) is True


async def test_bearer_without_cookie_is_not_checked(served: Served) -> None:
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


async def test_safe_methods_with_cookie_are_not_checked(served: Served) -> None:
    _, base, cookie = served
    cross_site = {"Cookie": f"{COOKIE_NAME}={cookie}", "Sec-Fetch-Site": "cross-site"}
    assert await status_of("GET", base + "/api/me", cross_site) == 200


EVIL_PAGE = """<!doctype html><html><body>
<form method="POST" action="{target}"></form>
<script>document.forms[0].submit()</script>
</body></html>"""


@pytest.mark.browser
async def test_chromium_form_from_another_port_cannot_log_out(
    browser: Browser, tmp_path: Path
) -> None:
    """Another port of the same host is the same site: SameSite=Strict sends the cookie."""
    async with network_served(make_settings(tmp_path)) as (platform, url):
        evil = web.Application()
        page_html = EVIL_PAGE.format(target=url + "api/auth/logout")

        async def attack(request: web.Request) -> web.Response:
            return web.Response(text=page_html, content_type="text/html")

        evil.router.add_get("/", attack)
        evil_server = TestServer(evil, host="127.0.0.1")
        await evil_server.start_server()
        context = await browser.new_context()
        try:
            login = await context.request.post(
                url + "api/auth/login", data={"username": "mc.doc", "password": PASSWORD}
            )
            assert login.ok
            page = await context.new_page()
            async with page.expect_response(lambda r: "/api/auth/logout" in r.url) as info:
                await page.goto(str(evil_server.make_url("/")))
            refused = await info.value
            assert refused.status == 403
            assert (await refused.json())["reason"] == "csrf"
            # the forged log-out did nothing: the session still works
            assert (await context.request.get(url + "api/me")).status == 200
            # and the platform's own page still logs out through the same route
            own = await context.new_page()
            await own.goto(url)
            status = await own.evaluate(
                "fetch('/api/auth/logout', {method: 'POST'}).then(r => r.status)"
            )
            assert status == 200
            assert (await context.request.get(url + "api/me")).status == 401
        finally:
            await context.close()
            await evil_server.close()
        async with platform.db() as db:
            row = await db.scalar(select(AuditEvent).where(AuditEvent.action == "http.csrf"))
        assert row is not None and json.loads(row.detail)["reason"] == (
            "Sec-Fetch-Site is same-site"
        )


@pytest.mark.parametrize(
    "forged", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
)
async def test_a_forged_log_in_is_refused_without_a_cookie(
    served: Served, forged: dict[str, str]
) -> None:
    """Log-in CSRF: the victim's browser must not be logged into another account."""
    _, base, _ = served
    async with aiohttp.ClientSession() as http:
        async with http.post(
            base + "/api/auth/login",
            json={"username": "spec", "password": PASSWORD},
            headers=forged,
        ) as response:
            assert response.status == 403
            assert COOKIE_NAME not in response.cookies
            assert (await response.json())["reason"] == "csrf"
        async with http.post(
            base + "/api/auth/login",
            json={"username": "spec", "password": PASSWORD},
            headers={"Origin": base, "Sec-Fetch-Site": "same-origin"},
        ) as response:
            assert response.status == 200
