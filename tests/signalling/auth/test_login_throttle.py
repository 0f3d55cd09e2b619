"""Log-in failures: one answer for every refusal, and a guesser cannot lock the owner out.

Clients at different addresses are real TCP clients bound to other loopback
addresses (127.0.0.2, 127.0.0.3), which the server sees as request.remote.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, update

from signalling.db.models import AuditEvent, User
from signalling.platform import Platform
from tests.signalling.care_network import served_app
from tests.signalling.conftest import PASSWORD, make_settings, seed_staff

REFUSED = {"error": "wrong user name or password"}


class Browser:
    """An HTTP client at one loopback address."""

    def __init__(self, url: str, address: str) -> None:
        self.url = url.rstrip("/")
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(local_addr=(address, 0)),
            cookie_jar=aiohttp.CookieJar(unsafe=True),
        )

    async def login(self, username: str, password: str) -> tuple[int, Any]:
        async with self.http.post(
            self.url + "/api/auth/login", json={"username": username, "password": password}
        ) as response:
            return response.status, await response.json()

    async def close(self) -> None:
        await self.http.close()


@contextlib.asynccontextmanager
async def browsers(url: str, *addresses: str) -> AsyncIterator[list[Browser]]:
    """A browser at each address, closed afterwards."""
    opened = [Browser(url, address) for address in addresses]
    try:
        yield opened
    finally:
        for browser in opened:
            await browser.close()


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Platform, str]]:
    settings = make_settings(tmp_path, database_url=database_url, login_max_failures=3)
    async with served_app(settings, seed=seed_staff) as (platform, _, url):
        yield platform, url


async def login_rows(platform: Platform) -> list[AuditEvent]:
    async with platform.db() as db:
        return list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.action == "login").order_by(AuditEvent.id)
            )
        )


async def test_every_refusal_gets_the_same_answer(served: tuple[Platform, str]) -> None:
    platform, url = served
    async with browsers(url, "127.0.0.1") as (browser,):
        answers = [await browser.login("nobody", "whatever123")]  # unknown name
        answers += [await browser.login("doc", "wrong password!") for _ in range(3)]
        answers.append(await browser.login("doc", PASSWORD))  # throttled: right password
        assert answers == [(401, REFUSED)] * 5
        # The audit log knows which was which, and from where.
        rows = await login_rows(platform)
        assert [(r.outcome, r.actor, r.ip) for r in rows] == [
            ("denied", "name:nobody", "127.0.0.1"),
            *[("denied", "name:doc", "127.0.0.1")] * 4,
        ]
        reasons = [json.loads(r.detail)["reason"] for r in rows]
        assert reasons[:2] == ["unknown user", "wrong password"]
        assert reasons[-1] == "too many failures for this name from this address"
        # Nothing on the account itself: no lock for anyone else to trip.
        async with platform.db() as db:
            doc = await db.scalar(select(User).where(User.username == "doc"))
        assert doc is not None and doc.locked_until is None


async def test_a_guesser_elsewhere_cannot_lock_the_owner_out(
    served: tuple[Platform, str],
) -> None:
    _, url = served
    async with browsers(url, "127.0.0.2", "127.0.0.1") as (attacker, owner):
        for _ in range(8):
            assert await attacker.login("doc", "guess guess guess") == (401, REFUSED)
        # the attacker's address is throttled for that name, even with the right password
        assert await attacker.login("doc", PASSWORD) == (401, REFUSED)
        status, body = await owner.login("doc", PASSWORD)
        assert status == 200 and body["user"]["username"] == "doc"


async def test_an_address_guessing_many_names_is_held_back(
    served: tuple[Platform, str],
) -> None:
    platform, url = served
    async with browsers(url, "127.0.0.3", "127.0.0.1") as (attacker, owner):
        # 10 x login_max_failures failures from one address, over many names
        for i in range(30):
            assert await attacker.login(f"user{i}", "guess guess guess") == (401, REFUSED)
        status, body = await attacker.login("spec", PASSWORD)
        assert status == 429
        assert body == {"error": "too many failed log-ins from your address; try again later"}
        rows = await login_rows(platform)
        assert json.loads(rows[-1].detail)["reason"] == "too many failures from this address"
        assert rows[-1].ip == "127.0.0.3"
        assert (await owner.login("spec", PASSWORD))[0] == 200


async def test_a_disabled_account_is_named_only_to_its_password(
    served: tuple[Platform, str],
) -> None:
    platform, url = served
    async with platform.db() as db:
        await db.execute(update(User).where(User.username == "doc").values(is_active=False))
        await db.commit()
    async with browsers(url, "127.0.0.1") as (browser,):
        assert await browser.login("doc", "wrong password!") == (401, REFUSED)
        assert await browser.login("doc", PASSWORD) == (
            401,
            {"error": "this account is disabled"},
        )
