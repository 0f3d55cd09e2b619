"""A recorder killed with SIGKILL leaves playable files missing at most the last 2 s;
recovery finishes them and marks them interrupted."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import av
import pytest
from sfu_clients import read_number, requires_network

from recordings import sidecar
from recordings.finish import sha256_of
from recordings.recovery import recover

CHILD = Path(__file__).with_name("record_child.py")
VIDEO_FPS, AUDIO_FPS = 30, 50
KILL_AFTER_VIDEO_FRAMES = 150  # 5 s, most of them recorded


def frames_in(media: Path) -> list[av.VideoFrame | av.AudioFrame]:
    with av.open(str(media)) as container:
        frames: list[av.VideoFrame | av.AudioFrame] = []
        try:
            for packet in container.demux():
                frames.extend(packet.decode())  # type: ignore[arg-type]
        except av.FFmpegError:
            pass  # the torn tail of a killed writer
        return frames


@requires_network
@pytest.mark.timeout(60)
def test_sigkill_loses_at_most_two_seconds_and_recovery_finishes(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        sent = (0, 0)
        for line in child.stdout:
            sent = (int(line.split()[0]), int(line.split()[1]))
            if sent[0] >= KILL_AFTER_VIDEO_FRAMES:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert sent[0] >= KILL_AFTER_VIDEO_FRAMES, "the child stopped before sending 5 s"

    sidecars = sorted(tmp_path.rglob("*.json"))
    infos = {sidecar.read(p).kind: (p, sidecar.read(p)) for p in sidecars}
    assert {k: i.state for k, (_, i) in infos.items()} == {
        "audio": "recording",
        "video": "recording",
    }
    video = infos["video"][0].with_name(infos["video"][1].media)
    audio = infos["audio"][0].with_name(infos["audio"][1].media)

    # as the crash left them: they open and hold all but the last 2 s of what was sent
    video_frames = frames_in(video)
    audio_frames = frames_in(audio)
    numbers = [read_number(f)[0] for f in video_frames if isinstance(f, av.VideoFrame)]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert numbers[-1] >= sent[0] - 1 - 2 * VIDEO_FPS  # frame numbers count from 0
    assert len(audio_frames) >= sent[1] - 2 * AUDIO_FPS

    # where nodes share the directory, files written a moment ago are left to their writer
    assert recover(tmp_path, idle_s=3600) == []
    assert all(sidecar.read(path).state == "recording" for path, _ in infos.values())
    recovered = recover(tmp_path)
    assert sorted(i.kind for i in recovered) == ["audio", "video"]
    for path, _ in infos.values():
        info = sidecar.read(path)
        media = path.with_name(info.media)
        assert info.state == "interrupted"
        assert info.sha256 == sha256_of(media)
        assert info.duration is not None and info.duration >= sent[1] / AUDIO_FPS - 2
        with av.open(str(media)) as container:
            # finished: the header now carries a duration, and everything decodes
            assert container.duration is not None
            assert abs(container.duration / 1e6 - info.duration) < 0.1
            list(container.decode(container.streams[0]))
    assert recover(tmp_path) == []  # nothing left unfinished


def test_recovery_of_a_recording_that_never_wrote(tmp_path: Path) -> None:
    info = sidecar.TrackInfo("r", "bob", "bob:1", "video", "VP8", 90000, media="bob_1.webm")
    sidecar.write(tmp_path / "bob_1.json", info)
    (tmp_path / "bob_1.webm").write_bytes(b"")
    recovered = recover(tmp_path)
    assert [(i.producer_id, i.state, i.duration) for i in recovered] == [
        ("bob:1", "interrupted", 0.0)
    ]
    assert sidecar.read(tmp_path / "bob_1.json").state == "interrupted"
    assert not (tmp_path / "bob_1.webm").exists()
