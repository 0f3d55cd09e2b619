"""This node's socket.io connections, and the server that keeps them.

Each connection is a :class:`Connection` from connect to the real
disconnect: who it is, from which address, which log-in it rests on, and
its flood limits. Nothing a client sends resets it: the reserved event
names (``connect``, ``disconnect``) sent as ordinary events are ignored.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import socketio
from socketio import packet

from .platform import Platform
from .presence import REFRESH_S, Presence
from .rate_limit import ConnectionLimits, TokenBucket
from .revocation import Revocation
from .shared_state import SharedStateUnavailable

log = logging.getLogger(__name__)


@dataclass
class Connection:
    """One live socket on this node."""

    sid: str
    ip: str
    user_id: int | None = None  # None: a patient's browser, known by its room token
    session: str | None = None  # the log-in session (cookie) it rests on
    expires_at: datetime | None = None  # the bearer token's end
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    # Why its access ended (account disabled, logged out...), once it has.
    revoked: str | None = None


def _nothing() -> ConnectionLimits:
    empty = TokenBucket(rate=0, burst=0)
    return ConnectionLimits(chat=empty, signalling=empty, view=empty, refusals=empty)


_CLOSED = _nothing()


class Connections:
    """This node's live connections, kept in the presence set by a heartbeat."""

    def __init__(self, presence: Presence) -> None:
        self.presence = presence
        self.by_sid: dict[str, Connection] = {}
        self.users: dict[str, int] = {}  # staff connections: sid -> user id
        # Called with the sid of every connection that closes (rooms keep a grace period).
        # The connection is still listed while they run (see `revoked`).
        self.on_close: list[Callable[[str], Awaitable[None]]] = []

    def get(self, sid: str) -> Connection | None:
        return self.by_sid.get(sid)

    def limits(self, sid: str) -> ConnectionLimits:
        connection = self.by_sid.get(sid)
        # A sid without a connection is one closing: it gets nothing more through.
        return connection.limits if connection is not None else _CLOSED

    async def add(self, connection: Connection) -> None:
        self.by_sid[connection.sid] = connection
        if connection.user_id is not None:
            self.users[connection.sid] = connection.user_id
            await self._quietly(self.presence.connected(connection.user_id, connection.sid))

    async def remove(self, sid: str) -> None:
        user_id = self.users.pop(sid, None)
        if user_id is not None:
            await self._quietly(self.presence.disconnected(user_id, sid))
        try:
            for hook in self.on_close:
                await hook(sid)
        finally:
            self.by_sid.pop(sid, None)

    async def refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_S)
            for sid, user_id in list(self.users.items()):
                await self._quietly(self.presence.connected(user_id, sid))

    @staticmethod
    async def _quietly(coro: Any) -> None:
        # Presence is best effort: while Redis is away, sockets keep working.
        try:
            await coro
        except SharedStateUnavailable as exc:
            log.warning("presence not updated: %s", exc)


class Server(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server, deaf to reserved event names sent by a client.

    A client may emit an ordinary event named ``disconnect`` or ``connect``;
    python-socketio would run the connection's real handlers with the
    client's arguments. Such an event is answered with an error and counted
    as a refusal instead.
    """

    def __init__(self, platform: Platform, connections: Connections, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections = connections
        self.revocation = Revocation(platform, self, connections)

    async def _handle_event(self, eio_sid: str, namespace: str | None, id: Any, data: Any) -> None:
        name = data[0] if isinstance(data, list) and data else None
        if name not in self.reserved_events:
            await super()._handle_event(eio_sid, namespace, id, data)
            return
        sid = self.manager.sid_from_eio_sid(eio_sid, namespace or "/")
        log.info("reserved event %r from a client ignored", name, extra={"sid": sid})
        if id is not None:
            await self._send_packet(
                eio_sid,
                self.packet_class(
                    packet.ACK,
                    namespace=namespace or "/",
                    id=id,
                    data=[{"error": f"{name!r} is reserved and cannot be sent"}],
                ),
            )
        if sid is not None and not self.connections.limits(sid).refused():
            log.warning("cutting off a flooding connection", extra={"sid": sid})
            await self.disconnect(sid)


def connections_of(sio: socketio.AsyncServer) -> Connections:
    """The connections a server made by create_socketio keeps."""
    assert isinstance(sio, Server), "the socket.io server is not the platform's"
    return sio.connections
