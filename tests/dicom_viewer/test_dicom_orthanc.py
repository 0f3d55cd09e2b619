"""Interoperability: a real Orthanc sends a study to the platform's SCP.

Orthanc (Debian package) runs with the SCP inside a loopback-only network
namespace, as TESTDATA.md advises. Skipped when Orthanc or network
namespaces are not available on the machine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

HELPER = Path(__file__).with_name("orthanc_move.py")
REPO = Path(__file__).resolve().parents[2]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(
    shutil.which("Orthanc") is None or not _namespaces_work(),
    reason="needs the Debian orthanc package and network namespaces",
)


def test_orthanc_c_moves_a_study_into_the_scp(ct5n: list[Path]) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    script = f'ip link set lo up && exec "{sys.executable}" "{HELPER}" "$@"'
    completed = subprocess.run(
        ["unshare", "-n", "sh", "-c", script, "sh", *map(str, ct5n)],
        capture_output=True,
        check=False,
        cwd=REPO,
        env=env,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-2000:]
    report = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    assert report["store_status"] == [0] * 5
    assert report["move_status"][-1] == 0  # the final C-MOVE response: success
    assert report["origins"] == ["ORTHANC"]
    sent = {str(dcmread(p).SOPInstanceUID) for p in ct5n}
    assert set(report["received"]) == sent
    assert all(report["received"].values())  # pixel data arrived unchanged
