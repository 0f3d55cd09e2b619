"""Fixtures for the control plane: settings, an open platform, a served app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from signalling.app import build_app
from signalling.db.models import Facility, FacilityLevel, Role, Specialty, User
from signalling.network.facilities import add_facility
from signalling.network.staff import add_user
from signalling.platform import Platform, open_platform
from signalling.settings import Settings, load_settings

PASSWORD = "correct horse battery"


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return load_settings(None, data_dir=tmp_path / "data", **overrides)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture
async def platform(settings: Settings) -> AsyncIterator[Platform]:
    async with open_platform(settings, migrate=True) as opened:
        yield opened


async def seed_staff(platform: Platform) -> dict[str, User]:
    """A central hospital with a specialist, a district centre with a doctor."""
    async with platform.db() as db:
        central = await add_facility(
            db,
            code="BVBM",
            name="Bệnh viện Bạch Mai",
            level=FacilityLevel.CENTRAL,
            province="Hà Nội",
        )
        district = await add_facility(
            db,
            code="TTYT-MC",
            name="TTYT Mộc Châu",
            level=FacilityLevel.DISTRICT,
            province="Sơn La",
        )
        users = {
            "spec": await add_user(
                db,
                username="spec",
                full_name="Specialist",
                role=Role.SPECIALIST,
                password=PASSWORD,
                facility=central,
                specialties=[Specialty.CARDIOLOGY],
            ),
            "doc": await add_user(
                db,
                username="doc",
                full_name="Doctor",
                role=Role.DOCTOR,
                password=PASSWORD,
                facility=district,
            ),
        }
        await db.commit()
        return users


async def facilities(platform: Platform) -> list[Facility]:
    from sqlalchemy import select

    async with platform.db() as db:
        return list(await db.scalars(select(Facility)))


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[TestClient[Any, Any]]:
    """The real application served over TCP on a free port."""
    await seed_staff(platform)
    app = build_app(platform)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
