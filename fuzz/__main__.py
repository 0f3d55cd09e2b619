"""Run fuzz targets one after the other and print what each did.

``python -m fuzz <target>|all --runs N``: per target, the inputs executed,
crashes (and known findings, and catch-all refusals), peak memory of its
process and seconds. Exits 1 if any target crashed, stopped early or went
over its memory bound.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from dicom_viewer.isolated_decode import WORKER_ADDRESS_SPACE

from .driver import TARGETS, read_counters
from .findings import ROOT


@dataclass(frozen=True)
class Outcome:
    target: str
    executed: int
    crashes: int
    known: int
    fallbacks: int
    peak_mb: float
    """the target's own process: what one input may cost"""
    workers_mb: float
    """its worker processes (GDCM decodes), counted when they end"""
    seconds: float
    exit_code: int
    artifacts: Path

    def problems(self, runs: int, rss_limit_mb: int) -> list[str]:
        found = []
        if self.crashes:
            found.append(f"{self.crashes} crashing input(s)")
        if self.exit_code != 0:
            found.append(f"libFuzzer stopped with exit code {self.exit_code} (timeout, OOM?)")
        if self.executed < runs:
            found.append(f"only {self.executed} of {runs} inputs ran")
        if self.peak_mb > rss_limit_mb:
            found.append(f"peak memory {self.peak_mb:.0f} MB over {rss_limit_mb} MB")
        # A decoder worker has its own bound: its address-space cap, sized for the
        # largest frame the ingest limits admit; beyond it the frame is refused.
        worker_limit_mb = WORKER_ADDRESS_SPACE >> 20
        if self.workers_mb > worker_limit_mb:
            found.append(
                f"a worker's peak memory {self.workers_mb:.0f} MB over its cap {worker_limit_mb} MB"
            )
        return found


def run_target(
    target: str, runs: int, artifacts: Path, rss_limit_mb: int, timeout: int, seed: int
) -> Outcome:
    where = artifacts / target
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    stats = where / "stats.bin"
    command = [
        sys.executable,
        "-m",
        "fuzz.driver",
        target,
        f"--runs={runs}",
        f"--stats={stats}",
        f"--artifacts={where}",
        f"--rss-limit-mb={rss_limit_mb}",
        f"--timeout={timeout}",
        f"--seed={seed}",
    ]
    started = time.monotonic()
    with (where / "libfuzzer.log").open("wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
        # wait4's peak covers the child and its finished workers (KiB on Linux)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    executed, crashes, known, fallbacks, own_kib, workers_kib = (
        read_counters(stats) if stats.exists() else (0,) * 6
    )
    return Outcome(
        target,
        executed,
        crashes,
        known,
        fallbacks,
        # the child's own peak as it measured it; the whole tree's if it died early
        (own_kib or usage.ru_maxrss) / 1024,
        workers_kib / 1024,
        seconds,
        child.returncode,
        where,
    )


def _print(outcome: Outcome, problems: list[str]) -> None:
    print(
        f"{outcome.target:7} inputs executed {outcome.executed:>9,}  crashes {outcome.crashes}"
        f"  known findings {outcome.known}  catch-all refusals {outcome.fallbacks}"
        f"  peak memory {outcome.peak_mb:,.0f} MB"
        + (f" (workers {outcome.workers_mb:,.0f} MB)" if outcome.workers_mb else "")
        + f"  {outcome.seconds:,.1f} s"
        + ("" if not problems else "  FAILED: " + "; ".join(problems)),
        flush=True,
    )
    findings = outcome.artifacts / "findings.json"
    if findings.exists():
        for sig, entry in json.loads(findings.read_text(encoding="utf-8")).items():
            print(f"          {entry['kind']:8} x{entry['count']:<6} {sig}  ({entry['input']})")
    if outcome.exit_code != 0:
        print(f"          see {outcome.artifacts / 'libfuzzer.log'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("target", choices=[*sorted(TARGETS), "all"])
    parser.add_argument("--runs", type=int, default=100_000, help="inputs per target")
    parser.add_argument("--artifacts", type=Path, default=ROOT / "build" / "fuzz")
    parser.add_argument(
        "--rss-limit-mb", type=int, default=1024, help="memory bound of a target's process"
    )
    parser.add_argument("--timeout", type=int, default=20, help="seconds one input may take")
    parser.add_argument("--seed", type=int, default=1, help="libFuzzer's random seed")
    args = parser.parse_args(argv)
    names = sorted(TARGETS) if args.target == "all" else [args.target]
    failed = False
    for name in names:
        outcome = run_target(
            name, args.runs, args.artifacts, args.rss_limit_mb, args.timeout, args.seed
        )
        problems = outcome.problems(args.runs, args.rss_limit_mb)
        _print(outcome, problems)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
