"""WHEP playback: audited with the player's address, and ended with the viewer's account."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import update

from signalling.db.models import User
from signalling.rooms.keys import ROOMS
from tests.signalling.care_network import served, served_app
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import audit_rows
from tests.signalling.training.test_whip import whep_play, whip_broadcast


async def test_whep_play_is_audited_with_the_players_address(tmp_path: Path) -> None:
    async with (
        served(make_settings(tmp_path)) as (platform, url),
        whip_broadcast(platform, url, "WHEP audit") as broadcast,
    ):
        token = await broadcast.viewer_token()
        broadcast.player, _, _ = await whep_play(url, token, broadcast.tid)
        rows = await audit_rows(platform, "whep.play")
        assert len(rows) == 1
        assert rows[0].ip == "127.0.0.1" and rows[0].actor.startswith("user:")


async def test_a_disabled_viewers_whep_player_is_dropped(tmp_path: Path) -> None:
    """What `telehealth user disable` does (a database write): the player leaves."""
    async with (
        served_app(make_settings(tmp_path)) as (platform, app, url),
        whip_broadcast(platform, url, "WHEP revoked") as broadcast,
    ):
        token = await broadcast.viewer_token()
        broadcast.player, _, _ = await whep_play(url, token, broadcast.tid)
        assert len(players(app)) == 1
        async with platform.db() as db:
            await db.execute(update(User).where(User.username == "mc.doc").values(is_active=False))
            await db.commit()
        deadline = asyncio.get_running_loop().time() + 5  # the sweep runs every 0.5 s
        while players(app):
            assert asyncio.get_running_loop().time() < deadline, players(app)
            await asyncio.sleep(0.05)
        assert any(m.id.startswith("u") for m in all_members(app))  # the trainer stays


def all_members(app: web.Application) -> list[Any]:
    return [m for room in app[ROOMS].rooms.values() for m in room.members.values()]


def players(app: web.Application) -> list[str]:
    return [m.id for m in all_members(app) if "-whep-" in m.id]
