"""What a district doctor on a thin link gets in a consultation call (``make bench-field``).

Real Chromium pages publish with the browser's own encoder (fake camera and
microphone). The district doctor (mc.doc) runs in a network namespace whose
veth link is shaped (tests/web_client/netns.py: tbf for the rate, iptables
for random loss and outages, at both ends); the specialist (bm.cardio) runs
on the host, unshaped; the server (signalling + SFU) runs in this process,
listening on loopback and on the host end of the veth.

Each scenario is a new consultation and new pages: the specialist enters the
room (and, in scenario 5, three more publishers), the doctor logs in, the
link is shaped, then the doctor enters the room; the scenario's clock starts
there and runs FIELD_SECONDS (default 60). Both pages are polled with
getStats() once a second (bench/field_stats.py); what they got is summed
over the first and the second half of the scenario (30 s each at the
default length), so that convergence and steady state are both visible.

Scenarios (the doctor's link; FIELD_SCENARIOS=2,3 picks some, scenario 1 is
always run first, as the reference of the ratios):

1. unshaped (this run's baseline)
2. 300 kbit/s and 5 % loss, both ways
3. 20 % loss, no rate limit
4. 1 Mbit/s and 2 % loss
5. 300 kbit/s, four videos towards the doctor: the specialist and three more
   publishers, aiortc bots of bench/room_bot.py (320x180 at 15 fps, their own
   VP8 encoder, Opus at a browser's 32 kbit/s) by default, or Chromium pages
   with FIELD_EXTRA=chromium
6. unshaped, cut at 20 s, restored at 30 s: seconds from the restore until
   the doctor's video frames (5 more decoded) and audio (100 ms more heard,
   not concealed) advance again (this scenario lasts at least 50 s)

Every sample's selected candidate pairs at the doctor must be across the veth
(remote address: the host end), or the scenario fails: the numbers are those
of the shaped path. One JSON line per scenario, then a table.

FIELD_PACING=off runs the SFU without its pacer (media_server/pacer.py), for
a before/after of pacing on the same machine in the same hour.

Usage: FIELD_SECONDS=15 FIELD_SCENARIOS=2 .venv/bin/python bench/field.py
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright

from bench.field_stats import (
    ADVANCE_COUNTERS,
    PAGE_STATS,
    Sample,
    advanced,
    audio_in,
    ratio,
    video_in,
    video_out,
)
from bench.room_bot import RoomBot, speak_at_a_browsers_rate
from media_server.pacer import Pacer
from signalling.platform import Platform
from tests.conftest import free_port
from tests.signalling.care_network import accepted_consultation, member
from tests.signalling.conftest import make_settings
from tests.signalling.realtime.test_server import staff_token
from tests.signalling.rooms.test_manager import REQUEST
from tests.web_client.conftest import CHROMIUM_ARGS
from tests.web_client.netns import Namespace, chromium_in, network_namespace, serve_on
from tests.web_client.test_call_browser import COUNT_PEER_CONNECTIONS, enter_room
from tests.web_client.test_consultation_browser import log_in

DOCTOR, SPECIALIST = "mc.doc", "bm.cardio"
EXTRA_PUBLISHERS = ("hue.cardio", "cr.cardio", "bm.radio")
VIEWPORT = ViewportSize(width=1280, height=900)
# Recovery after an outage: this much more at the doctor counts as advancing again.
FRAMES_AGAIN = 5
AUDIO_SAMPLES_AGAIN = 4800  # 100 ms at 48 kHz
OUTAGE_MIN_SECONDS = 50.0


@dataclass(frozen=True)
class Scenario:
    number: int
    name: str
    rate_kbit: int | None = None
    loss: float = 0.0
    extra_publishers: bool = False
    outage: tuple[float, float] | None = None  # (cut at, restore at), s into the scenario


SCENARIOS = {
    s.number: s
    for s in (
        Scenario(1, "unshaped"),
        Scenario(2, "300 kbit/s + 5% loss", 300, 0.05),
        Scenario(3, "20% loss", None, 0.20),
        Scenario(4, "1 Mbit/s + 2% loss", 1000, 0.02),
        Scenario(5, "300 kbit/s, 4 videos in", 300, 0.0, extra_publishers=True),
        Scenario(6, "10 s outage", outage=(20.0, 30.0)),
    )
}


@dataclass
class Bench:
    """What lasts the whole run: the namespace, the server, the two browsers."""

    ns: Namespace
    platform: Platform
    host_url: str  # for pages on the host (loopback: a secure origin)
    origin: str  # the server as the namespace reaches it
    host_browser: Browser
    ns_browser: Browser
    seconds: float
    extra: str  # "bots" or "chromium"


@dataclass
class Run:
    """One scenario's pages and what was polled of them."""

    doctor: Page | None = None
    specialist: Page | None = None
    names: dict[str, str] = field(default_factory=dict)  # participant id -> username
    doctor_samples: list[Sample] = field(default_factory=list)
    specialist_samples: list[Sample] = field(default_factory=list)
    off_veth: list[Any] = field(default_factory=list)
    pairs_seen: set[str] = field(default_factory=set)
    recovery: dict[str, float | None] = field(default_factory=dict)


# --- setting a scenario up ------------------------------------------------------------


async def new_consultation(bench: Bench, invite: tuple[str, ...]) -> str:
    cid = await accepted_consultation(bench.platform, bench.host_url, REQUEST)
    if invite:
        spec = await member(bench.platform, bench.host_url, SPECIALIST, online=False)
        try:
            for colleague in invite:
                status, body = await spec.call(
                    "POST", f"/api/consultations/{cid}/participants", {"username": colleague}
                )
                assert status == 201, body
        finally:
            await spec.close()
    return cid


async def new_context(browser: Browser, contexts: list[BrowserContext]) -> BrowserContext:
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(f"({COUNT_PEER_CONNECTIONS})()")
    contexts.append(context)
    return context


@contextlib.asynccontextmanager
async def extra_publishers(
    bench: Bench, cid: str, contexts: list[BrowserContext], names: dict[str, str]
) -> AsyncIterator[None]:
    """Three more publishers in the room, as bots or as Chromium pages on the host."""
    bots: list[RoomBot] = []
    try:
        for i, username in enumerate(EXTRA_PUBLISHERS):
            if bench.extra == "chromium":
                page = await log_in(
                    await new_context(bench.host_browser, contexts), bench.host_url, username
                )
                names[await enter_room(page, cid)] = username
            else:
                speak_at_a_browsers_rate()
                token = await staff_token(bench.platform, username)
                bot = RoomBot(bench.host_url, token, cid, ident=i + 1, label=username)
                bots.append(bot)
                await bot.open_page()
                assert bot.participant_id is not None, bot.errors
                names[bot.participant_id] = username
        yield
    finally:
        for bot in bots:
            await bot.close()


# --- polling ----------------------------------------------------------------------------


async def poll(page: Page, started: float, into: list[Sample]) -> list[Any]:
    sample: Sample = await page.evaluate(PAGE_STATS)
    sample["at"] = round(time.monotonic() - started, 2)
    into.append(sample)
    return list(sample["pairs"])


async def sampler(bench: Bench, run: Run, started: float) -> None:
    """Both pages once a second (until cancelled); the doctor's pairs checked each time."""
    assert run.doctor is not None and run.specialist is not None
    tick = 0
    while True:
        polled = await asyncio.gather(
            poll(run.doctor, started, run.doctor_samples),
            poll(run.specialist, started, run.specialist_samples),
        )
        pairs: list[Any] = polled[0]
        for pair in pairs:
            if pair["remoteAddress"] is None:
                continue
            run.pairs_seen.add(str(pair["local"]))
            if pair["remoteAddress"] != bench.ns.host_addr:
                run.off_veth.append(pair)
        tick += 1
        await asyncio.sleep(max(0.0, started + tick - time.monotonic()))


async def advance_after_restore(
    page: Page, restored: float, until: float
) -> dict[str, float | None]:
    """Seconds from the restore until video and audio advance again at the doctor."""
    mark = await page.evaluate(ADVANCE_COUNTERS)
    found: dict[str, float | None] = {"video_s": None, "audio_s": None}
    needed = {"video_s": ("video", FRAMES_AGAIN), "audio_s": ("audio", AUDIO_SAMPLES_AGAIN)}
    while time.monotonic() < until and None in found.values():
        now = await page.evaluate(ADVANCE_COUNTERS)
        for name, (kind, amount) in needed.items():
            if found[name] is None and advanced(now[kind], mark[kind]) >= amount:
                found[name] = round(time.monotonic() - restored, 2)
        await asyncio.sleep(0.1)
    return found


async def at(started: float, offset: float) -> None:
    await asyncio.sleep(max(0.0, started + offset - time.monotonic()))


# --- one scenario -----------------------------------------------------------------------


def duration(bench: Bench, scenario: Scenario) -> float:
    return bench.seconds if scenario.outage is None else max(bench.seconds, OUTAGE_MIN_SECONDS)


async def run_scenario(bench: Bench, scenario: Scenario) -> Run:
    run = Run()
    ns = bench.ns
    seconds = duration(bench, scenario)
    cid = await new_consultation(bench, EXTRA_PUBLISHERS if scenario.extra_publishers else ())
    contexts: list[BrowserContext] = []
    try:
        await ns.unshape()
        run.specialist = await log_in(
            await new_context(bench.host_browser, contexts), bench.host_url, SPECIALIST
        )
        run.names[await enter_room(run.specialist, cid)] = SPECIALIST
        extras: contextlib.AbstractAsyncContextManager[None] = contextlib.nullcontext()
        if scenario.extra_publishers:
            extras = extra_publishers(bench, cid, contexts, run.names)
        async with extras:
            run.doctor = await log_in(
                await new_context(bench.ns_browser, contexts), bench.origin + "/", DOCTOR
            )
            await ns.shape(scenario.rate_kbit, scenario.loss)
            started = time.monotonic()
            run.names[await enter_room(run.doctor, cid)] = DOCTOR
            polling = asyncio.create_task(sampler(bench, run, started))
            try:
                if scenario.outage is not None:
                    cut_at, restore_at = scenario.outage
                    await at(started, cut_at)
                    await ns.cut()
                    await at(started, restore_at)
                    await ns.restore()
                    run.recovery = await advance_after_restore(
                        run.doctor, time.monotonic(), started + seconds
                    )
                await at(started, seconds + 0.5)  # the last poll at `seconds`
            finally:
                polling.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await polling
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                await context.close()
        await ns.unshape()
    assert run.pairs_seen, "the doctor's page never had a selected candidate pair"
    assert not run.off_veth, f"the doctor's media left the veth: {run.off_veth[:3]}"
    return run


# --- what a scenario gave ---------------------------------------------------------------


def summarise(run: Run, seconds: float) -> dict[str, Any]:
    ids = {name: pid for pid, name in run.names.items()}
    half = seconds / 2
    windows = {"first": (0.0, half), "last": (seconds - half, seconds + 1.0)}
    first_video = next(
        (
            s["at"]
            for s in run.doctor_samples
            if any(x["framesDecoded"] for x in s["inbound"] if x["who"] == ids[SPECIALIST])
        ),
        None,
    )
    out: dict[str, Any] = {"first_video_s": first_video}
    for label, window in windows.items():
        receives = {
            name: {
                "video": video_in(run.doctor_samples, pid, window),
                "audio": audio_in(run.doctor_samples, pid, window),
            }
            for pid, name in run.names.items()
            if name != DOCTOR
        }
        out[label] = {
            "doctor_receives": receives,
            "doctor_sends": video_out(run.doctor_samples, window),
            "specialist_receives": video_in(run.specialist_samples, ids[DOCTOR], window),
            "specialist_sends": video_out(run.specialist_samples, window),
        }
    return out


def ratios(result: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, float | None]:
    """Headline figures of the last window against the baseline's last window (the
    same run); none without a baseline."""

    def figures(line: dict[str, Any]) -> dict[str, float | None]:
        last = line["last"]
        return {
            "fps_ratio": last["doctor_receives"][SPECIALIST]["video"]["fps"],
            "height_ratio": last["doctor_receives"][SPECIALIST]["video"]["height"],
            "doctor_target_ratio": last["doctor_sends"]["target_kbit_s"],
            "specialist_sees_fps_ratio": last["specialist_receives"]["fps"],
        }

    now = figures(result)
    base = figures(baseline) if baseline is not None else {}
    return {name: ratio(value, base.get(name)) for name, value in now.items()}


def table(lines: list[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':<26} {'win':<5} {'fps':>5} {'h':>5} {'frz s':>6} {'frz':>4} {'loss%':>6} "
        f"{'conc%':>6} | {'doc out':>7} {'limit':<9} {'h':>4} {'fps':>4} | {'sees':>5} {'h':>4} "
        f"| {'spec out':>8} {'h':>4} | {'fps×':>5} {'others fps':<14}"
    )
    rows = [head, "-" * len(head)]

    def cell(value: Any, width: int) -> str:
        return f"{'-' if value is None else value:>{width}}"

    for line in lines:
        name = f"{line['scenario']}. {line['name']}"
        if "error" in line:
            rows.append(f"{name:<26} failed: {line['error']}")
            continue
        for label in ("first", "last"):
            w = line[label]
            spec = w["doctor_receives"][SPECIALIST]
            others = [v["video"]["fps"] for k, v in w["doctor_receives"].items() if k != SPECIALIST]
            out, sees, sends = w["doctor_sends"], w["specialist_receives"], w["specialist_sends"]
            rows.append(
                f"{name if label == 'first' else '':<26} {label:<5} "
                f"{cell(spec['video']['fps'], 5)} "
                f"{cell(spec['video']['height'], 5)} {cell(spec['video']['freeze_s'], 6)} "
                f"{cell(spec['video']['freezes'], 4)} {cell(spec['video']['loss_pct'], 6)} "
                f"{cell(spec['audio']['concealed_pct'], 6)} | {cell(out['target_kbit_s'], 7)} "
                f"{out['limit'] or '-':<9} {cell(out['height'], 4)} {cell(out['fps'], 4)} | "
                f"{cell(sees['fps'], 5)} {cell(sees['height'], 4)} | "
                f"{cell(sends['kbit_s'], 8)} {cell(sends['height'], 4)} | "
                f"{cell(line['ratios']['fps_ratio'] if label == 'last' else None, 5)} "
                f"{','.join(str(x) for x in others) if others else '':<14}"
            )
        if line.get("recovery"):
            rec = line["recovery"]
            rows.append(
                f"{'':<26} after the restore: video {rec['video_s']} s, audio {rec['audio_s']} s"
            )
    legend = (
        "fps/h/frz/loss/conc: the doctor receives the specialist (median fps, frame height, "
        "freeze seconds and count, packets lost %, audio concealed %); doc out: the doctor's "
        "target kbit/s, quality limitation, height, fps; sees: the specialist receives the "
        "doctor; spec out: the specialist sends (kbit/s, height); fps×: fps against the "
        "baseline; others fps: the other publishers at the doctor"
    )
    return "\n".join([*rows, "", legend])


# --- the run ----------------------------------------------------------------------------


def unpaced(pacer: type[Pacer]) -> None:
    """Every pacer told there is no estimate: nothing paced (FIELD_PACING=off)."""
    set_estimate = pacer.set_estimate

    def no_estimate(self: Pacer, estimate_bps: float | None, now: float | None = None) -> None:
        set_estimate(self, None, now)

    pacer.set_estimate = no_estimate  # type: ignore[method-assign]


def chosen() -> list[Scenario]:
    picked = os.environ.get("FIELD_SCENARIOS", "")
    numbers = [int(x) for x in picked.split(",") if x.strip()] or list(SCENARIOS)
    unknown = [n for n in numbers if n not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenarios {unknown}; there are {sorted(SCENARIOS)}")
    return [SCENARIOS[1]] + [SCENARIOS[n] for n in sorted(set(numbers)) if n != 1]


@contextlib.asynccontextmanager
async def bench_setup(workdir: Path, seconds: float, extra: str) -> AsyncIterator[Bench]:
    async with network_namespace(workdir) as ns:
        port = free_port()
        settings = make_settings(workdir, public_url=ns.origin(port))
        async with (
            serve_on(settings, ("127.0.0.1", ns.host_addr), port) as (platform, _),
            async_playwright() as playwright,
        ):
            host_browser = await playwright.chromium.launch(
                executable_path="/usr/bin/chromium", headless=True, args=CHROMIUM_ARGS
            )
            try:
                async with chromium_in(ns, ns.origin(port)) as ns_browser:
                    yield Bench(
                        ns=ns,
                        platform=platform,
                        host_url=f"http://127.0.0.1:{port}/",
                        origin=ns.origin(port),
                        host_browser=host_browser,
                        ns_browser=ns_browser,
                        seconds=seconds,
                        extra=extra,
                    )
            finally:
                await host_browser.close()


async def measure(
    bench: Bench, scenario: Scenario, baseline: dict[str, Any] | None
) -> dict[str, Any]:
    seconds = duration(bench, scenario)
    line: dict[str, Any] = {
        "scenario": scenario.number,
        "name": scenario.name,
        "seconds": seconds,
        "link": {"rate_kbit": scenario.rate_kbit, "loss": scenario.loss, "outage": scenario.outage},
        "publishers_to_doctor": (
            f"1 Chromium + 3 {'Chromium pages' if bench.extra == 'chromium' else 'aiortc bots'}"
            if scenario.extra_publishers
            else "1 Chromium"
        ),
    }
    try:
        run = await run_scenario(bench, scenario)
    except Exception as exc:  # one scenario failing must not lose the others
        line["error"] = f"{type(exc).__name__}: {exc}"[:300]
        return line
    line.update(summarise(run, seconds))
    line["ratios"] = ratios(line, line if scenario.number == 1 else baseline)
    if run.recovery:
        line["recovery"] = run.recovery
    line["doctor_pairs"] = sorted(run.pairs_seen)
    line["load_average"] = round(os.getloadavg()[0], 1)
    return line


async def main() -> None:
    seconds = float(os.environ.get("FIELD_SECONDS", "60"))
    extra = os.environ.get("FIELD_EXTRA", "bots")
    if extra not in ("bots", "chromium"):
        raise SystemExit("FIELD_EXTRA is bots or chromium")
    scenarios = chosen()
    task = asyncio.current_task()
    assert task is not None
    # SIGTERM tears down like Ctrl-C: the context managers' finally blocks run.
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    lines: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-field-") as tmp:
        async with bench_setup(Path(tmp), seconds, extra) as bench:
            baseline: dict[str, Any] | None = None
            for scenario in scenarios:
                line = await measure(bench, scenario, baseline)
                if scenario.number == 1 and "error" not in line:
                    baseline = line
                print(json.dumps(line, ensure_ascii=False), flush=True)
                lines.append(line)
    print()
    print(table(lines))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("FIELD_DEBUG"):  # what the stream allocators decide, twice a second
        logging.getLogger("media_server.peer").setLevel(logging.DEBUG)
    if os.environ.get("FIELD_PACING") == "off":
        unpaced(Pacer)
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        print("interrupted; torn down", file=sys.stderr)
        raise SystemExit(130) from None
    except pytest.skip.Exception as exc:  # the harness says what this machine lacks
        raise SystemExit(f"cannot run here: {exc}") from None
