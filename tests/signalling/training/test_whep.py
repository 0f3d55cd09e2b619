"""WHEP playback: audited with the player's address, and ended with the viewer's account."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from aiortc import RTCPeerConnection, RTCSessionDescription
from sqlalchemy import update

from signalling.app import build_app
from signalling.db.models import User
from signalling.platform import open_platform
from signalling.rooms.keys import ROOMS
from tests.media_server.sfu_clients import NumberedVideoTrack
from tests.signalling.care_network import build_network, member, served
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import audit_rows
from tests.signalling.training.test_whip import whep_play


async def test_whep_play_is_audited_with_the_players_address(tmp_path: Path) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        trainer = await member(platform, url, "bm.cardio", online=False)
        viewer = await member(platform, url, "mc.doc", online=False)
        publisher = RTCPeerConnection()
        player: RTCPeerConnection | None = None
        try:
            _, body = await trainer.call("POST", "/api/trainings", {"title": "WHEP audit"})
            tid = body["training"]["id"]
            publisher.addTransceiver(NumberedVideoTrack(base=40), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            async with trainer.http.post(
                f"{url.rstrip('/')}/whip/trainings/{tid}",
                data=publisher.localDescription.sdp,
                headers={"Content-Type": "application/sdp"},
            ) as response:
                assert response.status == 201
                await publisher.setRemoteDescription(
                    RTCSessionDescription(await response.text(), "answer")
                )
            _, body = await viewer.call("POST", f"/api/trainings/{tid}/token")
            player, _, _ = await whep_play(url, body["token"], tid)
            rows = await audit_rows(platform, "whep.play")
            assert len(rows) == 1
            assert rows[0].ip == "127.0.0.1" and rows[0].actor.startswith("user:")
        finally:
            await publisher.close()
            if player is not None:
                await player.close()
            await trainer.close()
            await viewer.close()


async def test_a_disabled_viewers_whep_player_is_dropped(tmp_path: Path) -> None:
    """What `telehealth user disable` does (a database write): the player leaves."""
    async with open_platform(make_settings(tmp_path), migrate=True) as platform:
        await build_network(platform)
        app = build_app(platform)
        server = TestServer(app)
        await server.start_server()
        url = str(server.make_url("/"))
        trainer = await member(platform, url, "bm.cardio", online=False)
        viewer = await member(platform, url, "mc.doc", online=False)
        publisher = RTCPeerConnection()
        player: RTCPeerConnection | None = None
        try:
            _, body = await trainer.call("POST", "/api/trainings", {"title": "WHEP revoked"})
            tid = body["training"]["id"]
            publisher.addTransceiver(NumberedVideoTrack(base=40), direction="sendonly")
            await publisher.setLocalDescription(await publisher.createOffer())
            async with trainer.http.post(
                f"{url.rstrip('/')}/whip/trainings/{tid}",
                data=publisher.localDescription.sdp,
                headers={"Content-Type": "application/sdp"},
            ) as response:
                assert response.status == 201
                await publisher.setRemoteDescription(
                    RTCSessionDescription(await response.text(), "answer")
                )
            _, body = await viewer.call("POST", f"/api/trainings/{tid}/token")
            player, _, _ = await whep_play(url, body["token"], tid)
            assert len(players(app)) == 1
            async with platform.db() as db:
                await db.execute(
                    update(User).where(User.username == "mc.doc").values(is_active=False)
                )
                await db.commit()
            deadline = asyncio.get_running_loop().time() + 5  # the sweep runs every 0.5 s
            while players(app):
                assert asyncio.get_running_loop().time() < deadline, players(app)
                await asyncio.sleep(0.05)
            assert any(m.id.startswith("u") for m in all_members(app))  # the trainer stays
        finally:
            await publisher.close()
            if player is not None:
                await player.close()
            await trainer.close()
            await viewer.close()
            await server.close()


def all_members(app: web.Application) -> list[Any]:
    return [m for room in app[ROOMS].rooms.values() for m in room.members.values()]


def players(app: web.Application) -> list[str]:
    return [m.id for m in all_members(app) if "-whep-" in m.id]
