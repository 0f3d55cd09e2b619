"""The control plane's entry point: record producers of a room, each into its own file.

    recorder = Recorder(server, Path("data/recordings"))
    await recorder.start("r1", "alice", "alice:0", "audio")
    await recorder.start("r1", "alice", "alice:1", "video")
    infos = await recorder.stop_room("r1")     # finished: sha256, duration, start_wall

Files go to `<directory>/<room id>/<peer>_<mid>_<start ms>.webm`, each with a
JSON sidecar (recordings.sidecar.TrackInfo). At start-up, call
recordings.recovery.recover(directory) before recording anything.
"""

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from pathlib import Path

from media_server import MediaError, MediaServer

from . import sidecar
from .finish import facts_of
from .sidecar import TrackInfo
from .track_recorder import TrackRecorder

logger = logging.getLogger(__name__)

# How often queued packets are written: part of what a crash can lose, with
# the writer's 500 ms clusters.
DRAIN_INTERVAL = 0.5

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def safe_name(text: str) -> str:
    return _UNSAFE.sub("_", text)


@dataclass
class _Active:
    room_id: str
    producer_id: str
    track: TrackRecorder
    keyframe_task: asyncio.Task[None] | None = None


class Recorder:
    def __init__(self, server: MediaServer, directory: Path) -> None:
        self.server = server
        self.directory = directory
        self._active: dict[tuple[str, str], _Active] = {}
        self._pump: asyncio.Task[None] | None = None
        self.drain_cpu = 0.0
        """CPU seconds spent writing queued packets (the recorder's work on the event loop)."""

    def recording(self, room_id: str) -> list[str]:
        """Producer ids being recorded in `room_id`."""
        return [p for r, p in self._active if r == room_id]

    def frames_written(self, room_id: str) -> dict[str, int]:
        """Frames in each file being recorded in `room_id`, by producer id (0: waiting for a
        keyframe)."""
        return {p: a.track.frames for (r, p), a in self._active.items() if r == room_id}

    async def start(self, room_id: str, peer_id: str, producer_id: str, kind: str) -> Path:
        """Record `producer_id` from its next keyframe on; returns the sidecar's path."""
        key = (room_id, producer_id)
        if key in self._active:
            return self._active[key].track.sidecar_path
        room_dir = self.directory / safe_name(room_id)
        room_dir.mkdir(parents=True, exist_ok=True)
        name = f"{safe_name(producer_id)}_{int(time.time() * 1000)}.webm"
        info = TrackInfo(room_id, peer_id, producer_id, kind, codec="", clock_rate=0, media=name)
        track = TrackRecorder(info, room_dir)
        active = _Active(room_id, producer_id, track)
        self._active[key] = active
        track.on_keyframe_wanted = lambda: self._want_keyframe(active)
        try:
            await self.server.add_tap(room_id, producer_id, track)
        except MediaError:
            del self._active[key]
            await asyncio.to_thread(self._finish, track)
            raise
        if kind == "video":
            self._want_keyframe(active)
        if self._pump is None:
            self._pump = asyncio.ensure_future(self._drain_forever())
        return track.sidecar_path

    async def stop(self, room_id: str, producer_id: str) -> TrackInfo | None:
        """Stop and finish one track: the sidecar then has its SHA-256 and duration."""
        active = self._active.pop((room_id, producer_id), None)
        if active is None:
            return None
        await self.server.remove_tap(room_id, producer_id, active.track)
        if active.keyframe_task is not None:
            active.keyframe_task.cancel()
        return await asyncio.to_thread(self._finish, active.track)

    async def stop_room(self, room_id: str) -> list[TrackInfo]:
        infos = []
        for producer_id in self.recording(room_id):
            info = await self.stop(room_id, producer_id)
            if info is not None:
                infos.append(info)
        return infos

    async def close(self) -> None:
        for room_id, producer_id in list(self._active):
            await self.stop(room_id, producer_id)
        if self._pump is not None:
            self._pump.cancel()
            await asyncio.gather(self._pump, return_exceptions=True)
            self._pump = None

    async def _drain_forever(self) -> None:
        while True:
            await asyncio.sleep(DRAIN_INTERVAL)
            started = time.thread_time()
            for active in tuple(self._active.values()):
                try:
                    active.track.drain()
                except Exception:
                    logger.exception("recording %s failed", active.producer_id)
            self.drain_cpu += time.thread_time() - started

    def _want_keyframe(self, active: _Active) -> None:
        if active.keyframe_task is not None and not active.keyframe_task.done():
            return
        active.keyframe_task = asyncio.ensure_future(self._request_keyframe(active))

    async def _request_keyframe(self, active: _Active) -> None:
        try:
            await self.server.request_keyframe(active.room_id, active.producer_id)
        except MediaError:
            pass  # the producer has gone; stop() will finish the file

    @staticmethod
    def _finish(track: TrackRecorder) -> TrackInfo:
        info = track.info
        wrote = track.close()
        info.state = "finished"
        if wrote:
            facts = facts_of(track.media_path)
            info.sha256, info.duration = facts.sha256, facts.duration
        else:
            info.duration = 0.0
        sidecar.write(track.sidecar_path, info)
        return info
