"""Shared state held in this process: the single-node default."""

from __future__ import annotations

import asyncio
import time

from signalling.shared_state.base import SharedState, Subscription

_QUEUE_LIMIT = 1000


class _QueueSubscription(Subscription):
    def __init__(
        self, registry: dict[str, set[asyncio.Queue[str]]], channel: str, queue: asyncio.Queue[str]
    ) -> None:
        self._registry = registry
        self._channel = channel
        self._queue = queue
        self._closed = False

    async def __anext__(self) -> str:
        if self._closed:
            raise StopAsyncIteration
        return await self._queue.get()

    async def close(self) -> None:
        self._closed = True
        subscribers = self._registry.get(self._channel)
        if subscribers is not None:
            subscribers.discard(self._queue)
            if not subscribers:
                del self._registry[self._channel]


class InProcessState(SharedState):
    def __init__(self) -> None:
        self._values: dict[str, tuple[str, float | None]] = {}
        self._sets: dict[str, dict[str, float]] = {}
        self._subscribers: dict[str, set[asyncio.Queue[str]]] = {}

    def _live(self, key: str) -> str | None:
        item = self._values.get(key)
        if item is None:
            return None
        value, deadline = item
        if deadline is not None and deadline <= time.monotonic():
            del self._values[key]
            return None
        return value

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        if only_if_absent and self._live(key) is not None:
            return False
        self._values[key] = (value, time.monotonic() + ttl if ttl is not None else None)
        return True

    async def delete(self, key: str) -> None:
        self._values.pop(key, None)
        self._sets.pop(key, None)

    async def incr(self, key: str, *, ttl: float) -> int:
        current = self._live(key)
        if current is None:
            self._values[key] = ("1", time.monotonic() + ttl)
            return 1
        count = int(current) + 1
        self._values[key] = (str(count), self._values[key][1])
        return count

    async def set_add(self, key: str, member: str, *, ttl: float) -> None:
        self._sets.setdefault(key, {})[member] = time.monotonic() + ttl

    async def set_remove(self, key: str, member: str) -> None:
        members = self._sets.get(key)
        if members is not None:
            members.pop(member, None)

    async def set_members(self, key: str) -> frozenset[str]:
        members = self._sets.get(key)
        if not members:
            return frozenset()
        now = time.monotonic()
        for member in [m for m, deadline in members.items() if deadline <= now]:
            del members[member]
        return frozenset(members)

    async def publish(self, channel: str, message: str) -> int:
        subscribers = self._subscribers.get(channel, set())
        for queue in subscribers:
            if queue.qsize() < _QUEUE_LIMIT:  # a stalled reader loses messages, not memory
                queue.put_nowait(message)
        return len(subscribers)

    async def subscribe(self, channel: str) -> Subscription:
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.setdefault(channel, set()).add(queue)
        return _QueueSubscription(self._subscribers, channel, queue)

    async def ping(self) -> bool:
        return True

    async def close(self) -> None:
        self._values.clear()
        self._sets.clear()

    @property
    def description(self) -> str:
        return "in-process"
