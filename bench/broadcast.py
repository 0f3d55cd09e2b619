"""Training broadcast benchmark: one node, then two nodes cascading, measured in one run.

One presenter process publishes a pre-encoded 1280x720 30 fps VP8 clip and
Opus audio. Each SFU node is its own process (a MediaServer, as
`telehealth serve` runs one), so that each node's CPU is its own; trainees
live in subscriber processes (they receive without decoding, except two
checkers that decode everything; see bench/sfu_fanout.py).

1. One node: the origin serves N trainees. Its CPU with the presenter alone
   (ingest) and with N trainees gives the cost of one trainee; the viewers
   one node carries at <= 1 core is (1 core - ingest) / cost per trainee,
   provided the N measured got >= 29 fps.
2. Two nodes cascading: the origin forwards the presenter's tracks once to
   an edge node over a server-to-server WebRTC leg (the pipe of
   signalling/rooms/cascade.py: a subscribe-only peer at the origin whose offers
   the edge answers with MediaServer.pipe_offer); N trainees on each node,
   the load per node of step 1 (the cost per stream grows with the load).
   Each node's capacity is worked out the same way (the origin's ingest
   includes sending the pipe; the edge's ingest is receiving it), and
   viewers_2nodes is their sum.

This machine has 2 cores for the nodes and the load processes together,
so N stays where the load side keeps up; capacities at 1 core per node are
computed from the CPU measured at N, not observed at that count. The ratio
that matters, scaling = viewers_2nodes / viewers_1node, compares two runs
on the same machine minutes apart.

The last line printed is a JSON object:
{"viewers_1node": int, "viewers_2nodes": int, "scaling": float}

Usage: .venv/bin/python bench/broadcast.py [--n 24] [--duration 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.sfu_fanout import (
    CHECKERS,
    DEFAULT_CLIP,
    Child,
    Conn,
    ensure_clip,
    pipe_messages,
    publisher_main,
    stop_children,
    subscriber_main,
)
from media_server.api import MediaConfig, MediaServer
from media_server.events import MediaEvent, SubscribeOffer
from media_server.permissions import Permissions

ROOM = "training"
PRESENTER = Permissions(may_publish_audio=True, may_publish_video=True)
PIPE_IN = Permissions(
    may_publish_audio=True, may_publish_video=True, may_publish_screen=True, may_subscribe=False
)


def node_main(conn: Conn) -> None:
    asyncio.run(node(conn))


async def node(conn: Conn) -> None:
    """One SFU node, driven over a pipe; its subscribe offers go back up the pipe."""
    queue = await pipe_messages(conn)

    async def on_event(event: MediaEvent) -> None:
        if isinstance(event, SubscribeOffer):
            conn.send({"cmd": "offer", "peer": event.peer_id, "sdp": event.sdp})

    server = MediaServer(on_event, MediaConfig())
    await server.create_room(ROOM)
    while True:
        msg = await queue.get()
        cmd = msg["cmd"]
        if cmd == "join":
            await server.join(ROOM, msg["peer"], Permissions(**msg["permissions"]))
        elif cmd == "publish":
            answer = await server.publish_offer(ROOM, msg["peer"], msg["sdp"])
            conn.send({"cmd": "published", "sdp": answer})
        elif cmd == "pipe":
            answer = await server.pipe_offer(ROOM, msg["peer"], msg["sdp"])
            conn.send({"cmd": "piped", "sdp": answer})
        elif cmd == "answer":
            await server.subscribe_answer(ROOM, msg["peer"], msg["sdp"])
        elif cmd == "cpu":
            conn.send({"cmd": "cpu", "cpu": time.process_time()})
        elif cmd == "exit":
            await server.close()
            return


def spawn(ctx: Any, target: Any, *args: Any) -> Child:
    conn, child_conn = ctx.Pipe()
    return Child(conn, ctx.Process(target=target, args=(child_conn, *args), daemon=True))


def perms(p: Permissions) -> dict[str, bool]:
    return dataclasses.asdict(p)  # pickled to the node, as signalling.rooms.cascade sends it


class Broadcast:
    """The presenter, `nodes` SFU nodes (the first is the origin), the trainees."""

    def __init__(self, args: argparse.Namespace, clip: Path, nodes: int) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.args = args
        self.publisher = spawn(ctx, publisher_main, str(clip), True)
        self.nodes = [spawn(ctx, node_main) for _ in range(nodes)]
        self.subscriber_procs = [spawn(ctx, subscriber_main, False) for _ in range(args.processes)]
        self.home: dict[str, Child] = {}  # trainee -> its node

    @property
    def children(self) -> list[Child]:
        return [self.publisher, *self.nodes, *self.subscriber_procs]

    async def start(self) -> None:
        for child in self.children:
            child.process.start()
            await child.start()
        origin = self.nodes[0]
        for index, node in enumerate(self.nodes):
            node.handlers["offer"] = self._offer_handler(node, index)
        for proc in self.subscriber_procs:
            proc.handlers["answer"] = self._on_trainee_answer
        published = asyncio.get_running_loop().create_future()

        async def on_publisher_offer(msg: dict[str, Any]) -> None:
            origin.conn.send({"cmd": "join", "peer": "presenter", "permissions": perms(PRESENTER)})
            answer = await origin.ask(
                {"cmd": "publish", "peer": "presenter", "sdp": msg["sdp"]}, "published"
            )
            self.publisher.conn.send({"cmd": "answer", "target": "sfu", "sdp": answer["sdp"]})
            published.set_result(None)

        self.publisher.handlers["offer"] = on_publisher_offer
        self.publisher.conn.send({"cmd": "connect", "target": "sfu"})
        await published
        for index, edge in enumerate(self.nodes[1:], start=1):
            # the edge's pipe peer takes what the origin's subscribe-only peer sends
            edge.conn.send({"cmd": "join", "peer": "pipe", "permissions": perms(PIPE_IN)})
            origin.conn.send(
                {"cmd": "join", "peer": f"pipe{index}", "permissions": perms(Permissions())}
            )

    def _offer_handler(self, node: Child, index: int) -> Any:
        async def on_offer(msg: dict[str, Any]) -> None:
            peer = msg["peer"]
            if peer.startswith("pipe"):
                edge = self.nodes[int(peer[4:])]
                answer = await edge.ask({"cmd": "pipe", "peer": "pipe", "sdp": msg["sdp"]}, "piped")
                node.conn.send({"cmd": "answer", "peer": peer, "sdp": answer["sdp"]})
                return
            number = int(peer[1:])
            with contextlib.suppress(OSError):  # re-offers racing the end of a run
                self.owner(number).conn.send(
                    {"cmd": "offer", "id": peer, "sdp": msg["sdp"], "checker": number < CHECKERS}
                )

        return on_offer

    async def _on_trainee_answer(self, msg: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.home[msg["id"]].conn.send({"cmd": "answer", "peer": msg["id"], "sdp": msg["sdp"]})

    def owner(self, number: int) -> Child:
        return self.subscriber_procs[number % len(self.subscriber_procs)]

    async def cpu(self) -> list[float]:
        return [(await node.ask({"cmd": "cpu"}, "cpu"))["cpu"] for node in self.nodes]

    async def window(self) -> tuple[list[float], float]:
        """(cores used by each node, the slowest trainee's fps) over one window."""
        for proc in self.subscriber_procs:
            await proc.ask({"cmd": "window", "latency": False}, "window")
        before, t0 = await self.cpu(), time.monotonic()
        await asyncio.sleep(self.args.duration)
        after, wall = await self.cpu(), time.monotonic() - t0
        fps: list[float] = []
        for proc in self.subscriber_procs:
            report = await proc.ask({"cmd": "report"}, "report")
            fps += [f / wall for f in report["frames"].values()]
            fps += [d / wall for d in report["decoded"].values()]
        cores = [(a - b) / wall for a, b in zip(after, before, strict=True)]
        return cores, min(fps) if fps else 0.0

    async def add_trainees(self, n: int) -> None:
        """Trainees spread evenly over the nodes; wait until all receive."""
        for number in range(n):
            node = self.nodes[number % len(self.nodes)]
            peer = f"t{number}"
            self.home[peer] = node
            node.conn.send({"cmd": "join", "peer": peer, "permissions": perms(Permissions())})
        deadline = time.monotonic() + 30 + n
        while time.monotonic() < deadline:
            receiving = 0
            for proc in self.subscriber_procs:
                receiving += (await proc.ask({"cmd": "status"}, "status"))["receiving"]
            if receiving >= n:
                break
            await asyncio.sleep(0.5)
        else:
            print(f"  only {receiving} of {n} trainees receive", flush=True)
        await asyncio.sleep(2.5)  # past the next keyframe

    async def stop(self) -> None:
        stop_children(self.children)


def capacity(idle: float, loaded: float, streams: int) -> int:
    """Trainees a node carries at 1 core: what is left after ingest, per measured stream."""
    per_stream = max(loaded - idle, 1e-6) / streams
    return max(0, int((1.0 - idle) / per_stream))


async def run(args: argparse.Namespace, clip: Path) -> dict[str, Any]:
    n = args.n
    one = Broadcast(args, clip, nodes=1)
    await one.start()
    try:
        await asyncio.sleep(3)
        (idle,), _ = await one.window()
        await one.add_trainees(n)
        (loaded,), fps1 = await one.window()
    finally:
        await one.stop()
    viewers_1node = capacity(idle, loaded, n) if fps1 >= 29 else 0
    print(
        f"one node: ingest {idle:.3f} cores, {n} trainees {loaded:.3f} cores, fps_min {fps1:.1f}"
        f" -> {viewers_1node} trainees at 1 core",
        flush=True,
    )

    two = Broadcast(args, clip, nodes=2)
    await two.start()
    try:
        await asyncio.sleep(3)
        (origin_idle, edge_idle), _ = await two.window()
        # N per node, as the one node had: the cost per stream grows with the load,
        # so capacities are compared from the same load per node
        await two.add_trainees(2 * n)
        (origin_loaded, edge_loaded), fps2 = await two.window()
    finally:
        await two.stop()
    per_node = n
    # The origin's idle figure already carries the pipe it sends the edge.
    origin_cap = capacity(origin_idle, origin_loaded, per_node)
    edge_cap = capacity(edge_idle, edge_loaded, per_node)
    viewers_2nodes = origin_cap + edge_cap if fps2 >= 29 else 0
    print(
        f"two nodes: origin ingest+pipe {origin_idle:.3f} -> {origin_loaded:.3f} cores, "
        f"edge pipe {edge_idle:.3f} -> {edge_loaded:.3f} cores with {per_node} trainees each, "
        f"fps_min {fps2:.1f} -> {origin_cap} + {edge_cap} trainees at 1 core each",
        flush=True,
    )
    return {
        "viewers_1node": viewers_1node,
        "viewers_2nodes": viewers_2nodes,
        "scaling": round(viewers_2nodes / viewers_1node, 2) if viewers_1node else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=24, help="trainees per node")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per window")
    parser.add_argument("--processes", type=int, default=2, help="trainee processes")
    parser.add_argument("--clip", default=str(DEFAULT_CLIP))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    clip = Path(args.clip)
    ensure_clip(clip)
    print(json.dumps(asyncio.run(run(args, clip))))


if __name__ == "__main__":
    main()
