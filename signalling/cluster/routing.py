"""Rooms across nodes: which node a room lives on, and calls between nodes.

A room lives on one node: its members, lobby and media are in that node's
memory. A socket may land on any node (behind a load balancer); its room
events are carried to the room's node and handled there as if the socket
were local, while socket.io's Redis manager carries that node's emits back
to the socket. So neither Rooms nor the media plane know about nodes.

Placement: the first join picks the least loaded live node and records it
in the shared state; later joins go where the record says. When that node
stops sending heartbeats, the next join re-places the room on a live node
(one winner, by an only-if-absent key), and every socket routed to the dead
node is told ``room.moved`` so that its client joins again by itself.

Calls between nodes are requests and replies over the shared state's
publish/subscribe (Redis between nodes; in-process for one node, where
nothing is ever routed).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from typing import Any, TypedDict

from media_server.tasks import TaskSet
from signalling import background
from signalling.cluster.nodes import NodeRegistry
from signalling.errors import PlatformError
from signalling.shared_state import SharedState, SharedStateUnavailable, Subscription

log = logging.getLogger(__name__)

# A node's answer to a call from another node: keyword arguments in, JSON out.
RpcHandler = Callable[..., Awaitable[object]]

# The messages on the wire, as JSON ("from" is a keyword, hence the call syntax).
_Request = TypedDict(
    "_Request",
    {"id": str, "from": str, "method": str, "args": dict[str, object]},
    total=False,
)


class _Reply(TypedDict, total=False):
    id: str | None
    result: object
    error: str


CALL_TIMEOUT_S = 10.0
# How long a room's placement is remembered without a join refreshing it.
PLACEMENT_TTL_S = 24 * 3600.0
WATCH_S = 1.0


class NodeUnreachable(PlatformError):
    """The other node did not answer (stopped, or cut off from Redis)."""

    status = 503


class RemoteError(PlatformError):
    """The other node refused the call; the message is its own."""


def _channel(node_id: str) -> str:
    return f"cluster:rpc:{node_id}"


class NodeRpc:
    """Requests to named handlers on another node, and their replies."""

    def __init__(self, shared: SharedState, node_id: str) -> None:
        self.shared = shared
        self.node_id = node_id
        self.handlers: dict[str, RpcHandler] = {}
        self._waiting: dict[str, asyncio.Future[object]] = {}
        self._tasks = TaskSet()  # the listener and the calls it serves
        # Nodes found gone before their heartbeat expired -> when (wall clock). Only a
        # hint: a heartbeat sent after that brings the node back (a Redis blip).
        self.dead: dict[str, float] = {}

    def handle(self, method: str, handler: RpcHandler) -> None:
        self.handlers[method] = handler

    async def start(self) -> None:
        subscription = await self.shared.subscribe(_channel(self.node_id))
        self._tasks.spawn(self._listen(subscription))

    async def stop(self) -> None:
        await self._tasks.cancel_all()
        for future in self._waiting.values():
            future.cancel()

    async def call(
        self, node_id: str, method: str, timeout: float = CALL_TIMEOUT_S, **args: object
    ) -> Any:  # the handler's JSON answer, whose shape the method decides
        call_id = uuid.uuid4().hex
        future: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        self._waiting[call_id] = future
        message: _Request = {"id": call_id, "from": self.node_id, "method": method, "args": args}
        try:
            if not await self.shared.publish(_channel(node_id), json.dumps(message)):
                # Nobody listens: the node's Redis connection closed with the process.
                self.dead[node_id] = time.time()
                raise NodeUnreachable("another server of the platform is gone")
            return await asyncio.wait_for(future, timeout)
        except (TimeoutError, SharedStateUnavailable) as exc:
            log.warning("node %s did not answer %s", node_id, method)
            raise NodeUnreachable("another server of the platform did not answer") from exc
        finally:
            self._waiting.pop(call_id, None)

    async def _listen(self, subscription: Subscription) -> None:
        async with subscription:
            async for raw in subscription:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if "method" in message:
                    self._tasks.spawn(self._serve(message))
                else:
                    future = self._waiting.get(message.get("id", ""))
                    if future is not None and not future.done():
                        if "error" in message:
                            future.set_exception(RemoteError(message["error"]))
                        else:
                            future.set_result(message.get("result"))

    async def _serve(self, message: _Request) -> None:
        reply: _Reply = {"id": message.get("id")}
        handler = self.handlers.get(message.get("method", ""))
        try:
            if handler is None:
                raise RemoteError(f"no method {message.get('method')!r}")
            reply["result"] = await handler(**message.get("args", {}))
        except PlatformError as exc:
            reply["error"] = str(exc)
        except Exception as exc:
            log.exception("cluster call %s failed", message.get("method"))
            reply["error"] = f"internal error on node {self.node_id}: {type(exc).__name__}"
        with contextlib.suppress(SharedStateUnavailable):
            await self.shared.publish(_channel(message.get("from", "")), json.dumps(reply))


class RoomPlacement:
    """Which node a room lives on."""

    def __init__(
        self, shared: SharedState, registry: NodeRegistry, dead: dict[str, float] | None = None
    ) -> None:
        self.shared = shared
        self.registry = registry
        self.dead = dead if dead is not None else {}

    @property
    def node_id(self) -> str:
        return self.registry.node_id

    async def live_nodes(self) -> dict[str, dict[str, Any]]:
        live = {}
        for node, info in (await self.registry.live_nodes()).items():
            if float(info.get("at", 0)) <= self.dead.get(node, 0.0):
                continue
            self.dead.pop(node, None)  # it came back
            live[node] = info
        if self.node_id not in live:
            # before our first heartbeat landed, or while Redis is briefly away
            live[self.node_id] = {"address": self.registry.address, **self.registry.load()}
        return live

    async def node_for(self, room_id: str) -> str:
        key = f"room:{room_id}:node"
        current = await self.shared.get(key)
        live = await self.live_nodes()
        if current in live:
            await self.shared.set(key, current, ttl=PLACEMENT_TTL_S)  # still in use
            return current
        # the least loaded; on a tie this node, which spares the first joiner a hop
        choice = min(
            live,
            key=lambda n: (
                live[n].get("members", 0),
                live[n].get("rooms", 0),
                n != self.node_id,
                n,
            ),
        )
        if current is None:
            if await self.shared.set(key, choice, ttl=PLACEMENT_TTL_S, only_if_absent=True):
                return choice
        else:
            # Its node died: one node wins the move; the others follow the winner.
            claim = f"room:{room_id}:moved-from:{current}"
            if await self.shared.set(claim, choice, ttl=60, only_if_absent=True):
                await self.shared.set(key, choice, ttl=PLACEMENT_TTL_S)
                log.warning("room %s moved from dead node %s to %s", room_id, current, choice)
                return choice
            winner = await self.shared.get(claim)
            if winner is not None:
                return winner
        return await self.shared.get(key) or choice

    async def owner(self, room_id: str) -> str | None:
        """The node the shared state says the room lives on, if any."""
        return await self.shared.get(f"room:{room_id}:node")

    async def forget(self, room_id: str) -> None:
        """The room closed here: its next join may be placed anywhere."""
        key = f"room:{room_id}:node"
        with contextlib.suppress(SharedStateUnavailable):
            if await self.shared.get(key) == self.node_id:
                await self.shared.delete(key)


class RoomRouter:
    """This node's sockets whose room lives on another node."""

    def __init__(
        self,
        placement: RoomPlacement,
        rpc: NodeRpc,
        moved: Callable[[str], Awaitable[None]],
    ) -> None:
        self.placement = placement
        self.rpc = rpc
        self.routes: dict[str, str] = {}  # sid here -> the node of its room
        self.remote_sids: dict[str, str] = {}  # sid elsewhere, in a room here -> its node
        self._moved = moved
        # Told the live nodes after each look (rooms here drop sockets of dead nodes).
        self._on_nodes: list[Callable[[Collection[str]], Awaitable[None]]] = []

    @property
    def node_id(self) -> str:
        return self.placement.node_id

    def when_nodes_change(self, hook: Callable[[Collection[str]], Awaitable[None]]) -> None:
        """``hook`` gets the live nodes after each look, before sockets are sent on."""
        self._on_nodes.append(hook)

    async def watch(self) -> None:
        """Tell sockets whose room's node died to join again (it re-places the room)."""
        while True:
            await asyncio.sleep(WATCH_S)
            try:
                live = await self.placement.live_nodes()
            except SharedStateUnavailable:
                continue
            # hooks first: what a dead node left here is cleared before clients come back
            for hook in self._on_nodes:
                try:
                    await hook(live.keys())
                except Exception:
                    log.exception("node watcher hook failed")
            for sid, node in list(self.routes.items()):
                if node not in live:
                    self.routes.pop(sid, None)
                    await self._moved(sid)


@contextlib.asynccontextmanager
async def serving(rpc: NodeRpc, router: RoomRouter) -> AsyncIterator[None]:
    await rpc.start()
    try:
        async with background.running(router.watch()):
            yield
    finally:
        await rpc.stop()
