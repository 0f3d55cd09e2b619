"""What the features hear of a room: one listener interface, registered in app.py.

A room announces what happens in it to every listener, in the order they were
registered (``Rooms.add_listener``), and asks each for its share of the state a
member gets on entering (imaging view states, a recording notice, a training's
questions). A feature overrides what concerns it; the rest do nothing. No
feature reaches into the room's own lists.
"""

from __future__ import annotations

from typing import Any

from signalling.rooms.room import Member, ProducerInfo, Room


class RoomListener:
    async def room_state(self, room_id: str) -> dict[str, Any]:
        """This feature's part of what an entering member gets."""
        return {}

    async def member_entered(self, room: Room, member: Member) -> None:
        """A member is in the room, with its media (joined, admitted or back)."""

    async def member_gone(self, room_id: str, member_id: str) -> None:
        """A member left, was removed, or its grace period ran out."""

    async def producer_added(self, room_id: str, producer: ProducerInfo) -> None:
        """A member publishes a track (``producer`` as ``media.producer_added`` says it)."""

    async def producer_removed(self, room_id: str, producer_id: str) -> None:
        """A track is gone."""

    def room_closed(self, room_id: str) -> None:
        """The room is closed on this node (ended, emptied, or moved to another node)."""
