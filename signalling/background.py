"""Work an application runs beside its requests: for as long as a block lasts, or
every so often, always cancelled and awaited when the block ends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

log = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def running(coro: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `coro` while the block runs; cancel it and wait for it after."""
    task = asyncio.create_task(coro)
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def every(interval: float, job: Callable[[], Awaitable[Any]], what: str) -> None:
    """Run `job` every `interval` seconds; a failure is logged and tried again next time."""
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception:
            log.exception("%s failed; retrying", what)
