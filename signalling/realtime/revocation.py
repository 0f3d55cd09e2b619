"""Cutting off live sockets whose account, log-in or token has ended.

A socket authenticates once, at connect; after that its account may be
disabled (admin route, or ``telehealth user disable`` from another
process), its log-in ended (log-out, absolute limit; an idle time-out
does not end a live call) or its bearer token run out. Each node sweeps
its own connections every half second with one small query per kind, and
the node where an administrator acts sweeps at once. A cut-off connection
is told why (``session.ended``), disconnected, and its room member is
dropped at once with its media (no reconnect grace period), on whichever
node the room lives; so are the WHIP and WHEP members of a disabled
account on this node. Socket events also re-check the account before
doing anything (see :meth:`Revocation.check`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol, TypeVar

import socketio
from sqlalchemy import ColumnElement, select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import LoginSession, User
from signalling.platform import Platform

if TYPE_CHECKING:
    from signalling.realtime.connections import Connection, Connections

log = logging.getLogger(__name__)

DISABLED = "account disabled"
LOGGED_OUT = "logged out"
EXPIRED = "token expired"
CHUNK = 500  # ids per IN (...) list, well under SQLite's bound variables limit

T = TypeVar("T")


def _chunks(items: Iterable[T]) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


class SocketlessMembers(Protocol):
    """Room members without a socket (WHIP, WHEP): signalling.rooms.manager.Rooms."""

    def socketless_users(self) -> dict[int, list[tuple[str, str]]]: ...

    async def drop_socketless(self, pairs: list[tuple[str, str]]) -> None: ...


class Revocation:
    def __init__(
        self, platform: Platform, sio: socketio.AsyncServer, connections: Connections
    ) -> None:
        self.platform = platform
        self.sio = sio
        self.connections = connections
        self._socketless: SocketlessMembers | None = None

    def cover_socketless(self, members: SocketlessMembers) -> None:
        """The sweep also ends the WHIP/WHEP media of accounts that lost their access."""
        self._socketless = members

    async def sweep(self) -> int:
        """Cut off this node's connections whose access has ended; how many were."""
        live = [
            c
            for c in self.connections.by_sid.values()
            if c.user_id is not None and c.revoked is None
        ]
        socketless = self._socketless.socketless_users() if self._socketless is not None else {}
        if not live and not socketless:
            return 0
        users = {c.user_id for c in live if c.user_id is not None} | set(socketless)
        sessions = {c.session for c in live if c.session is not None}
        inactive: set[int] = set()
        ended: set[str] = set()
        async with self.platform.db() as db:
            for ids in _chunks(users):
                inactive.update(
                    await db.scalars(
                        select(User.id).where(User.id.in_(ids), User.is_active.is_(False))
                    )
                )
            for digests in _chunks(sessions):
                ended.update(await self._ended(db, LoginSession.id.in_(digests)))
        now = datetime.now(UTC)
        cut = 0
        for user_id in inactive & set(socketless):
            assert self._socketless is not None
            log.info("WHIP/WHEP media of a disabled account ended", extra={"user": user_id})
            await self._socketless.drop_socketless(socketless[user_id])
            cut += len(socketless[user_id])
        for connection in live:
            reason = _reason(connection, inactive, ended, now)
            if reason is not None:
                await self.revoke(connection, reason)
                cut += 1
        return cut

    async def check(self, connection: Connection) -> str | None:
        """Why this connection may do nothing more (and it is cut off), or None."""
        if connection.revoked is not None:
            return connection.revoked
        if connection.user_id is None:
            return None  # a patient: its room token and the room decide
        async with self.platform.db() as db:
            active = await db.scalar(select(User.is_active).where(User.id == connection.user_id))
            ended = connection.session is not None and bool(
                await self._ended(db, LoginSession.id == connection.session)
            )
        reason = _reason(
            connection,
            set() if active else {connection.user_id},
            {connection.session} if ended and connection.session else set(),
            datetime.now(UTC),
        )
        if reason is not None:
            await self.revoke(connection, reason)
        return reason

    async def _ended(self, db: AsyncSession, which: ColumnElement[bool]) -> set[str]:
        """The sessions among `which` that were ended: logged out, ended with their
        account, or past their absolute limit. One that only timed out for being idle
        keeps its sockets: a clinician in a long call clicks nothing for a while, and
        the call must not drop when the page's next request finds the log-in idle."""
        idle = self.platform.session_policy.idle
        rows = await db.execute(
            select(LoginSession.id, LoginSession.revoked_at, LoginSession.last_seen_at).where(
                which, LoginSession.revoked_at.is_not(None)
            )
        )
        return {
            digest
            for digest, revoked_at, last_seen_at in rows
            if revoked_at is not None and revoked_at < last_seen_at + idle
        }

    async def revoke(self, connection: Connection, reason: str) -> None:
        if connection.revoked is not None:
            return
        connection.revoked = reason
        log.info(
            "connection cut off: %s",
            reason,
            extra={"sid": connection.sid, "user": connection.user_id},
        )
        await self.sio.emit("session.ended", {"reason": reason}, to=connection.sid)
        # The disconnect handler drops the room member at once (connection.revoked is set).
        await self.sio.disconnect(connection.sid)


def _reason(
    connection: Connection, inactive: set[int], ended: set[str], now: datetime
) -> str | None:
    if connection.user_id in inactive:
        return DISABLED
    if connection.session is not None and connection.session in ended:
        return LOGGED_OUT
    if connection.expires_at is not None and connection.expires_at <= now:
        return EXPIRED
    return None


def revocation_of(sio: socketio.AsyncServer) -> Revocation:
    """The revocation of a server made by signalling.realtime.server.create_socketio."""
    revocation = getattr(sio, "revocation", None)
    assert isinstance(revocation, Revocation), "the socket.io server is not the platform's"
    return revocation
