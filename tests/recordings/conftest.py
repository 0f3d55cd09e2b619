"""Recordings tests reuse the SFU tests' real aiortc clients (tests/media_server/sfu_clients.py)."""

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "media_server"))

from sfu_clients import Harness

from media_server.api import MediaConfig


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(MediaConfig(media_timeout=5.0, liveness_interval=0.5))
    try:
        yield h
    finally:
        await h.close()
