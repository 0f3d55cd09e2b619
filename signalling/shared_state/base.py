"""The shared real-time state every node sees: presence, counters, routing, events.

One small interface, two implementations in the way python-socketio has
pluggable client managers: :class:`InProcessState` for a single node (the
default) and :class:`RedisState` when ``TELEHEALTH_REDIS_URL`` is set.

Values are strings; callers serialise. Expiring sets are the primitive for
presence ("who is online and on call"), node registries and lobbies: each
member carries its own deadline, refreshed by a heartbeat.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator


class SharedStateUnavailable(Exception):
    """The backing store cannot be reached right now."""


class Subscription(abc.ABC):
    """An open subscription: iterate it for messages, close it when done."""

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    @abc.abstractmethod
    async def __anext__(self) -> str: ...

    @abc.abstractmethod
    async def close(self) -> None: ...

    async def __aenter__(self) -> Subscription:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


class SharedState(abc.ABC):
    @abc.abstractmethod
    async def get(self, key: str) -> str | None: ...

    @abc.abstractmethod
    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        """Store a value; with ``only_if_absent`` return False if the key exists."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def incr(self, key: str, *, ttl: float) -> int:
        """Add one to a counter; a new counter expires after ``ttl`` (fixed-window limits)."""

    @abc.abstractmethod
    async def set_add(self, key: str, member: str, *, ttl: float) -> None:
        """Add or refresh ``member``, which drops out of the set after ``ttl`` seconds."""

    @abc.abstractmethod
    async def set_remove(self, key: str, member: str) -> None: ...

    @abc.abstractmethod
    async def set_members(self, key: str) -> frozenset[str]:
        """Members whose deadline has not passed."""

    @abc.abstractmethod
    async def publish(self, channel: str, message: str) -> int:
        """Send ``message`` to the channel's subscribers; how many there were."""

    @abc.abstractmethod
    async def subscribe(self, channel: str) -> Subscription:
        """Messages published on ``channel`` from the moment this returns.

        Survives a lost connection: the subscription is made again when the
        store is back (messages published meanwhile are lost, as with Redis).
        """

    @abc.abstractmethod
    async def ping(self) -> bool:
        """True when the store answers; never raises."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """What this is, for logs and /readyz (no credentials)."""
