"""The whole story: request, accept, both clinicians join the room, media flows through the SFU.

The clients are real aiortc peer connections signalled over socket.io, the
way the browser does it: one publish connection (the client offers) and
one subscribe connection (the server offers).
"""

from __future__ import annotations

import asyncio
from typing import Any

import av
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from tests.media_server.sfu_clients import NumberedVideoTrack, read_number, requires_network
from tests.signalling.care_network import Member
from tests.signalling.rooms.test_manager import Consult, consult, emit

__all__ = ["consult"]

pytestmark = requires_network


class SocketMediaClient:
    def __init__(self, who: Member) -> None:
        self.who = who
        self.publish_pc = RTCPeerConnection()
        self.subscribe_pc: RTCPeerConnection | None = None
        self.numbers: dict[str, list[tuple[int, int]]] = {}  # by publishing participant
        self._tasks: set[asyncio.Task[None]] = set()
        self.errors: list[Any] = []
        who.sio.on("media.subscribe_offer", self._on_offer)

    async def publish(self, track: MediaStreamTrack) -> None:
        self.publish_pc.addTransceiver(track, direction="sendonly")
        await self.publish_pc.setLocalDescription(await self.publish_pc.createOffer())
        ack = await emit(self.who, "media.publish", {"sdp": self.publish_pc.localDescription.sdp})
        assert "sdp" in ack, ack
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))

    async def _on_offer(self, data: dict[str, Any]) -> None:
        if self.subscribe_pc is None:
            self.subscribe_pc = RTCPeerConnection()
            self.subscribe_pc.on("track", self._on_track)
        pc = self.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(data["sdp"], "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        ack = await emit(self.who, "media.subscribe_answer", {"sdp": pc.localDescription.sdp})
        if ack != {"ok": True}:
            self.errors.append(ack)

    def _on_track(self, track: MediaStreamTrack) -> None:
        task = asyncio.ensure_future(self._read(track))
        self._tasks.add(task)

    async def _read(self, track: MediaStreamTrack) -> None:
        # The consumer's track id is the producer id, "<participant id>:<mid>".
        publisher = track.id.split(":", 1)[0]
        seen = self.numbers.setdefault(publisher, [])
        try:
            while True:
                frame = await track.recv()
                if isinstance(frame, av.VideoFrame):
                    seen.append(read_number(frame))
        except MediaStreamError:
            pass

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.publish_pc.close()
        if self.subscribe_pc is not None:
            await self.subscribe_pc.close()


async def test_both_clinicians_see_each_other(consult: Consult) -> None:
    doc_ack = await consult.enter(consult.doc)
    spec_ack = await consult.enter(consult.spec)
    doc, spec = SocketMediaClient(consult.doc), SocketMediaClient(consult.spec)
    try:
        await doc.publish(NumberedVideoTrack(base=20))
        await spec.publish(NumberedVideoTrack(base=-20))
        deadline = asyncio.get_running_loop().time() + 20
        while asyncio.get_running_loop().time() < deadline:
            got_spec = spec.numbers.get(doc_ack["participant_id"], [])
            got_doc = doc.numbers.get(spec_ack["participant_id"], [])
            if len(got_spec) >= 20 and len(got_doc) >= 20:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"frames: doc got {doc.numbers}, specialist got {spec.numbers}")
        # Each sees the other's own picture (told apart by chroma, which the lossy
        # codec moves by a few levels), frames counting up.
        assert all(10 < base < 30 for _, base in got_spec), got_spec
        assert all(-30 < base < -10 for _, base in got_doc), got_doc
        assert doc.errors == [] and spec.errors == []
        numbers = [n for n, _ in got_spec]
        assert numbers == sorted(numbers) and numbers[-1] > numbers[0]
        added = await consult.spec.next("media.producer_added")
        assert added["participant_id"] in (doc_ack["participant_id"], spec_ack["participant_id"])
    finally:
        await doc.close()
        await spec.close()
