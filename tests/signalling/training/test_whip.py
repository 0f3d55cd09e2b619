"""WHIP ingest and WHEP playback: aiortc clients publish the way OBS does and play the
way a WHEP player does."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import av
import yarl
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError
from sqlalchemy import select

from signalling.db.models import User
from signalling.platform import Platform
from tests.media_server.sfu_clients import NumberedVideoTrack, read_number, requires_network
from tests.signalling.care_network import Member, member, served
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_room_media import SocketMediaClient

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


async def whep_play(url: str, token: str, tid: str) -> tuple[RTCPeerConnection, str, list[int]]:
    """A plain WHEP player: offers to receive audio and video, reads the video's numbers."""
    pc = RTCPeerConnection()
    numbers: list[int] = []

    async def read(track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    numbers.append(read_number(frame)[0])

    tasks: set[asyncio.Task[None]] = set()
    pc.on("track", lambda track: tasks.add(asyncio.ensure_future(read(track))))
    pc.addTransceiver("audio", direction="recvonly")
    pc.addTransceiver("video", direction="recvonly")
    await pc.setLocalDescription(await pc.createOffer())
    headers = {"Content-Type": "application/sdp", "Authorization": f"Bearer {token}"}
    endpoint = yarl.URL(f"{url.rstrip('/')}/whep/trainings/{tid}")
    async with aiohttp.ClientSession() as http:
        # a plain player: no redirect to follow, whichever node it asks
        async with http.post(
            endpoint, data=pc.localDescription.sdp, headers=headers, allow_redirects=False
        ) as response:
            assert response.status == 201, await response.text()
            assert response.content_type == "application/sdp"
            location = str(response.url.join(yarl.URL(response.headers["Location"])))
            answer = await response.text()
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc, location, numbers


@dataclass
class Broadcast:
    """A training bm.cardio broadcasts over WHIP the way OBS does; mc.doc may watch it
    (through the API, no socket) with the WHEP player the test starts, if any."""

    trainer: Member
    viewer: Member
    tid: str
    publisher: RTCPeerConnection
    player: RTCPeerConnection | None = None

    async def viewer_token(self) -> str:
        _, body = await self.viewer.call("POST", f"/api/trainings/{self.tid}/token")
        return str(body["token"])


@contextlib.asynccontextmanager
async def whip_broadcast(platform: Platform, url: str, title: str) -> AsyncIterator[Broadcast]:
    """A new training ``title``, its trainer publishing numbered video over WHIP."""
    trainer = await member(platform, url, "bm.cardio", online=False)
    viewer = await member(platform, url, "mc.doc", online=False)
    publisher = RTCPeerConnection()
    broadcast: Broadcast | None = None
    try:
        _, body = await trainer.call("POST", "/api/trainings", {"title": title})
        tid = body["training"]["id"]
        publisher.addTransceiver(NumberedVideoTrack(base=40), direction="sendonly")
        await publisher.setLocalDescription(await publisher.createOffer())
        async with trainer.http.post(
            f"{url.rstrip('/')}/whip/trainings/{tid}",
            data=publisher.localDescription.sdp,
            headers={"Content-Type": "application/sdp"},
        ) as response:
            assert response.status == 201
            answer = await response.text()
        await publisher.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        broadcast = Broadcast(trainer, viewer, tid, publisher)
        yield broadcast
    finally:
        await publisher.close()
        if broadcast is not None and broadcast.player is not None:
            await broadcast.player.close()
        await trainer.close()
        await viewer.close()


async def test_whip_in_whep_out(tmp_path: Path) -> None:
    """OBS publishes over WHIP; a WHEP player with a viewer token watches the same training."""
    async with (
        served(make_settings(tmp_path)) as (platform, url),
        whip_broadcast(platform, url, "WHEP") as broadcast,
    ):
        tid, viewer = broadcast.tid, broadcast.viewer
        token = await broadcast.viewer_token()
        # no token, a token of another room's kind: refused before anything is made
        async with aiohttp.ClientSession() as http:
            plain = f"{url.rstrip('/')}/whep/trainings/{tid}"
            sdp = {"Content-Type": "application/sdp"}
            async with http.post(plain, data="v=0", headers=sdp) as response:
                assert response.status == 401
            async with http.post(
                plain, data="v=0", headers={**sdp, "Authorization": f"Bearer {viewer.token}"}
            ) as response:
                assert response.status == 401  # an API token is not a viewer token
            async with http.post(
                plain, data="garbage", headers={**sdp, "Authorization": f"Bearer {token}"}
            ) as response:
                assert response.status == 400

        broadcast.player, location, numbers = await whep_play(url, token, tid)
        deadline = asyncio.get_running_loop().time() + 20
        while len(numbers) < 20:
            assert asyncio.get_running_loop().time() < deadline, numbers
            await asyncio.sleep(0.2)
        assert numbers == sorted(numbers)
        async with aiohttp.ClientSession() as http:
            auth = {"Authorization": f"Bearer {token}"}
            async with http.delete(location, headers=auth) as response:
                assert response.status == 200
            async with http.delete(location, headers=auth) as response:
                assert response.status == 404
            # a disabled account's viewer token no longer plays
            async with platform.db() as db:
                user = await db.scalar(select(User).where(User.username == "mc.doc"))
                assert user is not None
                user.is_active = False
                await db.commit()
            async with http.post(
                f"{url.rstrip('/')}/whep/trainings/{tid}",
                data="v=0",
                headers={"Content-Type": "application/sdp", **auth},
            ) as response:
                assert response.status == 403
