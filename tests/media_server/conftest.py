"""Fixtures of the media plane tests; the clients live in sfu_clients.py."""

from collections.abc import AsyncIterator

import pytest
from sfu_clients import Harness

from media_server.api import MediaConfig


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    h = Harness(MediaConfig(media_timeout=2.0, liveness_interval=0.5))
    try:
        yield h
    finally:
        await h.close()
