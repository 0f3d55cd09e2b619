"""A district doctor on a thin or lossy link keeps audio and moving video (issue 16).

Short runs of bench/field.py's scenarios (`make bench-field` is the long
version, with the table): two Chromium pages publish with the browser's own
encoder, the doctor's in a network namespace whose veth is shaped with tbf
and iptables random drops both ways (tests/web_client/netns.py), the
specialist's on the host, unshaped. What is asserted is what the doctor's
and the specialist's pages report with getStats(), over the scenario's
second half (after the first FIELD_TEST_SECONDS / 2 s: the allocator's
convergence is the first half).

Needs root (namespaces, tc, iptables): skipped with the reason elsewhere.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

from bench.field import SCENARIOS, SPECIALIST, bench_setup, measure
from tests.media_server.sfu_clients import requires_network

pytestmark = [pytest.mark.browser, requires_network, pytest.mark.timeout(240)]

SECONDS = float(os.environ.get("FIELD_TEST_SECONDS", "30"))
LOWEST_HEIGHT = 180  # the lowest of the camera's three encodings (a 720p camera / 4)


async def scenario(number: int, baseline: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Scenario `number` (with the unshaped one first if `baseline`): (its line,
    the baseline's line or {})."""
    with tempfile.TemporaryDirectory(prefix="field-") as tmp:
        async with bench_setup(Path(tmp), SECONDS, "bots") as bench:
            base: dict[str, Any] = {}
            if baseline:
                base = await measure(bench, SCENARIOS[1], None)
                assert "error" not in base, base
            line = await measure(bench, SCENARIOS[number], base or None)
    assert "error" not in line, line
    return line, base


def doctor_gets(line: dict[str, Any], who: str = SPECIALIST) -> dict[str, Any]:
    received: dict[str, Any] = line["last"]["doctor_receives"][who]
    return received


async def test_300_kbit_and_5_percent_loss_keep_audio_and_moving_video() -> None:
    line, _ = await scenario(2)
    got = doctor_gets(line)
    assert line["first_video_s"] is not None and line["first_video_s"] <= 10, line
    # on the lowest encoding, moving
    assert got["video"]["height"] is not None and got["video"]["height"] <= LOWEST_HEIGHT, got
    assert got["video"]["fps"] is not None and got["video"]["fps"] >= 10, got
    assert got["audio"]["concealed_pct"] is not None and got["audio"]["concealed_pct"] <= 5, got
    # the specialist's own best encoding goes on for those who can take it
    sends = line["last"]["specialist_sends"]
    assert sends["best_height"] is not None and sends["best_height"] >= 720, sends


async def test_20_percent_loss_keeps_speech() -> None:
    line, _ = await scenario(3)
    got = doctor_gets(line)
    assert got["audio"]["concealed_pct"] is not None and got["audio"]["concealed_pct"] <= 10, got
    assert got["video"]["fps"] is not None and got["video"]["fps"] >= 10, got
