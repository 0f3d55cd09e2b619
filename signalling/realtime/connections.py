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

from signalling.platform import Platform
from signalling.realtime.presence import REFRESH_S, Presence
from signalling.realtime.rate_limit import ConnectionLimits, TokenBucket
from signalling.realtime.revocation import Revocation
from signalling.realtime.socketio_internals import ReservedEventGuard
from signalling.shared_state import SharedStateUnavailable

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
        self._on_close: list[Callable[[str], Awaitable[None]]] = []

    def when_closed(self, hook: Callable[[str], Awaitable[None]]) -> None:
        """``hook`` gets the sid of each connection that closes, while it is still listed."""
        self._on_close.append(hook)

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
            for hook in self._on_close:
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


class Server(ReservedEventGuard):
    """The platform's socket.io server: its connections and their revocation.

    A client may emit an ordinary event named ``disconnect`` or ``connect``;
    python-socketio would run the connection's real handlers with the
    client's arguments. Such an event is answered with an error and counted
    as a refusal instead (signalling.realtime.socketio_internals).
    """

    def __init__(self, platform: Platform, connections: Connections, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections = connections
        self.revocation = Revocation(platform, self, connections)

    async def reserved_event_refused(self, sid: str | None, name: str) -> None:
        log.info("reserved event %r from a client ignored", name, extra={"sid": sid})
        if sid is not None and not self.connections.limits(sid).refused():
            log.warning("cutting off a flooding connection", extra={"sid": sid})
            await self.disconnect(sid)


def connections_of(sio: socketio.AsyncServer) -> Connections:
    """The connections a server made by create_socketio keeps."""
    assert isinstance(sio, Server), "the socket.io server is not the platform's"
    return sio.connections
