"""Recording overhead benchmark: SFU CPU with and without recording the publisher.

One publisher process sends 720p30 VP8 (pre-encoded, from bench/sfu_fanout.py's
clip) and a 48 kHz Opus tone to the SFU in this process, which forwards both
to `--subscribers` subscribers in other processes (non-decoding, as in
bench/sfu_fanout.py). Windows of `--duration` seconds alternate (ABBA):
forwarding only, and forwarding while recordings.Recorder writes the
publisher's audio and video to WebM files (measured once both files are
open). Server CPU is this process's own accounting (time.process_time) per
wall second; the median of `--rounds` windows of each kind is reported.

The last line printed is a JSON object:
{"forward_cpu": float, "forward_plus_record_cpu": float, "extra_pct": float}
with CPU in cores (CPU seconds per second) and extra_pct the increase in %.
A line before it gives the recorder's own steady-state cost, measured by
replaying `--duration` seconds of the publisher's captured packets into
it: on a shared machine the noise between windows can exceed the recorder.

Usage: .venv/bin/python bench/recording.py [--duration 10] [--rounds 3] [--subscribers 10]
"""

import argparse
import asyncio
import fractions
import json
import logging
import math
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import av
import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sfu_fanout import (
    DEFAULT_CLIP,
    Child,
    Conn,
    LoopedClipTrack,
    ensure_clip,
    load_clip,
    pipe_messages,
    stop_children,
    subscriber_main,
)

from media_server.api import MediaConfig, MediaServer
from media_server.events import MediaEvent, ProducerAdded, SubscribeOffer
from media_server.permissions import Permissions
from recordings.recorder import Recorder
from recordings.sidecar import TrackInfo
from recordings.track_recorder import TrackRecorder

SAMPLES = 960  # 20 ms at 48 kHz


class ToneTrack(MediaStreamTrack):
    """A 440 Hz tone in 20 ms frames, paced in real time (aiortc encodes it to Opus)."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._pts = 0
        self._start: float | None = None

    async def recv(self) -> av.AudioFrame:
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        wait = self._start + self._pts / 48000 - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        t = (np.arange(SAMPLES) + self._pts) / 48000
        pcm = (8000 * np.sin(2 * math.pi * 440 * t)).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = 48000
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, 48000)
        self._pts += SAMPLES
        return frame


def publisher_main(conn: Conn, clip_path: str) -> None:
    asyncio.run(publisher(conn, Path(clip_path)))


async def publisher(conn: Conn, clip_path: Path) -> None:
    frames = load_clip(clip_path)
    queue = await pipe_messages(conn)
    pc = RTCPeerConnection()
    while True:
        msg = await queue.get()
        if msg["cmd"] == "connect":
            pc.addTransceiver(ToneTrack(), direction="sendonly")
            pc.addTransceiver(LoopedClipTrack(frames), direction="sendonly")
            await pc.setLocalDescription(await pc.createOffer())
            conn.send({"cmd": "offer", "sdp": pc.localDescription.sdp})
        elif msg["cmd"] == "answer":
            await pc.setRemoteDescription(RTCSessionDescription(msg["sdp"], "answer"))
        elif msg["cmd"] == "exit":
            await pc.close()
            return


async def run(args: argparse.Namespace, clip: Path, out_dir: Path) -> dict[str, float]:
    ctx = multiprocessing.get_context("spawn")
    conn, child_conn = ctx.Pipe()
    publisher_child = Child(
        conn, ctx.Process(target=publisher_main, args=(child_conn, str(clip)), daemon=True)
    )
    subscriber_children = []
    for _ in range(args.processes):
        conn, child_conn = ctx.Pipe()
        process = ctx.Process(target=subscriber_main, args=(child_conn, False), daemon=True)
        subscriber_children.append(Child(conn, process))
    children = [publisher_child, *subscriber_children]
    for child in children:
        child.process.start()
        await child.start()

    producers: list[ProducerAdded] = []
    closing = False

    async def on_event(event: MediaEvent) -> None:
        if closing:
            return  # the re-offers of a closing room reach nobody
        if isinstance(event, SubscribeOffer):
            index = int(event.peer_id[1:])
            subscriber_children[index % len(subscriber_children)].conn.send(
                {"cmd": "offer", "id": event.peer_id, "sdp": event.sdp, "checker": False}
            )
        elif isinstance(event, ProducerAdded):
            producers.append(event)

    server = MediaServer(on_event, MediaConfig())
    recorder = Recorder(server, out_dir)
    try:
        await server.create_room("bench")
        await server.join(
            "bench", "publisher", Permissions(may_publish_audio=True, may_publish_video=True)
        )
        published: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        async def on_offer(msg: dict[str, Any]) -> None:
            answer = await server.publish_offer("bench", "publisher", msg["sdp"])
            publisher_child.conn.send({"cmd": "answer", "sdp": answer})
            published.set_result(None)

        async def on_answer(msg: dict[str, Any]) -> None:
            if not closing:
                await server.subscribe_answer("bench", msg["id"], msg["sdp"])

        publisher_child.handlers["offer"] = on_offer
        for child in subscriber_children:
            child.handlers["answer"] = on_answer
        publisher_child.conn.send({"cmd": "connect"})
        await published
        for i in range(args.subscribers):
            await server.join("bench", f"s{i}", Permissions())

        deadline = time.monotonic() + 60
        while True:
            receiving = 0
            for child in subscriber_children:
                receiving += (await child.ask({"cmd": "status"}, "status"))["receiving"]
            if receiving >= args.subscribers or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        print(f"{receiving} of {args.subscribers} subscribers receive", flush=True)
        await asyncio.sleep(2.0)  # settle past the first keyframe

        async def window(record: bool) -> float:
            if record:
                for event in producers:
                    await recorder.start("bench", event.peer_id, event.producer_id, event.kind)
                # the steady state: every file open (the clip has a keyframe every 2 s and
                # ignores keyframe requests)
                for _ in range(100):
                    if all(recorder.frames_written("bench").values()):
                        break
                    await asyncio.sleep(0.1)
            cpu0, wall0, drain0 = time.process_time(), time.monotonic(), recorder.drain_cpu
            await asyncio.sleep(args.duration)
            wall = time.monotonic() - wall0
            cores = (time.process_time() - cpu0) / wall
            if record:
                drain_cores.append((recorder.drain_cpu - drain0) / wall)
            if record:
                infos = await recorder.stop_room("bench")
                got = ", ".join(f"{i.kind} {i.duration:.1f} s" for i in infos)
                print(f"  recorded: {got}", flush=True)
            return cores

        # the recorder alone: the same packets, captured, then replayed into it
        captured: dict[str, list[tuple[Any, Any, float]]] = {e.producer_id: [] for e in producers}
        taps = {}
        for event in producers:
            taps[event.producer_id] = lambda p, c, a, into=captured[event.producer_id]: into.append(
                (p, c, a)
            )
            await server.add_tap("bench", event.producer_id, taps[event.producer_id])
        await asyncio.sleep(args.duration)
        for event in producers:
            await server.remove_tap("bench", event.producer_id, taps[event.producer_id])
        replay_cpu = 0.0
        for event in producers:
            info = TrackInfo(
                "bench", "p", event.producer_id, event.kind, "", 0, f"{event.kind}.webm"
            )
            track = TrackRecorder(info, out_dir)
            packets = iter(captured[event.producer_id])
            for packet, codec, arrival in packets:
                track(packet, codec, arrival)
                track.drain()
                if track.frames:
                    break  # the file is open: from here on, the steady state
            cpu0 = time.process_time()
            for packet, codec, arrival in packets:
                track(packet, codec, arrival)
            track.drain()
            replay_cpu += time.process_time() - cpu0
            track.close()
            print(f"  replayed {len(captured[event.producer_id])} {event.kind} packets", flush=True)
        recorder_alone = replay_cpu / args.duration
        print(f"recorder alone (steady state, replayed): {recorder_alone:.5f} cores", flush=True)

        forward: list[float] = []
        recording: list[float] = []
        drain_cores: list[float] = []
        for round_ in range(args.rounds):
            # ABBA order, so that a slow drift of the machine's load cancels out
            order = (False, True) if round_ % 2 == 0 else (True, False)
            for record in order:
                (recording if record else forward).append(await window(record))
            print(
                f"round {round_ + 1}: forward {forward[-1]:.4f} cores, "
                f"forward+record {recording[-1]:.4f} cores",
                flush=True,
            )
        print(
            f"recorder's own writing in the live windows: {statistics.median(drain_cores):.5f} "
            "cores (median)",
            flush=True,
        )
        fwd, rec = statistics.median(forward), statistics.median(recording)
        return {
            "forward_cpu": round(fwd, 4),
            "forward_plus_record_cpu": round(rec, 4),
            "extra_pct": round(100 * (rec - fwd) / fwd, 2),
        }
    finally:
        closing = True
        await recorder.close()
        await server.close()
        stop_children(children)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--rounds", type=int, default=5, help="windows of each kind")
    parser.add_argument("--subscribers", type=int, default=10)
    parser.add_argument("--processes", type=int, default=1, help="subscriber processes")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clip = Path(args.clip)
    ensure_clip(clip)
    with tempfile.TemporaryDirectory(prefix="bench-rec-") as out_dir:
        summary = asyncio.run(run(args, clip, Path(out_dir)))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
