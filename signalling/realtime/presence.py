"""Who is online right now, across every node (kept in the shared state).

Each socket.io connection is one member, ``<user id>:<sid>``, refreshed by
its node; a node that dies stops refreshing and its members drop out after
the TTL. A user is online while any of their connections is.
"""

from __future__ import annotations

from signalling.shared_state import SharedState

KEY = "presence:online"
TTL_S = 45.0
REFRESH_S = 15.0


class Presence:
    def __init__(self, shared: SharedState) -> None:
        self._shared = shared

    async def connected(self, user_id: int, sid: str) -> None:
        await self._shared.set_add(KEY, f"{user_id}:{sid}", ttl=TTL_S)

    async def disconnected(self, user_id: int, sid: str) -> None:
        await self._shared.set_remove(KEY, f"{user_id}:{sid}")

    async def online_users(self) -> set[int]:
        members = await self._shared.set_members(KEY)
        return {int(m.split(":", 1)[0]) for m in members}
