"""WHIP ingest: an aiortc client publishes the way OBS does; a trainee in the room sees it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiortc import RTCPeerConnection, RTCSessionDescription

from tests.media_server.sfu_clients import NumberedVideoTrack, requires_network
from tests.signalling.conftest import make_settings
from tests.signalling.network import member, served
from tests.signalling.test_room_media import SocketMediaClient

pytestmark = requires_network


async def test_whip_broadcast_reaches_a_trainee(tmp_path: Path) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        trainer = await member(platform, url, "bm.cardio", online=False)
        trainee = await member(platform, url, "mc.doc")
        pc = RTCPeerConnection()
        try:
            _, body = await trainer.call("POST", "/api/trainings", {"title": "OBS"})
            tid = body["training"]["id"]
            _, body = await trainee.call("POST", f"/api/trainings/{tid}/token")
            watcher = SocketMediaClient(trainee)
            ack = await trainee.sio.call("room.join", {"token": body["token"]}, timeout=10)
            assert ack["state"] == "joined"

            pc.addTransceiver(NumberedVideoTrack(base=40), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            whip = f"{url.rstrip('/')}/whip/trainings/{tid}"
            headers = {"Content-Type": "application/sdp"}
            async with trainee.http.post(
                whip, data=pc.localDescription.sdp, headers=headers
            ) as response:
                assert response.status == 403  # only the trainer broadcasts
            async with trainer.http.post(whip, data="garbage", headers=headers) as response:
                assert response.status == 400
            async with trainer.http.post(
                whip, data=pc.localDescription.sdp, headers=headers
            ) as response:
                assert response.status == 201
                assert response.content_type == "application/sdp"
                location = response.headers["Location"]
                answer = await response.text()
            await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
            joined = await trainee.next("participant.joined")
            assert joined["name"].endswith("(WHIP)")

            deadline = asyncio.get_running_loop().time() + 20
            while len(watcher.numbers.get(joined["id"], [])) < 10:
                assert asyncio.get_running_loop().time() < deadline, watcher.numbers.keys()
                await asyncio.sleep(0.2)
            assert all(30 < base < 50 for _, base in watcher.numbers[joined["id"]])

            resource = f"{url.rstrip('/')}{location}"
            fragment = "a=mid:0\r\na=end-of-candidates\r\n"
            async with trainer.http.patch(
                resource, data=fragment, headers={"Content-Type": "application/trickle-ice-sdpfrag"}
            ) as response:
                assert response.status == 204
            async with trainer.http.patch(resource, data=fragment) as response:
                assert response.status == 415
            async with trainer.http.delete(resource) as response:
                assert response.status == 200
            left = await trainee.next("participant.left")
            assert left["id"] == joined["id"]
            async with trainer.http.delete(f"{url.rstrip('/')}{location}") as response:
                assert response.status == 404
            await watcher.close()
        finally:
            await pc.close()
            await trainer.close()
            await trainee.close()
