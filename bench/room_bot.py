"""A participant of a consultation call without a browser: aiortc over the room protocol.

One :class:`RoomBot` is one person (a staff account with a bearer token) in
one consultation. It does what the web client does (web_client/src/app.js,
room.js, media.js), so that a soak or a browser test can put bots in a room:

- a *page* is one load of the room page: a REST room token, a new
  socket.io connection, ``room.join`` with a new random ``media_session``,
  a publish connection (Opus + VP8, the client offers) and a subscribe
  connection (the server offers). :meth:`RoomBot.reload` closes the page
  and opens another; :meth:`RoomBot.leave` sends ``room.leave``.
- a *socket reconnect* (:meth:`RoomBot.reconnect`) replaces the socket
  only and joins again with the same token and ``media_session``; the
  connections go on when the server answers ``media_resumed``, else the
  page publishes afresh, as room.js does.
- a subscribe offer with a new ICE ufrag belongs to a new server session:
  it is taken on a new RTCPeerConnection (media.js ``answer``). Offers are
  answered one at a time, in order, once the page's socket is in the room
  (as media.js waits for the join's answer). ``media.closed`` starts the
  page's media over (``media.restart``, then publish), once per event.
  Unlike media.js, a refused or unanswered subscribe answer is not followed
  by a restart with backoff: the bot reports it and goes on, so that a
  soak sees what the server left behind.

The video is generated: every frame carries its own number and the bot's
``ident`` as stripes, so a receiver tells that frames advance and whose
they are (:func:`draw_frame`, :func:`read_frame`). The bot decodes what it
receives and keeps, per remote participant, when a new frame and audio last
arrived (:meth:`RoomBot.remote`). What went wrong is kept in
:attr:`RoomBot.errors`, never raised past the caller's action.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import math
import re
import secrets
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import av
import numpy as np
import socketio
from aiortc import (
    MediaStreamTrack,
    RTCBundlePolicy,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)
from aiortc.codecs.opus import OpusEncoder
from aiortc.mediastreams import MediaStreamError

COUNTER_BITS = 12  # frame number, top half of the picture
IDENT_BITS = 8  # the bot's ident, bottom half
VIDEO_CLOCK = 90_000
AUDIO_RATE = 48_000
AUDIO_PTIME = 0.02
EMIT_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class VideoSpec:
    width: int = 320
    height: int = 180
    fps: int = 15

    def describe(self) -> str:
        return f"{self.width}x{self.height}@{self.fps} VP8"


def draw_frame(spec: VideoSpec, number: int, ident: int) -> np.ndarray[Any, Any]:
    """A yuv420p picture: the top half spells `number`, the bottom half `ident`
    (white stripe = 1, least significant bit on the left)."""
    w, h = spec.width, spec.height
    # dark grey, not black: a page checking "not a black picture" sees it too
    luma = np.full((h, w), 64, dtype=np.uint8)
    for bits, value, rows in (
        (COUNTER_BITS, number, slice(0, h // 2)),
        (IDENT_BITS, ident, slice(h // 2, h)),
    ):
        stripe = w // bits
        for bit in range(bits):
            if (value >> bit) & 1:
                luma[rows, bit * stripe : (bit + 1) * stripe] = 235
    chroma = np.full((h // 2, w), 128, dtype=np.uint8)
    return np.concatenate([luma, chroma])


def read_frame(frame: av.VideoFrame) -> tuple[int, int]:
    """(number, ident) back from a decoded picture of :func:`draw_frame`."""
    plane = frame.planes[0]
    w, h = frame.width, frame.height
    luma = np.frombuffer(memoryview(plane), dtype=np.uint8).reshape(-1, plane.line_size)[:h, :w]
    values = []
    for bits, top, bottom in ((COUNTER_BITS, 0, h // 2), (IDENT_BITS, h // 2, h)):
        stripe = w // bits
        margin_x, margin_y = max(stripe // 5, 1), max((bottom - top) // 6, 1)
        value = 0
        for bit in range(bits):
            middle = luma[
                top + margin_y : bottom - margin_y,
                bit * stripe + margin_x : (bit + 1) * stripe - margin_x,
            ]
            if middle.mean() > 128:
                value |= 1 << bit
        values.append(value)
    return values[0], values[1]


class NumberedVideo(MediaStreamTrack):
    """A camera that shows its frame number and its owner's ident (encoded by aiortc)."""

    kind = "video"

    def __init__(self, spec: VideoSpec, ident: int) -> None:
        super().__init__()
        self.spec = spec
        self.ident = ident
        self.count = 0
        self._start: float | None = None

    async def recv(self) -> av.VideoFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        else:
            wait = self._start + self.count / self.spec.fps - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        picture = draw_frame(self.spec, self.count % (1 << COUNTER_BITS), self.ident)
        frame = av.VideoFrame.from_ndarray(picture, format="yuv420p")
        frame.pts = self.count * (VIDEO_CLOCK // self.spec.fps)
        frame.time_base = fractions.Fraction(1, VIDEO_CLOCK)
        self.count += 1
        return frame


# What a browser's Opus sends for speech (libwebrtc's default for mono), where
# aiortc's encoder sends 96 kbit/s: three bots at that filled a 300 kbit/s link
# with audio alone in bench/field.py's scenario 5.
BROWSER_OPUS_BPS = 32_000


def speak_at_a_browsers_rate() -> None:
    """Every Opus encoder aiortc makes in this process from now on sends BROWSER_OPUS_BPS."""
    if getattr(OpusEncoder, "_bench_rate", None) == BROWSER_OPUS_BPS:
        return
    original = OpusEncoder.__init__

    def init(self: OpusEncoder) -> None:
        original(self)
        self.codec.bit_rate = BROWSER_OPUS_BPS

    OpusEncoder.__init__ = init  # type: ignore[method-assign]
    OpusEncoder._bench_rate = BROWSER_OPUS_BPS  # type: ignore[attr-defined]


class Tone(MediaStreamTrack):
    """A microphone that plays a steady tone in 20 ms frames (encoded to Opus by aiortc)."""

    kind = "audio"

    def __init__(self, frequency: float) -> None:
        super().__init__()
        self.frequency = frequency
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        samples = int(AUDIO_PTIME * AUDIO_RATE)
        if self._start is None:
            self._start = loop.time()
        else:
            wait = self._start + self._pts / AUDIO_RATE - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
        t = (np.arange(samples) + self._pts) / AUDIO_RATE
        pcm = (6000 * np.sin(2 * math.pi * self.frequency * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = AUDIO_RATE
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, AUDIO_RATE)
        self._pts += samples
        return frame


@dataclass
class Remote:
    """What this page receives from one other participant (times: time.monotonic())."""

    video_frames: int = 0
    video_at: float | None = None  # when a frame with a new number last arrived
    number: int | None = None
    ident: int | None = None
    audio_frames: int = 0
    audio_at: float | None = None
    tracks: int = 0
    tracks_ended: int = 0


@dataclass
class JoinTiming:
    ack_s: float  # page start to the room.join answer
    media_s: float | None  # page start to video from everyone publishing; None: not in time
    waited_for: int  # how many others' video it waited for
    media_resumed: bool = False


@dataclass
class Page:
    """One load of the room page."""

    media_session: str
    token: str
    token_at: float
    sio: socketio.AsyncClient
    started: float
    producers: dict[str, dict[str, Any]] = field(default_factory=dict)  # others', by id
    remotes: dict[str, Remote] = field(default_factory=dict)  # by participant id
    publish_pc: RTCPeerConnection | None = None
    subscribe_pc: RTCPeerConnection | None = None
    subscribe_ufrag: str | None = None
    local_tracks: list[MediaStreamTrack] = field(default_factory=list)
    work: asyncio.Queue[tuple[str, Any]] = field(default_factory=asyncio.Queue)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    closed: bool = False
    # set while the page's current socket is in the room: media events wait for it, as
    # media.js waits for the join's answer and socket.io-client buffers while disconnected
    joined: asyncio.Event = field(default_factory=asyncio.Event)
    # sockets of this page we are closing or replacing ourselves: their goodbyes are expected
    leaving: set[int] = field(default_factory=set)


def _ufrag(sdp: str) -> str | None:
    match = re.search(r"^a=ice-ufrag:(\S+)", sdp, re.M)
    return match.group(1) if match else None


def _config() -> RTCConfiguration:
    # as the web client: every section on one transport
    return RTCConfiguration(bundlePolicy=RTCBundlePolicy.MAX_BUNDLE)


class BotFailure(Exception):
    """An action could not be completed (it is in RoomBot.errors too)."""


class RoomBot:
    """One participant of one consultation; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        api_token: str,
        consultation_id: str,
        *,
        ident: int,
        label: str,
        video: VideoSpec | None = None,
        media_timeout_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        assert 0 <= ident < 1 << IDENT_BITS
        self.base_url = base_url.rstrip("/")
        self.api_token = api_token
        self.consultation_id = consultation_id
        self.ident = ident
        self.label = label
        self.video = video or VideoSpec()
        self.media_timeout_s = media_timeout_s
        self.clock = clock
        self.participant_id: str | None = None
        self.page: Page | None = None
        self.errors: list[dict[str, Any]] = []
        self.counts: Counter[str] = Counter()
        self.action = "start"  # what the bot is doing, for error reports
        self._http: aiohttp.ClientSession | None = None
        self._changed = asyncio.Event()
        self._pcs: list[RTCPeerConnection] = []  # every connection made, to count leaks

    # What the bot sees ----------------------------------------------------------

    @property
    def present(self) -> bool:
        return self.page is not None and not self.page.closed

    def remote(self, participant_id: str) -> Remote | None:
        return self.page.remotes.get(participant_id) if self.page else None

    def open_peer_connections(self) -> int:
        return sum(1 for pc in self._pcs if pc.connectionState != "closed")

    def connection_states(self) -> dict[str, str | None]:
        page = self.page
        out: dict[str, str | None] = {}
        for name in ("publish_pc", "subscribe_pc"):
            pc = getattr(page, name) if page else None
            out[name] = f"{pc.connectionState}/{pc.iceConnectionState}" if pc else None
        return out

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until `condition` holds, re-checked whenever what the bot sees changes."""
        deadline = self.clock() + timeout
        while not condition():
            remaining = deadline - self.clock()
            if remaining <= 0:
                return False
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _error(self, what: str, detail: Any = None) -> None:
        self.counts["errors"] += 1
        self.errors.append(
            {
                "at": round(self.clock(), 3),
                "bot": self.label,
                "action": self.action,
                "what": what,
                "detail": detail,
            }
        )

    # Actions ----------------------------------------------------------------------

    async def open_page(self) -> JoinTiming:
        """Load the room page: token, socket, join, publish; then wait (bounded) until
        video arrives from everyone in the room who publishes."""
        started = self.clock()
        token = await self._room_token()
        page = Page(
            media_session=secrets.token_urlsafe(16),
            token=token,
            token_at=self.clock(),
            sio=self._socket(),
            started=started,
        )
        page.sio = self._socket(page)
        self.page = page
        self._spawn(page, self._work(page))
        await self._connect(page.sio)
        ack = await self._join(page)
        ack_s = self.clock() - started
        await self._enqueue_and_wait(page, "publish")
        others = self._publishing_others(page)

        def seen_everyone() -> bool:
            return all(
                (r := page.remotes.get(p)) is not None and r.video_at is not None
                for p in self._publishing_others(page)
            )

        ok = await self.wait_until(seen_everyone, self.media_timeout_s)
        media_s = self.clock() - started if ok else None
        if not ok:
            self._error(
                "no video from everyone after joining",
                {
                    "waited_s": self.media_timeout_s,
                    "missing": sorted(
                        p
                        for p in self._publishing_others(page)
                        if page.remotes.get(p) is None or page.remotes[p].video_at is None
                    ),
                    "connections": self.connection_states(),
                },
            )
        return JoinTiming(ack_s, media_s, len(others), bool(ack.get("media_resumed")))

    async def reload(self, *, overlap: bool = False) -> JoinTiming:
        """The page reloads: its connections close and a new page joins. With
        `overlap` the old socket is still open when the new page joins (the server
        has not noticed it go yet) and closes after."""
        old = self.page
        if old is None:
            return await self.open_page()
        if overlap:
            await self._close_page(old, keep_socket=True)
            try:
                return await self.open_page()
            finally:
                await self._disconnect(old, old.sio)
        await self._close_page(old)
        return await self.open_page()

    async def reconnect(self, *, overlap: bool = False) -> JoinTiming:
        """The socket drops and comes back; the page and its media stay. With
        `overlap` the new socket joins before the old one is closed."""
        page = self.page
        if page is None or page.closed:
            raise BotFailure("no page to reconnect")
        started = self.clock()
        if self.clock() - page.token_at > 300:
            # the page renews its room token every 5 minutes (app.js)
            ack = await self._emit(page.sio, "room.refresh")
            page.token, page.token_at = ack["token"], self.clock()
        old = page.sio
        page.leaving.add(id(old))
        page.joined.clear()
        if not overlap:
            await self._disconnect(page, old)
        page.sio = self._socket(page)
        await self._connect(page.sio)
        ack = await self._join(page)
        if overlap:
            await self._disconnect(page, old)
        resumed = bool(ack.get("media_resumed"))
        if not resumed:
            # room.js: our connections went on unless the server says otherwise
            self.counts["media_not_resumed"] += 1
            await self._enqueue_and_wait(page, "publish")
        return JoinTiming(self.clock() - started, None, 0, resumed)

    async def leave(self) -> None:
        """Leave the room for good (room.leave), then close the page."""
        page = self.page
        if page is None:
            return
        if not page.closed and page.sio.connected:
            await self._emit(page.sio, "room.leave")
        await self._close_page(page)

    async def abandon(self) -> None:
        """Close whatever the page has without a word (after a failed action)."""
        if self.page is not None:
            await self._close_page(self.page)

    async def close(self) -> None:
        await self.leave()
        if self._http is not None:
            await self._http.close()
            self._http = None

    # Signalling -------------------------------------------------------------------

    async def _room_token(self) -> str:
        if self._http is None:
            self._http = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.api_token}"},
                timeout=aiohttp.ClientTimeout(total=EMIT_TIMEOUT_S),
            )
        url = f"{self.base_url}/api/consultations/{self.consultation_id}/token"
        try:
            async with self._http.post(url) as response:
                body = await response.json()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._error("room token request failed", repr(exc))
            raise BotFailure("room token") from exc
        if status != 200:
            self._error("room token refused", {"status": status, "body": body})
            raise BotFailure("room token")
        return str(body["token"])

    def _socket(self, page: Page | None = None) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)
        if page is None:
            return sio
        key = id(sio)

        def current() -> bool:
            return page.sio is sio and not page.closed

        async def on_offer(data: dict[str, Any]) -> None:
            if current():
                page.work.put_nowait(("offer", data["sdp"]))

        async def on_added(data: dict[str, Any]) -> None:
            if current() and data.get("participant_id") != self.participant_id:
                page.producers[data["producer_id"]] = data
                self._notify()

        async def on_removed(data: dict[str, Any]) -> None:
            if current():
                page.producers.pop(data["producer_id"], None)
                self._notify()

        async def on_closed(data: dict[str, Any]) -> None:
            if current():
                self.counts["media_closed"] += 1
                self.counts[f"media_closed:{data.get('reason')}"] += 1
                page.work.put_nowait(("restart", data))

        async def on_error(data: Any) -> None:
            self._error("server error event", data)

        async def on_replaced(data: Any) -> None:
            # expected on a socket we replace (overlap) or of a page we closed
            if key not in page.leaving and not page.closed:
                self._error("room.replaced on the page's own socket", data)

        async def on_unexpected(name: str, data: Any = None) -> None:
            if name in ("room.moved", "room.ended", "room.removed", "session.ended"):
                self._error(f"unexpected {name}", data)

        async def on_disconnect(*args: Any) -> None:
            if key not in page.leaving and not page.closed:
                self._error("socket closed by the server", [str(a) for a in args])

        sio.on("media.subscribe_offer", on_offer)
        sio.on("media.producer_added", on_added)
        sio.on("media.producer_removed", on_removed)
        sio.on("media.closed", on_closed)
        sio.on("error", on_error)
        sio.on("room.replaced", on_replaced)
        sio.on("disconnect", on_disconnect)
        sio.on("*", on_unexpected)
        return sio

    async def _connect(self, sio: socketio.AsyncClient) -> None:
        try:
            await sio.connect(
                self.base_url,
                auth={"token": self.api_token},
                transports=["websocket"],
                wait_timeout=CONNECT_TIMEOUT_S,
            )
        except (socketio.exceptions.ConnectionError, TimeoutError) as exc:
            self._error("socket connect failed", repr(exc))
            raise BotFailure("connect") from exc

    async def _disconnect(self, page: Page, sio: socketio.AsyncClient) -> None:
        page.leaving.add(id(sio))
        try:
            await asyncio.wait_for(sio.disconnect(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            self._error("socket disconnect timed out")

    async def _emit(self, sio: socketio.AsyncClient, event: str, data: Any = None) -> Any:
        try:
            ack = await sio.call(event, data, timeout=EMIT_TIMEOUT_S)
        except (socketio.exceptions.TimeoutError, socketio.exceptions.BadNamespaceError) as exc:
            self._error(f"{event}: no answer", repr(exc))
            raise BotFailure(event) from exc
        if isinstance(ack, dict) and "error" in ack:
            self._error(f"{event} refused", ack)
            raise BotFailure(event)
        return ack

    async def _emit_media(self, page: Page, event: str, data: Any = None) -> Any:
        try:
            await asyncio.wait_for(page.joined.wait(), EMIT_TIMEOUT_S)
        except TimeoutError as exc:
            self._error(f"{event}: the page's socket did not rejoin in time")
            raise BotFailure(event) from exc
        return await self._emit(page.sio, event, data)

    async def _join(self, page: Page) -> dict[str, Any]:
        ack: dict[str, Any] = await self._emit(
            page.sio, "room.join", {"token": page.token, "media_session": page.media_session}
        )
        if ack.get("state") != "joined":
            self._error("room.join did not let us in", ack)
            raise BotFailure("join")
        self.participant_id = ack["participant_id"]
        page.joined.set()
        page.producers = {
            p["producer_id"]: p
            for p in ack.get("producers", [])
            if p["participant_id"] != self.participant_id
        }
        self._notify()
        return ack

    def _publishing_others(self, page: Page) -> set[str]:
        return {
            p["participant_id"]
            for p in page.producers.values()
            if p.get("kind") == "video" and p["participant_id"] != self.participant_id
        }

    # Media ---------------------------------------------------------------------------

    def _spawn(self, page: Page, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        page.tasks.add(task)
        task.add_done_callback(page.tasks.discard)

    async def _enqueue_and_wait(self, page: Page, what: str) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        page.work.put_nowait((what, done))
        try:
            await asyncio.wait_for(asyncio.shield(done), EMIT_TIMEOUT_S * 2)
        except TimeoutError as exc:
            self._error(f"{what} did not finish in time")
            raise BotFailure(what) from exc

    async def _work(self, page: Page) -> None:
        """The page's media work, one item at a time: publish, server offers, restarts."""
        while not page.closed:
            what, arg = await page.work.get()
            try:
                if what == "publish":
                    await self._publish(page)
                elif what == "offer":
                    await self._answer(page, arg)
                elif what == "restart":
                    await self._restart(page)
            except BotFailure:
                pass  # in self.errors already; the page goes on as it is (no retry here)
            except Exception as exc:  # an aiortc failure: report it, keep the page going
                self._error(f"{what} failed", repr(exc))
            finally:
                if isinstance(arg, asyncio.Future) and not arg.done():
                    arg.set_result(None)

    def _new_pc(self) -> RTCPeerConnection:
        pc = RTCPeerConnection(_config())
        self._pcs = [p for p in self._pcs if p.connectionState != "closed"]
        self._pcs.append(pc)
        self.counts["peer_connections"] += 1
        return pc

    async def _publish(self, page: Page) -> None:
        if page.publish_pc is not None:
            await page.publish_pc.close()
        for track in page.local_tracks:
            track.stop()
        pc = self._new_pc()
        page.publish_pc = pc
        audio_track = Tone(300.0 + 20 * self.ident)
        video_track = NumberedVideo(self.video, self.ident)
        page.local_tracks = [audio_track, video_track]
        audio = pc.addTransceiver(audio_track, direction="sendonly")
        video = pc.addTransceiver(video_track, direction="sendonly")
        vp8 = [
            c
            for c in RTCRtpSender.getCapabilities("video").codecs
            if c.mimeType in ("video/VP8", "video/rtx")
        ]
        video.setCodecPreferences(vp8)
        await pc.setLocalDescription(await pc.createOffer())
        sources = {str(audio.mid): "microphone", str(video.mid): "camera"}
        ack = await self._emit_media(
            page, "media.publish", {"sdp": pc.localDescription.sdp, "sources": sources}
        )
        if page.publish_pc is pc:
            await pc.setRemoteDescription(RTCSessionDescription(ack["sdp"], "answer"))

    async def _answer(self, page: Page, sdp: str) -> None:
        self.counts["subscribe_offers"] += 1
        ufrag = _ufrag(sdp)
        if page.subscribe_pc is not None and ufrag != page.subscribe_ufrag:
            # the server started our subscribe connection over: a new connection
            await page.subscribe_pc.close()
            page.subscribe_pc = None
        if page.subscribe_pc is None:
            self.counts["subscribe_sessions"] += 1
            pc = self._new_pc()
            pc.on("track", lambda track: self._spawn(page, self._read(page, track)))
            page.subscribe_pc = pc
            page.subscribe_ufrag = ufrag
        pc = page.subscribe_pc
        await pc.setRemoteDescription(RTCSessionDescription(sdp, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        if pc is not page.subscribe_pc or page.closed:
            return
        await self._emit_media(page, "media.subscribe_answer", {"sdp": pc.localDescription.sdp})

    async def _restart(self, page: Page) -> None:
        """media.js restart(): new connections at both ends."""
        self.counts["restarts"] += 1
        for pc in (page.publish_pc, page.subscribe_pc):
            if pc is not None:
                await pc.close()
        page.publish_pc = page.subscribe_pc = None
        page.subscribe_ufrag = None
        await self._emit_media(page, "media.restart")
        await self._publish(page)

    async def _read(self, page: Page, track: MediaStreamTrack) -> None:
        # The consumer's track id is its producer id, "<participant id>:<mid>".
        participant = str(track.id).split(":", 1)[0]
        remote = page.remotes.setdefault(participant, Remote())
        remote.tracks += 1
        try:
            while True:
                frame = await track.recv()
                now = self.clock()
                if isinstance(frame, av.VideoFrame):
                    number, ident = read_frame(frame)
                    remote.video_frames += 1
                    if number != remote.number:
                        remote.video_at = now
                    remote.number, remote.ident = number, ident
                else:
                    remote.audio_frames += 1
                    remote.audio_at = now
                self._notify()
        except MediaStreamError:
            remote.tracks_ended += 1

    async def _close_page(self, page: Page, *, keep_socket: bool = False) -> None:
        if page.closed:
            return
        page.closed = True
        if self.page is page:
            self.page = None
        for task in list(page.tasks):
            task.cancel()
        await asyncio.gather(*page.tasks, return_exceptions=True)
        for pc in (page.publish_pc, page.subscribe_pc):
            if pc is not None:
                await pc.close()
        for track in page.local_tracks:
            track.stop()
        page.publish_pc = page.subscribe_pc = None
        if not keep_socket:
            await self._disconnect(page, page.sio)
        self._notify()


__all__ = [
    "BotFailure",
    "JoinTiming",
    "NumberedVideo",
    "Remote",
    "RoomBot",
    "Tone",
    "VideoSpec",
    "draw_frame",
    "read_frame",
]
