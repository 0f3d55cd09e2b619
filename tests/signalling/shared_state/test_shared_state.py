"""Shared state: the same behaviour in-process and in a real Redis, and Redis restarts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from signalling.shared_state import (
    InProcessState,
    RedisState,
    SharedState,
    SharedStateUnavailable,
)
from tests.conftest import RedisServer


@pytest.fixture(params=["in-process", "redis"])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    if request.param == "in-process":
        impl: SharedState = InProcessState()
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        impl = RedisState(server.url)
    yield impl
    await impl.close()


async def test_values_and_expiry(state: SharedState) -> None:
    assert await state.get("room:1:node") is None
    assert await state.set("room:1:node", "node-a")
    assert await state.get("room:1:node") == "node-a"
    # only_if_absent is how a node claims a room: one claim wins.
    assert not await state.set("room:1:node", "node-b", only_if_absent=True)
    assert await state.get("room:1:node") == "node-a"
    await state.set("short", "lived", ttl=0.2)
    await asyncio.sleep(0.35)
    assert await state.get("short") is None
    await state.delete("room:1:node")
    assert await state.get("room:1:node") is None


async def test_counters_use_fixed_windows(state: SharedState) -> None:
    counts = [await state.incr("rate:chat:sid1", ttl=0.3) for _ in range(5)]
    assert counts == [1, 2, 3, 4, 5]
    await asyncio.sleep(0.45)
    assert await state.incr("rate:chat:sid1", ttl=0.3) == 1


async def test_expiring_sets_for_presence(state: SharedState) -> None:
    await state.set_add("oncall:cardiology", "user:1", ttl=10)
    await state.set_add("oncall:cardiology", "user:2", ttl=0.2)
    assert await state.set_members("oncall:cardiology") == {"user:1", "user:2"}
    await asyncio.sleep(0.35)  # user:2 missed its heartbeat
    assert await state.set_members("oncall:cardiology") == {"user:1"}
    await state.set_add("oncall:cardiology", "user:2", ttl=10)  # back online
    await state.set_remove("oncall:cardiology", "user:1")
    assert await state.set_members("oncall:cardiology") == {"user:2"}
    assert await state.set_members("oncall:nobody") == set()


async def test_publish_subscribe(state: SharedState) -> None:
    async with (
        await state.subscribe("dispatch") as first,
        await state.subscribe("dispatch") as second,
    ):
        await state.publish("dispatch", "request 7 opened")
        await state.publish("other", "not for us")
        await state.publish("dispatch", "request 7 taken")
        for sub in (first, second):
            got = [await asyncio.wait_for(anext(sub), 5) for _ in range(2)]
            assert got == ["request 7 opened", "request 7 taken"]


async def test_redis_restart_is_survived(redis_server: RedisServer) -> None:
    state = RedisState(redis_server.url, timeout=0.5)
    try:
        await state.set("presence", "here")
        sub = await state.subscribe("events")
        await state.publish("events", "before")
        assert await asyncio.wait_for(anext(sub), 5) == "before"

        redis_server.stop()
        assert not await state.ping()
        with pytest.raises(SharedStateUnavailable):
            await state.set("presence", "gone")
        # A reader waiting on the subscription keeps waiting, it does not crash.
        pending = asyncio.ensure_future(anext(sub))
        await asyncio.sleep(0.5)
        assert not pending.done()

        redis_server.start()  # same port, empty (it keeps nothing on disk)
        deadline = asyncio.get_running_loop().time() + 10
        while not await state.ping():
            assert asyncio.get_running_loop().time() < deadline, "no reconnection"
            await asyncio.sleep(0.1)
        assert await state.set("presence", "back")
        assert await state.get("presence") == "back"
        # The subscription is made again by itself: keep publishing until it hears.
        while not pending.done():
            assert asyncio.get_running_loop().time() < deadline, "subscription not restored"
            await state.publish("events", "after")
            await asyncio.sleep(0.1)
        assert pending.result() == "after"
        await sub.close()
    finally:
        await state.close()
