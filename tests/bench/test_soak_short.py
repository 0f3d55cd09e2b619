"""A short run of the call soak (``make soak`` runs it long): one room of three bots
coming and going for a minute; every check must find every present participant
receiving everyone else, and nothing may be left over when they have gone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.media_server.sfu_clients import requires_network

ROOT = Path(__file__).resolve().parents[2]

pytestmark = requires_network


@pytest.mark.timeout(420)
def test_one_room_for_a_minute_stays_whole_and_leaks_nothing(tmp_path: Path) -> None:
    findings = tmp_path / "findings.json"
    done = subprocess.run(
        [
            sys.executable,
            "bench/soak.py",
            "--rooms=1",
            "--minutes=1",
            "--checkpoint=20",
            f"--findings={findings}",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    report = done.stderr[-6000:]
    if findings.exists():
        report += "\n--- findings ---\n" + findings.read_text()[:6000]
    assert done.returncode == 0, report
    result = json.loads(done.stdout.strip().splitlines()[-1])
    # it did come and go, and looked
    assert result["joins"] >= 3 and sum(result["actions"].values()) > 3, result
    assert result["checkpoints"] >= 3, result
    assert result["broken_rooms"] == 0, report
    assert result["leaks"] == dict.fromkeys(result["leaks"], 0), result
