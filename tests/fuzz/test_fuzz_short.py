"""A short run of every fuzz target (``make fuzz`` runs them long): any crash,
early stop or memory over the bound fails the run, hence the test."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fuzz.driver import TARGETS

ROOT = Path(__file__).resolve().parents[2]
# a few thousand inputs each; DICOM inputs cost ~6 ms, the others well under 1 ms
RUNS = {"dicom": 2_000, "events": 4_000, "sdp": 4_000, "tokens": 4_000}
LINE = re.compile(r"inputs executed\s+([\d,]+)\s+crashes (\d+)")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_short_fuzz_run_finds_nothing_new(target: str, tmp_path: Path) -> None:
    runs = RUNS[target]
    done = subprocess.run(
        [sys.executable, "-m", "fuzz", target, f"--runs={runs}", f"--artifacts={tmp_path}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    report = done.stdout + done.stderr
    log = tmp_path / target / "libfuzzer.log"
    if done.returncode != 0 and log.exists():
        report += "\n--- libFuzzer log (end) ---\n" + log.read_text(errors="replace")[-3000:]
    assert done.returncode == 0, report
    match = LINE.search(done.stdout)
    assert match is not None, report
    assert int(match.group(1).replace(",", "")) >= runs
    assert int(match.group(2)) == 0, report
