"""Shared state in Redis, for several nodes.

Commands fail fast while Redis is away (short socket timeouts) and raise
:class:`SharedStateUnavailable`; redis-py reconnects by itself on the next
command, so nothing here needs restarting when Redis comes back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from signalling.shared_state.base import SharedState, SharedStateUnavailable, Subscription

log = logging.getLogger(__name__)
T = TypeVar("T")

PREFIX = "th:"


class _RedisSubscription(Subscription):
    def __init__(self, pubsub: aioredis.client.PubSub, channel: str) -> None:
        self._pubsub = pubsub
        self._channel = channel
        self._closed = False

    async def __anext__(self) -> str:
        backoff = 0.1
        while not self._closed:
            try:
                message = await self._pubsub.get_message(
                    ignore_subscribe_messages=True, timeout=1.0
                )
            except (RedisError, OSError) as exc:
                # redis-py re-subscribes when its connection is made again.
                log.warning("subscription to %s lost: %s", self._channel, exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                continue
            backoff = 0.1
            if message is not None and message["type"] == "message":
                data = message["data"]
                return data.decode() if isinstance(data, bytes) else str(data)
        raise StopAsyncIteration

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._pubsub.unsubscribe()
        except (RedisError, OSError):
            pass
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


class RedisState(SharedState):
    def __init__(self, url: str, *, timeout: float = 2.0) -> None:
        self._url = url
        self._redis = aioredis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            health_check_interval=10,
            decode_responses=True,
        )

    @property
    def client(self) -> aioredis.Redis:
        return self._redis

    async def _call(self, fn: Callable[[], Awaitable[T]]) -> T:
        try:
            return await fn()
        except (RedisError, OSError) as exc:
            raise SharedStateUnavailable(f"redis: {exc}") from exc

    async def get(self, key: str) -> str | None:
        value = await self._call(lambda: self._redis.get(PREFIX + key))
        return None if value is None else str(value)

    async def set(
        self, key: str, value: str, *, ttl: float | None = None, only_if_absent: bool = False
    ) -> bool:
        px = int(ttl * 1000) if ttl is not None else None
        done = await self._call(
            lambda: self._redis.set(PREFIX + key, value, px=px, nx=only_if_absent)
        )
        return bool(done)

    async def delete(self, key: str) -> None:
        await self._call(lambda: self._redis.delete(PREFIX + key))

    async def incr(self, key: str, *, ttl: float) -> int:
        async def run() -> int:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.incr(PREFIX + key)
                # NX: the window starts with the first hit and is never extended.
                pipe.pexpire(PREFIX + key, int(ttl * 1000), nx=True)
                count, _ = await pipe.execute()
            return int(count)

        return await self._call(run)

    async def set_add(self, key: str, member: str, *, ttl: float) -> None:
        # A sorted set scored by deadline: members expire one by one.
        deadline = time.time() + ttl

        async def run() -> None:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zadd(PREFIX + key, {member: deadline})
                # the key goes too once nobody refreshes it (callers use one ttl per key)
                pipe.expire(PREFIX + key, max(1, math.ceil(ttl)))
                await pipe.execute()

        await self._call(run)

    async def set_remove(self, key: str, member: str) -> None:
        await self._call(lambda: self._redis.zrem(PREFIX + key, member))

    async def set_members(self, key: str) -> frozenset[str]:
        async def run() -> frozenset[str]:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zremrangebyscore(PREFIX + key, "-inf", time.time())
                pipe.zrange(PREFIX + key, 0, -1)
                _, members = await pipe.execute()
            return frozenset(str(m) for m in members)

        return await self._call(run)

    async def publish(self, channel: str, message: str) -> int:
        return int(await self._call(lambda: self._redis.publish(PREFIX + channel, message)))

    async def subscribe(self, channel: str) -> Subscription:
        pubsub = self._redis.pubsub()
        try:
            await pubsub.subscribe(PREFIX + channel)
        except (RedisError, OSError) as exc:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise SharedStateUnavailable(f"redis: {exc}") from exc
        return _RedisSubscription(pubsub, channel)

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except (RedisError, OSError):
            return False

    async def close(self) -> None:
        await self._redis.aclose()

    @property
    def description(self) -> str:
        parts = urlsplit(self._url)
        host = parts.hostname or "localhost"
        return f"redis {host}:{parts.port or 6379}{parts.path or ''}"
