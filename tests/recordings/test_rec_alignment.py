"""One participant's audio and video line up within 40 ms on the recordings' common timeline.

The publisher makes one event visible in both tracks: the picture turns
white and a tone starts at the same wall-clock moment (as a camera and a
microphone would capture a clap). Each track file is placed on the wall
clock by its sidecar (start_wall + pts); the two onsets found in the files
must keep the offset they had at capture.
"""

import asyncio
import fractions
import math
import time
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import MediaStreamTrack, VideoStreamTrack
from sfu_clients import HEIGHT, WIDTH, Harness, requires_network, wait_for

from media_server.events import ProducerAdded
from recordings import sidecar
from recordings.recorder import Recorder

pytestmark = [requires_network, pytest.mark.timeout(60)]


class FlashTrack(VideoStreamTrack):
    """Dark frames, white from `cue` (wall clock) on; notes when the first white one was made."""

    def __init__(self, cue: float) -> None:
        super().__init__()
        self.cue = cue
        self.flashed_at: float | None = None

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        now = time.time()
        white = now >= self.cue
        if white and self.flashed_at is None:
            self.flashed_at = now
        luma = np.full((HEIGHT, WIDTH), 235 if white else 16, dtype=np.uint8)
        chroma = np.full((HEIGHT // 2, WIDTH), 128, dtype=np.uint8)
        frame = av.VideoFrame.from_ndarray(np.concatenate([luma, chroma]), format="yuv420p")
        frame.pts, frame.time_base = pts, time_base
        return frame


class BeepTrack(MediaStreamTrack):
    """20 ms frames of silence, a 1 kHz tone from `cue` (wall clock) on."""

    kind = "audio"

    def __init__(self, cue: float) -> None:
        super().__init__()
        self.cue = cue
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / 48000 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        wall = time.time() + np.arange(960) / 48000
        tone = 12000 * np.sin(2 * math.pi * 1000 * (np.arange(960) + self._pts) / 48000)
        pcm = np.where(wall >= self.cue, tone, 0).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts, frame.time_base = self._pts, fractions.Fraction(1, 48000)
        self._pts += 960
        return frame


def video_onset(media: Path) -> float:
    with av.open(str(media)) as container:
        for frame in container.decode(video=0):
            if frame.to_ndarray(format="gray").mean() > 128:
                return float(frame.time)
    raise AssertionError("no white frame recorded")


def audio_onset(media: Path) -> float:
    with av.open(str(media)) as container:
        for frame in container.decode(audio=0):
            samples = np.abs(frame.to_ndarray()[0])
            loud = np.flatnonzero(samples > 0.1 * samples.max()) if samples.max() > 0.1 else []
            if len(loud):
                return float(frame.time) + int(loud[0]) / frame.sample_rate
    raise AssertionError("no tone recorded")


async def test_audio_and_video_of_a_participant_line_up(harness: Harness, tmp_path: Path) -> None:
    await harness.server.create_room("r")
    alice = await harness.join("r", "alice")
    await harness.join("r", "bob")
    cue = time.time() + 3.0
    video = FlashTrack(cue)
    await alice.publish(BeepTrack(cue), video)
    await wait_for(lambda: sum(isinstance(e, ProducerAdded) for e in harness.events) == 2)
    recorder = Recorder(harness.server, tmp_path)
    for event in harness.events:
        if isinstance(event, ProducerAdded):
            await recorder.start("r", event.peer_id, event.producer_id, event.kind)
    await asyncio.sleep(cue + 1.5 - time.time())
    infos = {i.kind: i for i in await recorder.stop_room("r")}

    assert video.flashed_at is not None
    onsets = {}
    for kind, find in (("video", video_onset), ("audio", audio_onset)):
        info = sidecar.read(tmp_path / "r" / Path(infos[kind].media).with_suffix(".json"))
        assert info.start_wall is not None
        onsets[kind] = info.start_wall + find(tmp_path / "r" / info.media)
    captured_offset = video.flashed_at - cue  # the white frame is the first made after the cue
    recorded_offset = onsets["video"] - onsets["audio"]
    assert abs(recorded_offset - captured_offset) <= 0.040, (recorded_offset, captured_offset)
