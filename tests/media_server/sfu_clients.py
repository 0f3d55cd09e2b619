"""Real aiortc clients for the SFU tests (imported by the test modules as sfu_clients).

Clients are in-process aiortc peer connections talking to the server over
real UDP. aioice does not gather loopback candidates, so the machine needs
another IPv4 interface; without one the media tests are skipped.
"""

import asyncio
import fractions
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import av
import numpy as np
import pytest
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
    VideoStreamTrack,
)
from aiortc.mediastreams import AUDIO_PTIME, MediaStreamError
from aiortc.sdp import SessionDescription

from media_server.api import MediaConfig, MediaServer
from media_server.events import MediaEvent, ProducerAdded, SubscribeOffer
from media_server.permissions import Permissions, TrackSource

if TYPE_CHECKING:
    EncodedPacket = av.Packet[Any]  # generic in the stubs only
else:
    EncodedPacket = av.Packet

WIDTH, HEIGHT = 320, 240
BITS = 10
STRIPE = WIDTH // BITS


def _has_non_loopback_ipv4() -> bool:
    import ifaddr  # aioice's own dependency, used for gathering

    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            if isinstance(ip.ip, str) and not ip.ip.startswith("127."):
                return True
    return False


requires_network = pytest.mark.skipif(
    not _has_non_loopback_ipv4(),
    reason="aioice gathers no loopback candidates: needs a non-loopback IPv4 interface "
    "(add a dummy interface, see /work/shared/SFU-NOTES.md)",
)


def draw_number(number: int, base: int = 0) -> np.ndarray:
    """A yuv420p picture whose stripes spell `number` in binary (white = 1)."""
    luma = np.full((HEIGHT, WIDTH), 16, dtype=np.uint8)
    for bit in range(BITS):
        if (number >> bit) & 1:
            luma[:, bit * STRIPE : (bit + 1) * STRIPE] = 235
    # a second track can be told apart by its chroma
    chroma = np.full((HEIGHT // 2, WIDTH), 128 + base, dtype=np.uint8)
    return np.concatenate([luma, chroma])


def read_number(frame: av.VideoFrame) -> tuple[int, int]:
    """Read back (number, base) from a decoded picture."""
    picture = frame.to_ndarray(format="yuv420p")
    luma = picture[:HEIGHT]
    number = 0
    for bit in range(BITS):
        middle = luma[:, bit * STRIPE + 4 : (bit + 1) * STRIPE - 4]
        if middle.mean() > 128:
            number |= 1 << bit
    base = round(float(picture[HEIGHT + HEIGHT // 4 :, :].mean())) - 128
    return number, base


class NumberedVideoTrack(VideoStreamTrack):
    """Live video (encoded by aiortc) whose frames carry their own number."""

    def __init__(self, base: int = 0) -> None:
        super().__init__()
        self.base = base
        self.count = 0

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = av.VideoFrame.from_ndarray(
            draw_number(self.count % (1 << BITS), self.base), format="yuv420p"
        )
        frame.pts = pts
        frame.time_base = time_base
        self.count += 1
        return frame


class ToneTrack(MediaStreamTrack):
    """20 ms audio frames: a tone (440 Hz unless told), or silence."""

    kind = "audio"

    def __init__(self, loud: bool, frequency: float = 440.0) -> None:
        super().__init__()
        self.loud = loud
        self.frequency = frequency
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        samples = int(AUDIO_PTIME * 48000)
        if self._start is None:
            self._start = loop.time()
        else:
            wait = self._start + self._pts / 48000 - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(samples) + self._pts) / 48000
        amplitude = 8000 if self.loud else 0
        pcm = (amplitude * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        self._pts += samples
        return frame


def encode_numbered_clip(frames: int, bitrate: int = 2_000_000) -> list[EncodedPacket]:
    """Pre-encode numbered VP8 frames with PyAV's libvpx, keyframe every 2 s."""
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = WIDTH, HEIGHT, "yuv420p"
    codec.bit_rate = bitrate
    codec.time_base = fractions.Fraction(1, 30)
    codec.gop_size = 60
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[EncodedPacket] = []
    for i in range(frames):
        # noise makes frames big, as real video is, so the stream has many packets
        picture = draw_number(i % (1 << BITS))
        noise = np.random.default_rng(i).integers(0, 24, size=(HEIGHT // 2, WIDTH), dtype=np.uint8)
        picture[HEIGHT // 2 : HEIGHT] = np.clip(picture[HEIGHT // 2 : HEIGHT] + noise, 0, 255)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = i
        frame.time_base = codec.time_base
        packets.extend(codec.encode(frame))
    packets.extend(codec.encode(None))
    return packets


class EncodedVideoTrack(MediaStreamTrack):
    """Plays pre-encoded VP8 packets at 30 fps; aiortc sends them without encoding."""

    kind = "video"

    def __init__(self, packets: list[EncodedPacket]) -> None:
        super().__init__()
        self._packets = packets
        self.index = 0
        self._start: float | None = None

    async def recv(self) -> EncodedPacket:
        if self.index >= len(self._packets):
            await asyncio.sleep(3600)
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self.index / 30 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = self._packets[self.index]
        packet.pts = self.index * 3000
        packet.time_base = fractions.Fraction(1, 90000)
        self.index += 1
        return packet


@dataclass
class ReceivedTrack:
    track: MediaStreamTrack
    stream_id: str
    numbers: list[tuple[int, int]] = field(default_factory=list)
    frames: int = 0
    first_frame_time: float | None = None
    ended: bool = False


def msids(sdp: str) -> dict[str, tuple[str, str]]:
    """mid -> (stream id, track id) of each section with an a=msid."""
    result: dict[str, tuple[str, str]] = {}
    for media in SessionDescription.parse(sdp).media:
        if media.msid and " " in media.msid:
            stream_id, track_id = media.msid.split()
            result[str(media.rtp.muxId)] = (stream_id, track_id)
    return result


class TrackReader:
    """Reads and decodes every track a connection receives, reading frame numbers."""

    def __init__(self) -> None:
        self.received: dict[str, ReceivedTrack] = {}  # by track id (= producer id)
        self._readers: set[asyncio.Task[None]] = set()
        # learnt from each remote description before it is applied: aiortc
        # emits "track" before the description is current
        self._stream_ids: dict[str, str] = {}

    def note_remote_description(self, sdp: str) -> None:
        for mid, (stream_id, _) in msids(sdp).items():
            self._stream_ids[mid] = stream_id

    def watch(self, pc: RTCPeerConnection) -> None:
        def on_track(track: MediaStreamTrack) -> None:
            mid = next((str(t.mid) for t in pc.getTransceivers() if t.receiver.track is track), "")
            received = ReceivedTrack(track, self._stream_ids.get(mid, ""))
            self.received[track.id] = received
            task = asyncio.ensure_future(self._read(received))
            self._readers.add(task)
            task.add_done_callback(self._readers.discard)

        pc.on("track", on_track)

    async def _read(self, received: ReceivedTrack) -> None:
        try:
            while True:
                frame = await received.track.recv()
                received.frames += 1
                if isinstance(frame, av.VideoFrame):
                    received.numbers.append(read_number(frame))
                if received.first_frame_time is None:
                    received.first_frame_time = asyncio.get_running_loop().time()
        except MediaStreamError:
            received.ended = True

    async def stop_reading(self) -> None:
        for task in list(self._readers):
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)


class Client(TrackReader):
    """One participant: a publish and a subscribe aiortc connection."""

    def __init__(self, server: MediaServer, room_id: str, peer_id: str) -> None:
        super().__init__()
        self.server = server
        self.room_id = room_id
        self.peer_id = peer_id
        self.publish_pc = RTCPeerConnection()
        self.subscribe_pc: RTCPeerConnection | None = None
        self.answers = 0
        self.answer_times: list[float] = []
        self.offers: list[str] = []
        self.answer_subscribe_offers = True

    async def publish(
        self,
        *tracks: MediaStreamTrack,
        sources: dict[int, TrackSource] | None = None,
        video_codec: str | None = None,
    ) -> list[RTCRtpTransceiver]:
        transceivers = [self.publish_pc.addTransceiver(t, direction="sendonly") for t in tracks]
        if video_codec is not None:
            codecs = RTCRtpSender.getCapabilities("video").codecs
            for transceiver in transceivers:
                if transceiver.kind == "video":
                    transceiver.setCodecPreferences(
                        [c for c in codecs if c.mimeType in (video_codec, "video/rtx")]
                    )
        offer = await self.publish_pc.createOffer()
        await self.publish_pc.setLocalDescription(offer)
        mids = None
        if sources is not None:
            mids = {str(transceivers[i].mid): source for i, source in sources.items()}
        answer = await self.server.publish_offer(
            self.room_id, self.peer_id, self.publish_pc.localDescription.sdp, mids
        )
        await self.publish_pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
        return transceivers

    async def on_subscribe_offer(self, event: SubscribeOffer) -> None:
        self.offers.append(event.sdp)
        if not self.answer_subscribe_offers:
            return
        if self.subscribe_pc is None:
            # as the web client's: every section on one transport
            self.subscribe_pc = RTCPeerConnection(
                RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)
            )
            self.watch(self.subscribe_pc)
        pc = self.subscribe_pc
        self.note_remote_description(event.sdp)
        await pc.setRemoteDescription(RTCSessionDescription(event.sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        await self.server.subscribe_answer(self.room_id, self.peer_id, pc.localDescription.sdp)
        # as a browser does, release what the server stopped sending
        for transceiver in pc.getTransceivers():
            if transceiver.currentDirection == "inactive" and not transceiver.stopped:
                await transceiver.stop()
        self.answers += 1
        self.answer_times.append(asyncio.get_running_loop().time())

    async def close(self) -> None:
        await self.stop_reading()
        await self.publish_pc.close()
        if self.subscribe_pc is not None:
            await self.subscribe_pc.close()


class WhepPlayer(TrackReader):
    """A WHEP player: offers receive-only sections once, applies the answer, decodes."""

    def __init__(self) -> None:
        super().__init__()
        self.pc = RTCPeerConnection()
        self.watch(self.pc)

    async def offer(self, *kinds: str, video_codec: str | None = None) -> str:
        for kind in kinds or ("audio", "video"):
            transceiver = self.pc.addTransceiver(kind, direction="recvonly")
            if kind == "video" and video_codec is not None:
                codecs = RTCRtpSender.getCapabilities("video").codecs
                transceiver.setCodecPreferences(
                    [c for c in codecs if c.mimeType in (video_codec, "video/rtx")]
                )
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, answer: str) -> None:
        self.note_remote_description(answer)
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def close(self) -> None:
        await self.stop_reading()
        await self.pc.close()


class Harness:
    """A MediaServer, its recorded events and the clients of its rooms."""

    def __init__(self, config: MediaConfig) -> None:
        self.events: list[MediaEvent] = []
        self.clients: dict[tuple[str, str], Client] = {}
        self.pipes: dict[tuple[str, str], Pipe] = {}  # subscribe offers that go to an edge
        self.server = MediaServer(self._on_event, config)
        self.event = asyncio.Event()

    async def _on_event(self, event: MediaEvent) -> None:
        self.events.append(event)
        self.event.set()
        if isinstance(event, SubscribeOffer):
            key = (event.room_id, event.peer_id)
            client = self.clients.get(key)
            if client is not None:
                await client.on_subscribe_offer(event)
            pipe = self.pipes.get(key)
            if pipe is not None:
                await pipe.on_subscribe_offer(event)

    async def join(
        self,
        room_id: str,
        peer_id: str,
        permissions: Permissions | None = None,
        auto_subscribe: bool = True,
    ) -> Client:
        if permissions is None:
            permissions = Permissions(
                may_publish_audio=True, may_publish_video=True, may_publish_screen=True
            )
        client = Client(self.server, room_id, peer_id)
        self.clients[(room_id, peer_id)] = client
        await self.server.join(room_id, peer_id, permissions, auto_subscribe)
        return client

    async def close(self) -> None:
        for client in self.clients.values():
            client.answer_subscribe_offers = False
        for pipe in self.pipes.values():
            pipe.active = False
        await self.server.close()
        for client in self.clients.values():
            await client.close()


class Pipe:
    """Cascades a room from an origin MediaServer to an edge, as two nodes would.

    On the origin the pipe is a subscribe-only peer that consumes every
    producer; its subscribe offers go to the edge's pipe_offer, the
    answers back to the origin. Sources follow the origin's ProducerAdded.
    """

    def __init__(self, origin: Harness, edge: Harness, room_id: str, peer_id: str = "pipe") -> None:
        self.origin = origin
        self.edge = edge
        self.room_id = room_id
        self.peer_id = peer_id
        self.offers: list[str] = []
        self.answers = 0
        self.active = True

    async def start(self) -> None:
        await self.edge.server.join(
            self.room_id,
            self.peer_id,
            Permissions(
                may_publish_audio=True,
                may_publish_video=True,
                may_publish_screen=True,
                may_subscribe=False,
            ),
            auto_subscribe=False,
        )
        self.origin.pipes[(self.room_id, self.peer_id)] = self
        await self.origin.server.join(self.room_id, self.peer_id, Permissions(), True)

    async def on_subscribe_offer(self, event: SubscribeOffer) -> None:
        self.offers.append(event.sdp)
        if not self.active:
            return
        sources = {
            e.producer_id: e.source for e in self.origin.events if isinstance(e, ProducerAdded)
        }
        answer = await self.edge.server.pipe_offer(self.room_id, self.peer_id, event.sdp, sources)
        await self.origin.server.subscribe_answer(self.room_id, self.peer_id, answer)
        self.answers += 1


async def wait_for(
    condition: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
) -> None:
    """Poll `condition` until true; fail with `what` after `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


class LossyTransport:
    """Drops a fraction of a client's outgoing RTP of one payload type.

    Test-only: wraps the client's DTLS transport `_send_rtp`, the private
    method media_server.aiortc_internals also relies on (and checks).
    """

    def __init__(
        self, pc: RTCPeerConnection, payload_type: int, loss: float, seed: int = 1
    ) -> None:
        self.sent = 0
        self.dropped = 0
        transport = pc.getTransceivers()[0].sender.transport
        original = transport._send_rtp
        rng = random.Random(seed)  # noqa: S311 - reproducible loss, not a secret

        async def send_rtp(data: bytes) -> None:
            if len(data) > 12 and data[1] & 0x7F == payload_type:
                self.sent += 1
                if rng.random() < loss:
                    self.dropped += 1
                    return
            await original(data)

        transport._send_rtp = send_rtp  # type: ignore[method-assign]


class LossyReceiver:
    """Drops a fraction of the SRTP (not SRTCP) datagrams a client connection receives.

    Test-only: wraps the ICE transport's `_recv`, below SRTP, as a network
    loss would be; dropping after decryption would make libsrtp reject the
    retransmission as a replay.
    """

    def __init__(
        self,
        pc: RTCPeerConnection,
        loss: float,
        seed: int = 2,
        spare_retransmissions: bool = False,
    ) -> None:
        """`spare_retransmissions`: never drop a packet again once it was dropped
        (the SRTP header is clear: SSRC and sequence number). aiortc's client
        NACKs a packet again only when another one goes missing, which on a
        loaded machine may come after its jitter buffer gave the frame up; a
        test of what the SFU answers from its history needs one answer to do."""
        self.received = 0
        self.dropped = 0
        self.spared = 0
        ice_transport = pc.getTransceivers()[0].receiver.transport.transport
        original = ice_transport._recv
        rng = random.Random(seed)  # noqa: S311 - reproducible loss, not a secret
        lost: set[bytes] = set()  # SSRC and sequence number of what was dropped

        async def recv() -> bytes:
            while True:
                data: bytes = await original()
                is_srtp = len(data) > 12 and 127 < data[0] < 192 and not 191 < data[1] < 224
                if is_srtp:
                    self.received += 1
                    key = data[8:12] + data[2:4]
                    if spare_retransmissions and key in lost:
                        self.spared += 1
                    elif rng.random() < loss:
                        self.dropped += 1
                        lost.add(key)
                        continue
                return data

        ice_transport._recv = recv


def cut_network(*pcs: RTCPeerConnection) -> None:
    """Make a client vanish without goodbye: close its UDP sockets under it.

    Test-only private access to aioice; whatever the client still sends
    (RTCP, STUN consent, DTLS close) goes nowhere, as after a crash.
    """
    for pc in pcs:
        for transceiver in pc.getTransceivers():
            connection = transceiver.sender.transport.transport._connection
            for protocol in connection._protocols:
                if protocol.transport is not None:
                    protocol.transport.close()


__all__ = [
    "Client",
    "EncodedVideoTrack",
    "Harness",
    "LossyTransport",
    "NumberedVideoTrack",
    "Pipe",
    "ToneTrack",
    "WhepPlayer",
    "cut_network",
    "encode_numbered_clip",
    "msids",
    "requires_network",
    "wait_for",
]
