"""Soak of the consultation call (issue 15): rooms of three bots coming and going.

The app is served by `python -m signalling serve` in its own process, on a
temporary data directory seeded with the test network
(tests/signalling/care_network.build_network: mc.doc asks, bm.cardio
accepts, bm.radio is invited as the third clinician). Each room is one
consultation with three bots (bench/room_bot.py: aiortc participants over
socket.io, sending generated VP8 video and Opus audio, decoding what they
receive). Then, for `--minutes`, each bot in turn, every 4-12 s:

- stays (nothing happens),
- reloads its page (new socket, new media_session, new connections; half
  of the time the old socket is still open when the new page joins),
- reconnects its socket (same page and media_session; half of the time
  the new socket joins before the old one closes),
- leaves the room (room.leave); an absent bot's next turn joins again.

Every `--checkpoint` seconds the actions pause (those under way finish)
and every present participant must receive advancing video (new frame
numbers, drawn by the right sender) and audio from every other present
participant within `--deadline` seconds; a room where someone did not is
broken (what was missing, the room's last actions, the server's media
counts and log lines go to findings.json). The server's peers, producers
and consumers are compared with who is present. At the end everybody
leaves and what is left is counted: the server's rooms, members, sockets
and UDP sockets; the bench's open peer connections, asyncio tasks, UDP
sockets and decoder threads (against the counts before the first bot).

Video is 320x180 at 15 fps (VP8 encoded by aiortc for each bot): nine
encoders, eighteen decoders and the SFU share this machine's 2 cores at
3 rooms.

The last line printed is a JSON object: rooms, minutes, actions,
signalling_errors, join_p50_s, join_p95_s, broken_rooms, leaks{...}, and
more (see `summary`). Join time is from the page's start (REST token) to
video from everyone in the room who publishes.

Usage: .venv/bin/python bench/soak.py [--rooms 3] [--minutes 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiortc import RTCPeerConnection

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.room_bot import BotFailure, JoinTiming, RoomBot, VideoSpec  # noqa: E402

USERS = ("mc.doc", "bm.cardio", "bm.radio")  # requester, consultant, invited
REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Soak: chest pain, troponin rising",
}
ACTION_TIMEOUT_S = 60.0
ACTIONS = ("stay", "reload", "reload_overlap", "reconnect", "reconnect_overlap", "leave")
WEIGHTS = (35, 15, 10, 12, 8, 20)

log = logging.getLogger("soak")


# The server ------------------------------------------------------------------------------


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def seed(data_dir: Path, ttl: timedelta) -> dict[str, str]:
    """The test network and an administrator in `data_dir`; bearer tokens by username."""
    from sqlalchemy import select

    from signalling.auth.tokens import Audience
    from signalling.db.models import User
    from signalling.platform import open_platform
    from signalling.settings import load_settings
    from tests.signalling.care_network import add_admin, build_network

    settings = load_settings(None, data_dir=data_dir)
    tokens = {}
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        await add_admin(platform, "root")
        async with platform.db() as db:
            for user in await db.scalars(select(User)):
                tokens[user.username], _ = platform.signer.issue(
                    subject=f"user:{user.id}", audience=Audience.API, ttl=ttl
                )
    return tokens


class Server:
    """`python -m signalling serve` on the data dir, its log in a file."""

    def __init__(self, data_dir: Path, log_path: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "signalling",
                "serve",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            env={**os.environ, "TELEHEALTH_LOG_FORMAT": "json"},
        )

    async def ready(self, http: aiohttp.ClientSession, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_path.read_text()[-2000:]}")
            try:
                async with http.get(self.url + "/readyz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            await asyncio.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._log.close()

    def log_lines(self, levels: tuple[str, ...] = ("WARNING", "ERROR", "CRITICAL")) -> list[str]:
        lines = []
        for raw in self.log_path.read_text(errors="replace").splitlines():
            try:
                level = json.loads(raw).get("level")
            except ValueError:
                level = "ERROR" if "Traceback" in raw or "Error" in raw else None
            if level in levels:
                lines.append(raw)
        return lines

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def udp_sockets(pid: int) -> int:
    """UDP sockets `pid` holds open (its fds matched with /proc/net/udp{,6})."""
    inodes = set()
    for name in ("udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{name}")
        if path.exists():
            for line in path.read_text().splitlines()[1:]:
                inodes.add(line.split()[9])
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count


def bench_threads() -> int:
    # the default executor's workers live on; aiortc's encoder/decoder threads must not
    return sum(1 for t in threading.enumerate() if not t.name.startswith("asyncio_"))


# The soak ---------------------------------------------------------------------------------


@dataclass
class Room:
    index: int
    consultation: str
    bots: list[RoomBot]
    history: list[tuple[float, str, str]] = field(default_factory=list)  # (t, bot, action)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 3)


class Soak:
    def __init__(self, args: argparse.Namespace, server: Server, tokens: dict[str, str]) -> None:
        self.args = args
        self.server = server
        self.tokens = tokens
        self.rng = random.Random(args.seed)
        self.video = VideoSpec(320, 180, 15)
        self.admin = aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {tokens['root']}"},
            timeout=aiohttp.ClientTimeout(total=20),
        )
        self.rooms: list[Room] = []
        self.started = time.monotonic()
        self.running = asyncio.Event()
        self.idle = asyncio.Event()
        self.busy = 0
        self.actions: Counter[str] = Counter()
        self.joins: list[JoinTiming] = []
        self.reconnects: list[float] = []
        self.failures: list[dict[str, Any]] = []  # failed checkpoints, in full
        self.broken: set[int] = set()
        self.media_mismatches: list[dict[str, Any]] = []
        self.checkpoints = 0
        self.action_failures = 0

    def t(self) -> float:
        return round(time.monotonic() - self.started, 1)

    # Set-up -------------------------------------------------------------------------

    async def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        async with (
            aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.tokens[user]}"},
                timeout=aiohttp.ClientTimeout(total=20),
            ) as http,
            http.request(method, self.server.url + path, json=body) as response,
        ):
            result = await response.json()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path} as {user}: {response.status} {result}")
            return result

    async def consultation(self) -> str:
        """mc.doc asks, bm.cardio accepts, bm.radio is invited: the consultation's id."""
        created = await self.call("mc.doc", "POST", "/api/consultations", REQUEST)
        cid = str(created["consultation"]["id"])
        await self.call("bm.cardio", "POST", f"/api/consultations/{cid}/accept", {})
        await self.call(
            "mc.doc", "POST", f"/api/consultations/{cid}/participants", {"username": "bm.radio"}
        )
        return cid

    async def setup(self) -> None:
        await self.call("bm.cardio", "PUT", "/api/me/on-call", {"on_call": True})
        for index in range(self.args.rooms):
            cid = await self.consultation()
            bots = [
                RoomBot(
                    self.server.url,
                    self.tokens[user],
                    cid,
                    ident=index * len(USERS) + slot,
                    label=f"r{index}.{user}",
                    video=self.video,
                    media_timeout_s=self.args.join_timeout,
                )
                for slot, user in enumerate(USERS)
            ]
            self.rooms.append(Room(index, cid, bots))

    # Actions ------------------------------------------------------------------------

    async def act(self, room: Room, bot: RoomBot, action: str) -> None:
        bot.action = action
        room.history.append((self.t(), bot.label, action))
        self.actions[action] += 1
        if action == "stay":
            return
        if action == "leave":
            await bot.leave()
            return
        if action in ("join", "rejoin"):
            self.joins.append(await bot.open_page())
        elif action.startswith("reload"):
            self.joins.append(await bot.reload(overlap=action.endswith("overlap")))
        elif action.startswith("reconnect"):
            self.reconnects.append((await bot.reconnect(overlap=action.endswith("overlap"))).ack_s)

    async def guarded(self, room: Room, bot: RoomBot, action: str) -> None:
        try:
            await asyncio.wait_for(self.act(room, bot, action), ACTION_TIMEOUT_S)
        except (BotFailure, TimeoutError) as exc:
            # the page is in no known state: gone, as a user who closes the tab
            self.action_failures += 1
            if isinstance(exc, TimeoutError):
                bot.errors.append(
                    {"at": self.t(), "bot": bot.label, "action": action, "what": "timed out"}
                )
            log.warning("%s %s failed: %r", bot.label, action, exc)
            await bot.abandon()

    async def participant(self, room: Room, bot: RoomBot, until: float) -> None:
        while time.monotonic() < until:
            # wait for the gate, then take the turn at once (no await in between)
            while not self.running.is_set():
                await self.running.wait()
            if time.monotonic() >= until:
                return
            self.busy += 1
            self.idle.clear()
            try:
                if bot.present:
                    action = self.rng.choices(ACTIONS, WEIGHTS)[0]
                else:
                    action = "rejoin"
                await self.guarded(room, bot, action)
            finally:
                self.busy -= 1
                if self.busy == 0:
                    self.idle.set()
            pause = self.rng.uniform(4, 12)
            await asyncio.sleep(min(pause, max(0.0, until - time.monotonic())))

    # Checks -------------------------------------------------------------------------

    async def sessions(self) -> dict[str, dict[str, Any]]:
        async with self.admin.get(self.server.url + "/api/admin/sessions") as response:
            body = await response.json()
        return {str(s["id"]): s for s in body["sessions"]}

    async def checkpoint(self, label: str) -> None:
        self.running.clear()
        if self.busy:
            try:
                await asyncio.wait_for(self.idle.wait(), ACTION_TIMEOUT_S * 2)
            except TimeoutError:
                log.error("checkpoint %s: actions still under way", label)
        self.checkpoints += 1
        since = time.monotonic()
        results = await asyncio.gather(*(self.check_room(room, since) for room in self.rooms))
        await self.check_media_counts(label)
        broken_now = [room.index for room, ok in zip(self.rooms, results, strict=True) if not ok]
        log.info(
            "checkpoint %s at %.0fs: %d rooms, broken %s, actions %s",
            label,
            self.t(),
            len(self.rooms),
            broken_now or "none",
            dict(self.actions),
        )
        self.running.set()

    async def check_room(self, room: Room, since: float) -> bool:
        present = [b for b in room.bots if b.present and b.participant_id]
        deadline = self.args.deadline

        def sees_all(receiver: RoomBot) -> bool:
            return all(self.receives(receiver, s, since) for s in present if s is not receiver)

        oks = await asyncio.gather(
            *(r.wait_until(functools.partial(sees_all, r), deadline) for r in present)
        )
        if all(oks):
            return True
        missing = []
        now = time.monotonic()
        for receiver in present:
            for sender in present:
                if sender is receiver or self.receives(receiver, sender, since):
                    continue
                remote = receiver.remote(str(sender.participant_id))
                missing.append(
                    {
                        "receiver": receiver.label,
                        "sender": sender.label,
                        "sender_participant": sender.participant_id,
                        "video_age_s": _age(now, remote.video_at if remote else None),
                        "audio_age_s": _age(now, remote.audio_at if remote else None),
                        "video_frames": remote.video_frames if remote else 0,
                        "audio_frames": remote.audio_frames if remote else 0,
                        "ident_seen": remote.ident if remote else None,
                        "ident_expected": sender.ident,
                        "tracks": remote.tracks if remote else 0,
                        "tracks_ended": remote.tracks_ended if remote else 0,
                        "receiver_connections": receiver.connection_states(),
                        "sender_connections": sender.connection_states(),
                        "receiver_knows_producers": sorted(
                            p
                            for p, info in (
                                receiver.page.producers if receiver.page else {}
                            ).items()
                            if info["participant_id"] == sender.participant_id
                        ),
                    }
                )
        self.broken.add(room.index)
        sessions = await self.sessions()
        self.failures.append(
            {
                "at_s": self.t(),
                "room": room.index,
                "consultation": room.consultation,
                "present": [b.label for b in present],
                "missing": missing,
                "last_actions": room.history[-12:],
                "server_session": sessions.get(room.consultation),
                "bot_counts": {b.label: dict(b.counts) for b in room.bots},
                "server_log": self.server.log_lines()[-30:],
            }
        )
        log.error("room %d broken: %s", room.index, json.dumps(missing)[:2000])
        return False

    def receives(self, receiver: RoomBot, sender: RoomBot, since: float) -> bool:
        remote = receiver.remote(str(sender.participant_id))
        return (
            remote is not None
            and remote.video_at is not None
            and remote.video_at > since
            and remote.ident == sender.ident
            and remote.audio_at is not None
            and remote.audio_at > since
        )

    async def check_media_counts(self, label: str, timeout: float = 10) -> list[dict[str, Any]]:
        """The server's peers, producers and consumers per room against who is present
        (each publishes audio and video and receives everyone else's)."""
        deadline = time.monotonic() + timeout
        while True:
            sessions = await self.sessions()
            wrong = []
            for room in self.rooms:
                n = sum(1 for b in room.bots if b.present)
                want = {"peers": n, "producers": 2 * n, "consumers": 2 * n * (n - 1)}
                media = (sessions.get(room.consultation) or {}).get("media") or {
                    "peers": 0,
                    "producers": 0,
                    "consumers": 0,
                }
                got = {k: media[k] for k in want}
                if got != want:
                    wrong.append({"room": room.index, "present": n, "want": want, "got": got})
            if not wrong or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)  # another process's state: asked again, bounded
        for w in wrong:
            self.media_mismatches.append({"checkpoint": label, "at_s": self.t(), **w})
        return wrong

    # The run ------------------------------------------------------------------------

    async def run(self) -> dict[str, Any]:
        baseline = {
            "server_udp_sockets": udp_sockets(self.server.process.pid),
            "bench_udp_sockets": udp_sockets(os.getpid()),
            "bench_tasks": len(asyncio.all_tasks()),
            "bench_threads": bench_threads(),
        }
        cpu0 = (self.server.cpu_s(), time.process_time(), time.monotonic())
        await self.setup()
        self.running.set()
        self.idle.set()
        for room in self.rooms:  # everyone comes in
            for bot in room.bots:
                await self.guarded(room, bot, "join")
        await self.checkpoint("start")
        until = time.monotonic() + self.args.minutes * 60
        players = [
            asyncio.ensure_future(self.participant(room, bot, until))
            for room in self.rooms
            for bot in room.bots
        ]
        next_check = time.monotonic() + self.args.checkpoint
        while time.monotonic() < until:
            await asyncio.sleep(max(0.0, min(next_check, until) - time.monotonic()))
            if time.monotonic() < until:
                await self.checkpoint(f"{self.checkpoints}")
                next_check = time.monotonic() + self.args.checkpoint
        await asyncio.wait_for(asyncio.gather(*players), ACTION_TIMEOUT_S * 2)
        await self.checkpoint("end")
        final_mismatch = await self.check_media_counts("end-recheck", timeout=0)
        cpu1 = (self.server.cpu_s(), time.process_time(), time.monotonic())
        stale_peers = sum(max(0, w["got"]["peers"] - w["want"]["peers"]) for w in final_mismatch)

        for room in self.rooms:
            for bot in room.bots:
                bot.action = "end"
                try:
                    await asyncio.wait_for(bot.close(), ACTION_TIMEOUT_S)
                except (BotFailure, TimeoutError):
                    await bot.abandon()
        await self.admin.close()
        leaks = await self.leaks(baseline)
        leaks["server_stale_peers"] = stale_peers
        return self.summary(leaks, cpu0, cpu1)

    async def leaks(self, baseline: dict[str, int]) -> dict[str, int]:
        me = asyncio.current_task()
        others = [t for t in asyncio.all_tasks() if t is not me]
        if len(others) > baseline["bench_tasks"] - 1:
            await asyncio.wait(others, timeout=10)
        left_tasks = [t for t in asyncio.all_tasks() if not t.done() and t is not me]
        if left_tasks:
            log.warning("tasks left: %s", [repr(t.get_coro()) for t in left_tasks][:20])
        gc.collect()
        open_pcs = sum(
            1
            for o in gc.get_objects()
            if isinstance(o, RTCPeerConnection) and o.connectionState != "closed"
        )
        nodes: dict[str, Any] = {}
        sockets_gauge = -1.0
        async with aiohttp.ClientSession(
            headers={"Authorization": f"Bearer {self.tokens['root']}"},
            timeout=aiohttp.ClientTimeout(total=20),
        ) as http:
            deadline = time.monotonic() + 30
            while True:
                async with http.get(self.server.url + "/api/admin/nodes") as response:
                    listed = (await response.json())["nodes"]
                nodes = listed[0] if listed else {}
                async with http.get(self.server.url + "/metrics") as response:
                    text = await response.text()
                match = re.search(r"^telehealth_socketio_connections (\S+)$", text, re.M)
                sockets_gauge = float(match.group(1)) if match else -1.0
                server_udp = udp_sockets(self.server.process.pid)
                settled = (
                    nodes.get("rooms", 0) == 0
                    and nodes.get("members", 0) == 0
                    and nodes.get("sockets", 0) == 0
                    and sockets_gauge == 0
                    and server_udp <= baseline["server_udp_sockets"]
                )
                if settled or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.5)  # the server's state, asked again (bounded)
        return {
            "server_rooms": int(nodes.get("rooms", 0)),
            "server_members": int(nodes.get("members", 0)),
            "server_sockets": int(nodes.get("sockets", 0)),
            "server_socketio_connections": int(sockets_gauge),
            "server_udp_sockets": max(0, server_udp - baseline["server_udp_sockets"]),
            "bot_peer_connections": open_pcs,
            "bench_tasks": len(left_tasks),
            "bench_udp_sockets": max(0, udp_sockets(os.getpid()) - baseline["bench_udp_sockets"]),
            "bench_threads": max(0, bench_threads() - baseline["bench_threads"]),
        }

    def summary(
        self,
        leaks: dict[str, int],
        cpu0: tuple[float, float, float],
        cpu1: tuple[float, float, float],
    ) -> dict[str, Any]:
        bots = [b for room in self.rooms for b in room.bots]
        errors = [e for b in bots for e in b.errors]
        media = [j.media_s for j in self.joins if j.media_s is not None]
        timeouts = sum(1 for j in self.joins if j.media_s is None)
        # a join that never saw everyone counts at the cap, not as fast
        media_capped = media + [self.args.join_timeout] * timeouts
        wall = cpu1[2] - cpu0[2]
        counts: Counter[str] = Counter()
        for b in bots:
            counts.update(b.counts)
        return {
            "rooms": self.args.rooms,
            "participants": len(bots),
            "minutes": self.args.minutes,
            "video": self.video.describe() + " (aiortc encoder), audio Opus 48 kHz mono",
            "actions": dict(sorted(self.actions.items())),
            "checkpoints": self.checkpoints,
            "signalling_errors": len(errors),
            "action_failures": self.action_failures,
            "joins": len(self.joins),
            "join_p50_s": percentile(media_capped, 50),
            "join_p95_s": percentile(media_capped, 95),
            "join_timeouts": timeouts,
            "join_ack_p95_s": percentile([j.ack_s for j in self.joins], 95),
            "reconnect_p95_s": percentile(self.reconnects, 95),
            "broken_rooms": len(self.broken),
            "failed_checks": len(self.failures),
            "media_count_mismatches": len(self.media_mismatches),
            "media_closed": counts["media_closed"],
            "media_not_resumed": counts["media_not_resumed"],
            "peer_connections_made": counts["peer_connections"],
            "leaks": leaks,
            "server_cpu_cores": round((cpu1[0] - cpu0[0]) / wall, 3),
            "bench_cpu_cores": round((cpu1[1] - cpu0[1]) / wall, 3),
            "server_log_errors": len(self.server.log_lines(("ERROR", "CRITICAL"))),
            "load_average": round(os.getloadavg()[0], 1),
            "errors_sample": [{k: e.get(k) for k in ("bot", "action", "what")} for e in errors[:5]],
        }

    def findings(self) -> dict[str, Any]:
        return {
            "broken": self.failures,
            "media_count_mismatches": self.media_mismatches,
            "errors": [e for room in self.rooms for b in room.bots for e in b.errors],
            "histories": {room.index: room.history for room in self.rooms},
        }


def _age(now: float, at: float | None) -> float | None:
    return None if at is None else round(now - at, 2)


async def main(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    tokens = await seed(work / "data", ttl=timedelta(minutes=args.minutes + 60))
    server = Server(work / "data", work / "server.log")
    soak: Soak | None = None
    try:
        async with aiohttp.ClientSession() as http:
            await server.ready(http)
        soak = Soak(args, server, tokens)
        result = await soak.run()
    finally:
        server.stop()
        if soak is not None:
            out = Path(args.findings) if args.findings else work / "findings.json"
            out.write_text(json.dumps(soak.findings(), indent=1, default=str))
            log.info("findings: %s; server log: %s", out, server.log_path)
    result["findings"] = str(out)
    if args.keep or result["broken_rooms"] or result["signalling_errors"]:
        result["server_log"] = str(server.log_path)
    else:
        shutil.rmtree(work / "data", ignore_errors=True)
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rooms", type=int, default=int(os.environ.get("SOAK_ROOMS", 3)))
    parser.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 30)))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--checkpoint", type=float, default=None, help="seconds between checks [60]"
    )
    parser.add_argument("--deadline", type=float, default=10.0, help="seconds to see everyone")
    parser.add_argument("--join-timeout", type=float, default=20.0)
    parser.add_argument("--findings", help="where findings.json goes [the run's temp dir]")
    parser.add_argument("--keep", action="store_true", help="keep the data dir and server log")
    args = parser.parse_args(argv)
    if args.checkpoint is None:
        args.checkpoint = min(60.0, max(10.0, args.minutes * 60 / 2))
    assert 1 <= args.rooms <= 80, "rooms: 1 to 80 (bot idents are 8 bits)"
    return args


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for quiet in ("alembic", "signalling"):
        logging.getLogger(quiet).setLevel(logging.WARNING)
    logging.getLogger("aioice").setLevel(logging.WARNING)
    logging.getLogger("aiortc").setLevel(logging.WARNING)
    logging.getLogger("socketio").setLevel(logging.WARNING)
    logging.getLogger("engineio").setLevel(logging.WARNING)
    summary = asyncio.run(main(parse_args()))
    print(json.dumps(summary), flush=True)
