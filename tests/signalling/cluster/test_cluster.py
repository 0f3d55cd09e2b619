"""Three nodes on loopback with a real Redis and PostgreSQL: rooms live on one
node, sockets land on any, and a killed node's rooms come back on another."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
import socketio
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from media_server.tasks import TaskSet
from signalling.cluster.nodes import NodeRegistry
from signalling.platform import Platform, open_platform
from tests.conftest import RedisServer
from tests.media_server.sfu_clients import NumberedVideoTrack, read_number, requires_network
from tests.signalling.care_network import (
    ServerProcess,
    accepted_consultation,
    build_network,
    member,
)
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import REQUEST
from tests.signalling.training.test_whip import whep_play

pytestmark = requires_network
KEY = "cluster-signing-key-" + "k" * 24


class RoomClient:
    """A participant's browser, as the web client behaves: behind a load balancer
    (here: the next node of `urls` that answers), it connects again when its socket
    drops and joins its room again when it drops or is told the room moved, then
    publishes again. `frames` holds the numbers seen from each other participant."""

    def __init__(self, urls: list[str], api_token: str, room_token: str, base: int | None) -> None:
        self.urls = urls
        self.api_token = api_token
        self.room_token = room_token
        self.base = base
        self.frames: dict[str, list[int]] = {}
        self.joins: list[str] = []  # the URL each join went through
        self.errors: list[Any] = []  # refused subscribe answers
        self.participant_id = ""
        self.sio: socketio.AsyncClient | None = None
        self.pcs: list[RTCPeerConnection] = []
        self.subscribe_pc: RTCPeerConnection | None = None  # one per join
        self.tasks = TaskSet()
        self._rejoining = asyncio.Lock()
        self._closing = False

    async def start(self) -> None:
        await self._connect()

    async def _connect(self) -> None:
        for attempt in range(100):
            url = self.urls[attempt % len(self.urls)]
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("media.subscribe_offer", self._on_offer)
            sio.on("room.moved", lambda data=None: self.tasks.spawn(self._rejoin()))
            sio.on("disconnect", lambda *a: self.tasks.spawn(self._reconnect()))
            try:
                await sio.connect(
                    url, auth={"token": self.api_token}, transports=["websocket"], wait_timeout=3
                )
            except socketio.exceptions.ConnectionError:
                await asyncio.sleep(0.2)
                continue
            self.sio = sio
            await self._join(url)
            return
        raise AssertionError("no node answered")

    async def _join(self, url: str) -> None:
        assert self.sio is not None
        ack = await self.sio.call("room.join", {"token": self.room_token}, timeout=15)
        assert ack.get("state") == "joined", ack
        self.participant_id = ack["participant_id"]
        self.joins.append(url)
        await self._publish()

    async def _publish(self) -> None:
        assert self.sio is not None
        if self.base is None:
            return  # a watcher
        pc = RTCPeerConnection()
        self.pcs.append(pc)
        pc.addTransceiver(NumberedVideoTrack(base=self.base), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        ack = await self.sio.call("media.publish", {"sdp": pc.localDescription.sdp}, timeout=15)
        assert "sdp" in ack, ack
        await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))

    async def _on_offer(self, data: dict[str, Any]) -> None:
        pc = self.subscribe_pc
        if pc is None:
            pc = self.subscribe_pc = RTCPeerConnection()
            pc.on("track", lambda track: self.tasks.spawn(self._read(track)))
            self.pcs.append(pc)
        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        assert self.sio is not None
        ack = await self.sio.call("media.subscribe_answer", {"sdp": pc.localDescription.sdp})
        if ack != {"ok": True}:
            self.errors.append(ack)

    async def _read(self, track: MediaStreamTrack) -> None:
        publisher = track.id.split(":", 1)[0]
        seen = self.frames.setdefault(publisher, [])
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    seen.append(read_number(frame)[0])

    async def _close_media(self) -> None:
        for pc in self.pcs:
            await pc.close()
        self.pcs.clear()
        self.subscribe_pc = None

    async def _rejoin(self) -> None:
        async with self._rejoining:
            await self._close_media()
            assert self.sio is not None
            await self._join(self.joins[-1])

    async def _reconnect(self) -> None:
        if self._closing:
            return
        async with self._rejoining:
            await self._close_media()
            await self._connect()

    def seen_from(self, other: RoomClient) -> int:
        return len(self.frames.get(other.participant_id, []))

    async def close(self) -> None:
        self._closing = True
        await self.tasks.cancel_all()
        await self._close_media()
        if self.sio is not None:
            await self.sio.disconnect()


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, redis_url: str, postgres_url: str, names: str
) -> AsyncIterator[tuple[Platform, dict[str, ServerProcess], dict[str, str]]]:
    """Nodes by name, and their node ids."""
    settings = make_settings(
        tmp_path, redis_url=redis_url, database_url=postgres_url, signing_key=KEY
    )
    env = {
        "TELEHEALTH_DATABASE_URL": postgres_url,
        "TELEHEALTH_REDIS_URL": redis_url,
        "TELEHEALTH_SIGNING_KEY": KEY,
        "TELEHEALTH_AUTO_MIGRATE": "false",
        "TELEHEALTH_LOG_LEVEL": "WARNING",
        "TELEHEALTH_SHARED_DIR": str(tmp_path / "shared"),
    }
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        nodes = {name: ServerProcess(tmp_path / name, env) for name in names}
        try:
            await asyncio.gather(*(n.ready() for n in nodes.values()))
            registry = NodeRegistry(platform.shared, "observer", dict, "")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 10
            while True:
                live = await registry.live_nodes()
                ids = {
                    name: next((k for k, v in live.items() if v["address"] == n.url[:-1]), "")
                    for name, n in nodes.items()
                }
                if all(ids.values()):
                    break
                assert loop.time() < deadline, f"nodes never all showed up: {live}"
                await asyncio.sleep(0.2)
            yield platform, nodes, ids
        finally:
            for node in nodes.values():
                if node.process.poll() is None:
                    node.stop()


async def api_token(platform: Platform, url: str, username: str) -> tuple[str, Any]:
    m = await member(platform, url, username, online=False)
    return m.token, m


async def room_token(who: Any, cid: str) -> str:
    status, body = await who.call("POST", f"/api/consultations/{cid}/token")
    assert status == 200, body
    return str(body["token"])


async def wait_for(condition: Any, timeout: float, what: str) -> float:
    loop = asyncio.get_running_loop()
    start = loop.time()
    while not condition():
        assert loop.time() - start < timeout, what
        await asyncio.sleep(0.1)
    return loop.time() - start


@pytest.mark.timeout(180)
async def test_a_room_spans_nodes_and_survives_its_node(
    tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    async with cluster(tmp_path, redis_server.url, postgres_url, "abc") as (platform, nodes, ids):
        a, b, c = nodes["a"], nodes["b"], nodes["c"]
        cid = await accepted_consultation(platform, a.url, REQUEST, with_patient=True)
        doc_token, doc_api = await api_token(platform, a.url, "mc.doc")
        spec_token, spec_api = await api_token(platform, b.url, "bm.cardio")
        # The doctor's socket lands on A (A first in its balancer's list), the specialist's on B.
        doc = RoomClient([a.url, b.url, c.url], doc_token, await room_token(doc_api, cid), 20)
        spec = RoomClient([b.url, c.url], spec_token, await room_token(spec_api, cid), -20)
        status, body = await doc_api.call("GET", f"/api/consultations/{cid}")
        assert status == 200, body
        placement = f"room:{body['consultation']['room']}:node"
        # What one node keeps, another serves (the shared directory).
        _, case = await doc_api.call("GET", f"/api/consultations/{cid}/case-file")
        form = aiohttp.FormData()
        form.add_field("files", b"Troponin I: 2.3 ng/mL\n", filename="lab.txt")
        async with doc_api.http.post(
            f"{a.url}api/case-files/{case['id']}/attachments", data=form
        ) as response:
            assert response.status == 201, await response.text()
            attachment = (await response.json())["results"][0]["id"]
        async with doc_api.http.get(
            f"{c.url}api/case-files/{case['id']}/attachments/{attachment}"
        ) as response:
            assert response.status == 200 and await response.read() == b"Troponin I: 2.3 ng/mL\n"
        clients = [doc, spec]
        try:
            await doc.start()
            assert await platform.shared.get(placement) == ids["a"]
            await spec.start()
            # The specialist on B is in the room on A: they see each other.
            await wait_for(
                lambda: doc.seen_from(spec) >= 20 and spec.seen_from(doc) >= 20,
                30,
                f"no media across nodes: doc {doc.frames.keys()} {doc.errors}, "
                f"spec {spec.frames.keys()} {spec.errors}",
            )
            numbers = spec.frames[doc.participant_id]
            assert numbers == sorted(numbers)

            # A training: its trainee's socket lands on another node than the training's,
            # whose SFU serves the trainee from the origin's tracks (cascading).
            status, body = await spec_api.call("POST", "/api/trainings", {"title": "Đọc ECG"})
            assert status == 201, body
            tid = body["training"]["id"]
            _, body = await spec_api.call("POST", f"/api/trainings/{tid}/token")
            trainer = RoomClient([b.url], spec_token, body["token"], 30)
            await trainer.start()
            origin = await platform.shared.get(f"room:{body['room']}:node")
            assert origin in (ids["b"], ids["c"]), "the training went to the busy node"
            edge = "c" if origin == ids["b"] else "b"
            _, body = await doc_api.call("POST", f"/api/trainings/{tid}/token")
            trainee = RoomClient([nodes[edge].url], doc_token, body["token"], None)
            clients.append(trainee)
            await trainee.start()
            await wait_for(
                lambda: trainee.seen_from(trainer) >= 20, 30, f"trainee saw {trainee.frames}"
            )
            numbers = trainee.frames[trainer.participant_id]
            assert numbers == sorted(numbers)
            # served by the edge: its next heartbeat (every second) counts the watcher
            observer = NodeRegistry(platform.shared, "observer", dict, "")
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 5
            while (live := await observer.live_nodes())[ids[edge]]["edge_watchers"] != 1:
                assert loop.time() < deadline, f"not served by the edge: {live}"
                await asyncio.sleep(0.2)
            assert live[origin]["edge_watchers"] == 0, live
            # A WHEP player asking the other node is answered by the training's node.
            player, location, played = await whep_play(nodes[edge].url, body["token"], tid)
            try:
                await wait_for(lambda: len(played) >= 10, 20, f"WHEP played {played}")
                assert location.startswith(nodes[edge].url), location
                async with aiohttp.ClientSession() as http:
                    auth = {"Authorization": f"Bearer {body['token']}"}
                    async with http.delete(location, headers=auth) as response:
                        assert response.status == 200  # ended on the training's node
                    async with http.delete(location, headers=auth) as response:
                        assert response.status == 404
            finally:
                await player.close()
            await trainer.close()

            a.process.send_signal(signal.SIGKILL)
            a.process.wait(timeout=10)
            before = (
                {p: len(v) for p, v in doc.frames.items()},
                dict((p, len(v)) for p, v in spec.frames.items()),
            )
            took = await wait_for(
                lambda: (
                    len(doc.joins) == 2
                    and len(spec.joins) == 2
                    and doc.seen_from(spec) > before[0].get(spec.participant_id, 0) + 10
                    and spec.seen_from(doc) > before[1].get(doc.participant_id, 0) + 10
                ),
                15,
                f"not back within 15 s: joins {doc.joins} {spec.joins}",
            )
            # (the training goes on: its node is not the one killed)
            new_home = await platform.shared.get(placement)
            assert new_home in (ids["b"], ids["c"]), new_home
            print(f"back in a room on another node {took:.1f} s after SIGKILL")
        finally:
            for client in clients:
                await client.close()
            await doc_api.close()
            await spec_api.close()
