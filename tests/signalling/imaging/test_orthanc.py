"""Interoperability: a real Orthanc C-MOVEs a study into the platform's
C-STORE receiver, and it lands in the patient's consultation.

Orthanc (Debian package) runs with the platform inside a loopback-only
network namespace, as TESTDATA.md advises; skipped when Orthanc or network
namespaces are not available.
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

from tests.signalling.imaging_helpers import ct5n

REPO = Path(__file__).resolve().parents[3]


def _namespaces_work() -> bool:
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return False
    return (
        subprocess.run(["unshare", "-n", "true"], capture_output=True, check=False).returncode == 0
    )


pytestmark = pytest.mark.skipif(
    shutil.which("Orthanc") is None or not _namespaces_work(),
    reason="needs the Debian orthanc package and network namespaces",
)


def test_orthanc_sends_a_study_into_a_consultation() -> None:
    paths = ct5n()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    helper = "tests.signalling.orthanc_into_platform"
    script = f'ip link set lo up && exec "{sys.executable}" -m {helper} "$@"'
    completed = subprocess.run(
        ["unshare", "-n", "sh", "-c", script, "sh", *map(str, paths)],
        capture_output=True,
        check=False,
        cwd=REPO,
        env=env,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr.decode()[-3000:]
    report = json.loads(completed.stdout.decode().strip().splitlines()[-1])
    assert report["store_status"] == [0] * 5
    assert report["move_status"][-1] == 0
    sent = [dcmread(p) for p in paths]
    assert report["linked"] == [str(sent[0].StudyInstanceUID)]
    assert report["instances"] == sorted(str(ds.SOPInstanceUID) for ds in sent)
    assert report["actors"] == ["dicom:ORTHANC"]
