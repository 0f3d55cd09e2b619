"""WHEP playback's audit: the player's address is on its row."""

from __future__ import annotations

from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.media_server.sfu_clients import NumberedVideoTrack
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import audit_rows
from tests.signalling.network import member, served
from tests.signalling.test_whip import whep_play


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
