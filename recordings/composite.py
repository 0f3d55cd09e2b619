"""After the session: one WebM with everyone's video in a grid and their audio mixed.

This step decodes and encodes, so it runs off the forwarding path, in a
process of its own (`CompositeJob`), and reports its progress.
"""

import asyncio
import fractions
import math
import multiprocessing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import av
import numpy as np

from . import sidecar
from .finish import FileFacts, facts_of

CELL_WIDTH, CELL_HEIGHT = 320, 240
FPS = 15
RATE = 48000
AUDIO_FRAME = 960  # 20 ms


class CompositeFailed(Exception):
    pass


@dataclass(frozen=True)
class _Track:
    media: Path
    kind: str
    peer_id: str
    start: float  # wall clock of pts 0
    duration: float


def _tracks(sidecars: list[Path]) -> list[_Track]:
    tracks = []
    for path in sidecars:
        info = sidecar.read(path)
        if info.start_wall is None or not info.duration or info.state == "recording":
            continue  # never wrote, or not finished
        tracks.append(
            _Track(
                path.with_name(info.media), info.kind, info.peer_id, info.start_wall, info.duration
            )
        )
    return tracks


def _pictures(track: _Track, origin: float) -> Iterator[tuple[float, np.ndarray]]:
    """(session time, rgb24 cell) of each decoded frame."""
    with av.open(str(track.media)) as container:
        for frame in container.decode(video=0):
            if frame.time is None:
                continue
            cell = frame.reformat(CELL_WIDTH, CELL_HEIGHT, "rgb24").to_ndarray()
            yield track.start - origin + frame.time, cell


def _mix(tracks: list[_Track], origin: float, length: int) -> np.ndarray:
    """Every audio track decoded to 48 kHz mono at its place in the session, summed."""
    mix = np.zeros(length, dtype=np.float32)
    for track in tracks:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        with av.open(str(track.media)) as container:
            for frame in container.decode(audio=0):
                if frame.time is None:
                    continue
                at = round((track.start - origin + frame.time) * RATE)
                for out in resampler.resample(frame):
                    samples = out.to_ndarray()[0].astype(np.float32)
                    end = min(length, at + len(samples))
                    if 0 <= at < end:
                        mix[at:end] += samples[: end - at]
                    at += len(samples)
    return np.clip(mix, -32768, 32767)


def compose(sidecars: list[Path], out: Path, progress: Callable[[float], None]) -> None:
    tracks = _tracks(sidecars)
    videos = [t for t in tracks if t.kind == "video"]
    audios = [t for t in tracks if t.kind == "audio"]
    if not tracks:
        raise CompositeFailed("no finished track to compose")
    origin = min(t.start for t in tracks)
    end = max(t.start + t.duration for t in tracks)
    columns = max(1, math.ceil(math.sqrt(len(videos))))
    rows = max(1, math.ceil(len(videos) / columns))
    width, height = columns * CELL_WIDTH, rows * CELL_HEIGHT
    total = max(1, math.ceil((end - origin) * FPS))
    mix = _mix(audios, origin, total * RATE // FPS).astype(np.int16)

    with av.open(str(out), "w", format="webm") as container:
        video: Any = container.add_stream("libvpx", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.bit_rate = 1_000_000
        video.codec_context.options = {"deadline": "realtime", "cpu-used": "8"}
        audio: Any = container.add_stream("libopus", rate=RATE)
        audio.layout = "mono"
        canvas = np.zeros((height, width, 3), dtype=np.uint8)
        sources = [_pictures(t, origin) for t in videos]
        upcoming: list[tuple[float, np.ndarray] | None] = [next(s, None) for s in sources]
        audio_pts = 0
        for index in range(total):
            now = index / FPS
            for i, source in enumerate(sources):
                # show the newest picture of each participant not later than now
                while (item := upcoming[i]) is not None and item[0] <= now:
                    y, x = divmod(i, columns)
                    canvas[
                        y * CELL_HEIGHT : (y + 1) * CELL_HEIGHT,
                        x * CELL_WIDTH : (x + 1) * CELL_WIDTH,
                    ] = item[1]
                    upcoming[i] = next(source, None)
            frame = av.VideoFrame.from_ndarray(canvas, format="rgb24").reformat(format="yuv420p")
            frame.pts = index
            frame.time_base = fractions.Fraction(1, FPS)
            container.mux(video.encode(frame))
            until = (index + 1) * RATE // FPS
            while audio_pts + AUDIO_FRAME <= until:
                pcm = mix[audio_pts : audio_pts + AUDIO_FRAME].reshape(1, -1)
                sound = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                sound.sample_rate = RATE
                sound.pts = audio_pts
                sound.time_base = fractions.Fraction(1, RATE)
                container.mux(audio.encode(sound))
                audio_pts += AUDIO_FRAME
            progress((index + 1) / total)
        container.mux(video.encode(None))
        container.mux(audio.encode(None))


def _work(sidecars: list[str], out: str, done: "Synchronized[float]") -> None:
    def report(fraction: float) -> None:
        done.value = fraction

    compose([Path(s) for s in sidecars], Path(out), report)


class CompositeJob:
    """`compose` in a separate process, so that decoding never slows forwarding.

    job = CompositeJob(sidecar_paths, Path("room.webm"))
    job.start()
    job.progress        # 0.0 .. 1.0
    facts = await job.wait()   # SHA-256 and duration of the composite
    """

    def __init__(self, sidecars: list[Path], out: Path) -> None:
        context = multiprocessing.get_context("spawn")
        self.out = out
        self._done: Synchronized[float] = context.Value("d", 0.0)
        self._process = context.Process(
            target=_work, args=([str(s) for s in sidecars], str(out), self._done), daemon=True
        )

    @property
    def progress(self) -> float:
        return float(self._done.value)

    def start(self) -> None:
        self._process.start()

    async def wait(self) -> FileFacts:
        await asyncio.to_thread(self._process.join)
        if self._process.exitcode != 0:
            self.out.unlink(missing_ok=True)
            raise CompositeFailed(f"composite worker exited with {self._process.exitcode}")
        return await asyncio.to_thread(facts_of, self.out)

    def cancel(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self.out.unlink(missing_ok=True)
