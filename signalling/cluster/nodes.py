"""The cluster's nodes: each announces itself and its load in the shared state.

A heartbeat every second refreshes the node's member of an expiring set
(5 s), so a node that stops (or is killed) drops out by itself within 5 s.
This is what room placement across nodes builds on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

from signalling.background import running
from signalling.shared_state import SharedState, SharedStateUnavailable

log = logging.getLogger(__name__)

NODES_KEY = "cluster:nodes"
TTL_S = 5.0
HEARTBEAT_S = 1.0


def new_node_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class NodeRegistry:
    def __init__(
        self, shared: SharedState, node_id: str, load: Callable[[], dict[str, Any]], address: str
    ) -> None:
        self.shared = shared
        self.node_id = node_id
        self.load = load
        self.address = address

    async def beat(self) -> None:
        info = {"address": self.address, "at": time.time(), **self.load()}
        await self.shared.set(f"cluster:node:{self.node_id}", json.dumps(info), ttl=TTL_S)
        await self.shared.set_add(NODES_KEY, self.node_id, ttl=TTL_S)

    async def live_nodes(self) -> dict[str, dict[str, Any]]:
        nodes = {}
        for node_id in await self.shared.set_members(NODES_KEY):
            raw = await self.shared.get(f"cluster:node:{node_id}")
            if raw is not None:
                nodes[node_id] = json.loads(raw)
        return nodes

    async def run(self) -> None:
        while True:
            try:
                await self.beat()
            except SharedStateUnavailable as exc:
                log.warning("heartbeat not sent: %s", exc)
            await asyncio.sleep(HEARTBEAT_S)

    async def leave(self) -> None:
        with contextlib.suppress(SharedStateUnavailable):
            await self.shared.set_remove(NODES_KEY, self.node_id)
            await self.shared.delete(f"cluster:node:{self.node_id}")


@contextlib.asynccontextmanager
async def heartbeat(registry: NodeRegistry) -> AsyncIterator[None]:
    try:
        async with running(registry.run()):
            yield
    finally:
        await registry.leave()
