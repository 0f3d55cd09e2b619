"""A room and its members, as this node holds them; what a room event refuses with."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from media_server.permissions import Permissions, TrackSource
from signalling.audit import Actor
from signalling.auth.tokens import Grant
from signalling.errors import PlatformError


class ProducerInfo(TypedDict):
    """A track as members are told of it (``media.producer_added``)."""

    producer_id: str
    participant_id: str
    kind: str
    source: str


class RoomError(PlatformError):
    """Refused; the message goes back to the sender only."""


class MemberMedia(Protocol):
    """The part of the media plane's interface that concerns one member."""

    async def join(
        self, room_id: str, peer_id: str, permissions: Permissions, auto_subscribe: bool = True
    ) -> None: ...

    async def leave(self, room_id: str, peer_id: str) -> None: ...

    async def publish_offer(
        self,
        room_id: str,
        peer_id: str,
        sdp: str,
        sources: Mapping[str, TrackSource] | None = None,
    ) -> str: ...

    async def subscribe_answer(self, room_id: str, peer_id: str, sdp: str) -> None: ...

    async def add_ice_candidate(
        self,
        room_id: str,
        peer_id: str,
        connection: str,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None: ...

    async def pause_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None: ...

    async def resume_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None: ...


@dataclass
class Member:
    id: str
    name: str
    role: str
    subject: str
    grants: frozenset[Grant]
    sid: str | None
    admitted: bool
    hand_raised: bool = False
    # The microphone and camera as the member's page last said (media.state).
    audio_on: bool = True
    video_on: bool = True
    grace: asyncio.TimerHandle | None = None
    # The media plane serving the member's peer: this node's SFU, or for a watcher
    # served by its own node, that node's (signalling.rooms.cascade); None while
    # the member has no peer. The one record of whether it has one.
    media: MemberMedia | None = None
    # Which page's connections that peer serves (Join.media_session).
    media_session: str | None = None
    # Where the member's connection comes from, and a staff member's facility: audit rows.
    ip: str = ""
    facility_id: int | None = None

    @property
    def moderator(self) -> bool:
        return Grant.MODERATE in self.grants

    @property
    def actor(self) -> Actor:
        return Actor(self.subject, self.role, self.ip, self.facility_id)

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "moderator": self.moderator,
            "hand_raised": self.hand_raised,
            "audio": self.audio_on,
            "video": self.video_on,
            "connected": self.sid is not None,
        }

    def permissions(self) -> Permissions:
        return Permissions(
            may_publish_audio=Grant.PUBLISH_AUDIO in self.grants,
            may_publish_video=Grant.PUBLISH_VIDEO in self.grants,
            may_publish_screen=Grant.PUBLISH_SCREEN in self.grants,
            may_subscribe=Grant.SUBSCRIBE in self.grants,
        )


@dataclass
class Room:
    id: str
    members: dict[str, Member] = field(default_factory=dict)
    banned: set[str] = field(default_factory=set)
    locked: bool = False
    # The producers announced to the members, as the media plane's events came: a
    # member's join state and the events after it never name a producer twice
    # (asking the SFU instead could list one whose ProducerAdded is still queued).
    producers: dict[str, ProducerInfo] = field(default_factory=dict)
    active_speaker: str | None = None

    @property
    def in_media(self) -> set[str]:
        """The members with a media peer (each member knows its own: ``Member.media``)."""
        return {m.id for m in self.members.values() if m.media is not None}

    def admitted(self) -> list[Member]:
        return [m for m in self.members.values() if m.admitted]

    def lobby(self) -> list[Member]:
        return [m for m in self.members.values() if not m.admitted]


def sio_room(room_id: str) -> str:
    return f"room:{room_id}"


def sio_moderators(room_id: str) -> str:
    return f"moderators:{room_id}"
