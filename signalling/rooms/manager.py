"""Rooms: who is in a session's room, the lobby, moderation, chat, and the media beneath.

A room lives on one node (this one; signalling.cluster.routing brings other nodes'
sockets here). Each participant is a :class:`Member`
with a stable id (``u<user id>`` for staff, ``p<invite id>`` for a patient),
so that a socket that drops and comes back within the grace period resumes
the same member without anyone seeing a leave or a join. The media plane
gets the member id as its peer id and the token's grants as permissions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any, TypeVar

import socketio
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from media_server.api import MediaServer
from media_server.errors import MediaError, PeerExists, UnknownPeer, UnknownRoom
from media_server.events import (
    ActiveSpeakerChanged,
    MediaEvent,
    PeerClosed,
    ProducerAdded,
    ProducerRemoved,
    StreamStateChanged,
    SubscribeOffer,
)
from media_server.permissions import Permissions, TrackSource
from signalling.audit import SYSTEM
from signalling.auth.tokens import Audience, Grant, InvalidToken, TokenClaims
from signalling.db.models import ChatMessage, Consultation, ConsultStatus, User
from signalling.db.types import utcnow
from signalling.errors import Forbidden, PlatformError
from signalling.platform import Platform
from signalling.rooms.invites import redeem_invite
from signalling.rooms.listener import RoomListener
from signalling.rooms.protocol import (
    ChatHistory,
    ChatSend,
    ConsumerRef,
    Hand,
    Ice,
    Join,
    Lock,
    MediaState,
    Mute,
    Publish,
    SubscribeAnswer,
    Target,
)
from signalling.rooms.room import (
    Member,
    MemberMedia,
    ProducerInfo,
    Room,
    RoomError,
    sio_moderators,
    sio_room,
)
from signalling.shared_state import SharedStateUnavailable

log = logging.getLogger(__name__)
T = TypeVar("T")

GRACE_S = 30.0
ADMITTED_TTL_S = 12 * 3600.0
# A consultation whose room nobody has been in for this long ends by itself.
IDLE_END_S = 30 * 60.0
# How long a node's mark that a room is open there outlives a node that died.
OPEN_TTL_S = 24 * 3600.0
CHAT_REPLAY = 200

# The address of the client whose event is being handled (set by room_events,
# on the room's node too): a member keeps the address it joined from.
CLIENT_ADDRESS: ContextVar[str] = ContextVar("client_address", default="")


# WHIP members are u<user>-whip-..., WHEP players user<user>-whep-...
# (http/whip_routes.py, http/whep_routes.py)
_SOCKETLESS = re.compile(r"u(?:ser)?(\d+)-wh[ei]p-")


class Rooms:
    def __init__(
        self,
        platform: Platform,
        sio: socketio.AsyncServer,
        media: MediaServer,
        *,
        grace_s: float = GRACE_S,
        idle_end_s: float = IDLE_END_S,
    ) -> None:
        self.platform = platform
        self.sio = sio
        self.media = media
        self.grace_s = grace_s
        self.idle_end_s = idle_end_s
        # Rooms closed because nobody was left: their consultations end unless
        # the room opens again first (room id -> timer).
        self._idle: dict[str, asyncio.TimerHandle] = {}
        self.rooms: dict[str, Room] = {}
        self.by_sid: dict[str, tuple[str, str]] = {}  # sid -> (room id, member id)
        # The features that hear of this room's events (app.py registers them).
        self._listeners: list[RoomListener] = []
        # Chooses another node's SFU for a member (signalling.rooms.cascade), or None for ours.
        self._media_placement: Callable[[Room, Member], MemberMedia | None] | None = None

    def add_listener(self, listener: RoomListener) -> None:
        """``listener`` hears of every room's events from now on, after those before it."""
        self._listeners.append(listener)

    def place_media_with(self, placement: Callable[[Room, Member], MemberMedia | None]) -> None:
        """Who serves a member's media when not this node's SFU (one placement at most)."""
        assert self._media_placement is None, "the media placement is chosen once"
        self._media_placement = placement

    def media_of(self, member: Member) -> MemberMedia:
        return member.media if member.media is not None else self.media

    async def _join_media(self, room: Room, member: Member) -> None:
        placed = self._media_placement(room, member) if self._media_placement else None
        if placed is not None:
            try:
                await placed.join(room.id, member.id, member.permissions())
                member.media = placed
                return
            except PlatformError as exc:
                log.warning("member %s served here instead: %s", member.id, exc)
        try:
            await self.media.join(room.id, member.id, member.permissions())
        except PeerExists:
            # a peer this member no longer has (its end is still queued): replace it
            await self.media.leave(room.id, member.id)
            await self.media.join(room.id, member.id, member.permissions())
        member.media = self.media

    async def _leave_media(self, room: Room, member: Member) -> None:
        try:
            await self.media_of(member).leave(room.id, member.id)
        except (UnknownPeer, UnknownRoom):
            pass
        except PlatformError as exc:  # the other node is gone; so is the peer
            log.warning("media of %s not left: %s", member.id, exc)
        member.media = None

    # Lookups ---------------------------------------------------------------

    def _member(self, sid: str) -> tuple[Room, Member]:
        where = self.by_sid.get(sid)
        if where is None or where[0] not in self.rooms:
            raise RoomError("join a room first", code="not_in_room")
        room = self.rooms[where[0]]
        member = room.members.get(where[1])
        if member is None or member.sid != sid:
            raise RoomError("join a room first", code="not_in_room")
        return room, member

    def admitted(self, sid: str) -> tuple[Room, Member]:
        """The room and member of an admitted socket: what a room event checks first."""
        room, member = self._member(sid)
        if not member.admitted:
            raise RoomError("wait until a clinician lets you in", code="in_lobby")
        return room, member

    def moderator(self, sid: str) -> tuple[Room, Member]:
        """As :meth:`admitted`, for a moderator only."""
        room, member = self.admitted(sid)
        if not member.moderator:
            raise Forbidden("only a moderator may do that")
        return room, member

    def target(self, room: Room, participant_id: str) -> Member:
        """The member a moderator's event names, or a refusal."""
        target = room.members.get(participant_id)
        if target is None:
            raise RoomError("no such participant in this room")
        return target

    # Joining -----------------------------------------------------------------

    async def _identify(
        self, payload: Join
    ) -> tuple[TokenClaims, str, str, str, str | None, int | None]:
        """(claims, member id, name, role, new session token, facility) for a join token."""
        signer = self.platform.signer
        session_token = None
        try:
            claims = signer.verify(payload.token, audience=Audience.ROOM)
            if claims.room is None:
                raise InvalidToken("the token names no room")
            if claims.invite is not None:
                # A patient link: used once, then exchanged for a session token
                # that the patient's page uses to come back after a drop.
                async with self.platform.db() as db:
                    claims = await redeem_invite(db, signer, payload.token)
                    await db.commit()
                assert claims.room is not None  # redeem_invite checked it
                session_token, claims = signer.issue_room(
                    subject=claims.subject,
                    room=claims.room,
                    grants=claims.grants,
                    name=payload.name or claims.name,
                )
        except InvalidToken as exc:
            raise RoomError(str(exc), code=_token_refusal(str(exc))) from None
        if claims.subject.startswith("patient:"):
            member_id = "p" + claims.subject.removeprefix("patient:")
            name = payload.name or claims.name or "Bệnh nhân"
            return claims, member_id, name, "patient", session_token, None
        if not claims.subject.startswith("user:"):
            raise RoomError("the token names nobody")
        async with self.platform.db() as db:
            user = await db.get(User, int(claims.subject.removeprefix("user:")))
        if user is None or not user.is_active:
            raise RoomError("the account behind this token is disabled")
        return claims, f"u{user.id}", user.full_name, user.role.value, None, user.facility_id

    async def join(self, sid: str, payload: Join) -> dict[str, Any]:
        if sid in self.by_sid:
            raise RoomError("this connection is in a room already")
        claims, member_id, name, role, session_token, facility = await self._identify(payload)
        assert claims.room is not None
        async with self.platform.db() as db:
            status = await db.scalar(
                select(Consultation.status).where(Consultation.room == claims.room)
            )
        if status in (ConsultStatus.ENDED, ConsultStatus.CANCELLED):
            # Tokens outlive the session by minutes; the session decides.
            ended = "has ended" if status is ConsultStatus.ENDED else "was cancelled"
            raise RoomError(f"this session {ended}", code="session_ended")
        room = self.rooms.get(claims.room) or await self._open(claims.room)
        if member_id in room.banned:
            raise RoomError("you were removed from this room", code="removed")

        member = room.members.get(member_id)
        resumed = member is not None
        media_resumed = member is not None and member.media is not None
        if member is not None:
            if member.grace is not None:
                member.grace.cancel()
                member.grace = None
            if member.sid is not None and member.sid != sid:
                # The same person in a new tab or after a reconnect: the newest wins.
                self.by_sid.pop(member.sid, None)
                await self._leave_sio_rooms(room, member)
                await self.sio.emit("room.replaced", {}, to=member.sid)
            member.sid = sid
            member.grants = claims.grants
            member.ip = CLIENT_ADDRESS.get()
            if member.media is not None and member.media_session != payload.media_session:
                # The page whose connections the peer served is gone (a reload,
                # another tab): its peer ends with its producers, and this page's
                # media starts afresh under new producer ids.
                await self.rejoin_media(room, member)
                media_resumed = False
                member.audio_on = member.video_on = True  # a new page starts with both on
        else:
            admitted = (
                Grant.MODERATE in claims.grants
                or (role != "patient" and not room.locked)
                or await self._was_admitted(room.id, member_id)
            )
            member = Member(
                member_id,
                name,
                role,
                claims.subject,
                claims.grants,
                sid,
                admitted,
                ip=CLIENT_ADDRESS.get(),
                facility_id=facility,
            )
            room.members[member_id] = member
        member.media_session = payload.media_session
        self.by_sid[sid] = (room.id, member.id)

        if member.admitted:
            await self._enter(room, member, announce=not resumed)
            await self._mark_live(room.id)
            if media_resumed and member.media is self.media:
                # an offer in flight when the old socket went would never be answered
                with contextlib.suppress(MediaError):
                    await self.media.resend_subscribe_offer(room.id, member.id)
        else:
            await self._lobby_changed(room)
        await self.platform.audit.record(
            member.actor,
            "room.join",
            object_type="room",
            object_id=room.id,
            detail={"member": member.id, "resumed": resumed, "admitted": member.admitted},
        )
        state: dict[str, Any] = {
            "participant_id": member.id,
            "grants": sorted(member.grants),
            # STUN/TURN for this member's connections (TURN credentials are per member).
            "ice_servers": self.media.ice_servers_for(member.id),
            # simulcast: what the page sends of its camera ([]: one encoding)
            "camera_encodings": self.media.camera_encodings(),
            "state": "joined" if member.admitted else "lobby",
            "resumed": resumed,
            # The page's connections go on (a socket reconnect): no new publish.
            "media_resumed": media_resumed,
            "token_expires_at": claims.expires_at.isoformat(),
        }
        if session_token is not None:
            state["session_token"] = session_token
        if member.admitted:
            state.update(await self._room_state(room, member))
        return state

    async def _open(self, room_id: str) -> Room:
        """The room opens on this node (its first member or broadcaster comes in)."""
        room = Room(room_id)
        self.rooms[room_id] = room
        if (idle := self._idle.pop(room_id, None)) is not None:
            idle.cancel()
        with contextlib.suppress(SharedStateUnavailable):
            await self.platform.shared.set(f"room:{room_id}:open", "1", ttl=OPEN_TTL_S)
        try:
            await self.media.create_room(room_id)
        except MediaError:
            pass  # left over from an earlier life of this room on this node
        return room

    def _end_when_idle(self, room_id: str) -> None:
        if (previous := self._idle.pop(room_id, None)) is not None:
            previous.cancel()
        self._idle[room_id] = asyncio.get_running_loop().call_later(
            self.idle_end_s, lambda: asyncio.ensure_future(self._idle_end(room_id))
        )

    async def _idle_end(self, room_id: str) -> None:
        """Nobody came back: the consultation is no longer live (it ends, as if a
        moderator had ended it), unless the room opened here or on another node."""
        self._idle.pop(room_id, None)
        if room_id in self.rooms:
            return
        with contextlib.suppress(SharedStateUnavailable):
            if await self.platform.shared.get(f"room:{room_id}:open") is not None:
                return  # open on another node, which ends it when it empties there
        async with self.platform.db() as db:
            result = await db.execute(
                update(Consultation)
                .where(Consultation.room == room_id, Consultation.status == ConsultStatus.LIVE)
                .values(status=ConsultStatus.ENDED, ended_at=utcnow())
            )
            await db.commit()
        if result.rowcount:  # type: ignore[attr-defined]
            await self.platform.audit.record(
                SYSTEM,
                "room.idle_end",
                object_type="room",
                object_id=room_id,
                detail={"idle_seconds": self.idle_end_s},
            )

    # Who was let in outlives this node: if the room moves to another node, a
    # patient already admitted comes back into the room, not into the lobby.

    async def _remember_admitted(self, room_id: str, member_id: str) -> None:
        with contextlib.suppress(SharedStateUnavailable):
            await self.platform.shared.set_add(
                f"room:{room_id}:admitted", member_id, ttl=ADMITTED_TTL_S
            )

    async def _was_admitted(self, room_id: str, member_id: str) -> bool:
        try:
            return member_id in await self.platform.shared.set_members(f"room:{room_id}:admitted")
        except SharedStateUnavailable:
            return False

    async def _mark_live(self, room_id: str) -> None:
        """A scheduled consultation goes live when its first participant walks in."""
        async with self.platform.db() as db:
            await db.execute(
                update(Consultation)
                .where(Consultation.room == room_id, Consultation.status == ConsultStatus.SCHEDULED)
                .values(status=ConsultStatus.LIVE, started_at=utcnow())
            )
            await db.commit()

    async def _room_state(self, room: Room, member: Member) -> dict[str, Any]:
        state: dict[str, Any] = {
            "participants": [m.public() for m in room.admitted()],
            "locked": room.locked,
            "producers": [p for p in room.producers.values() if p["participant_id"] != member.id],
            "active_speaker": room.active_speaker,
        }
        if member.moderator:
            state["lobby"] = [m.public() for m in room.lobby()]
        if Grant.CHAT in member.grants:
            state["chat"] = await self._chat_after(room.id, 0, member, replay=True)
        for listener in self._listeners:
            state.update(await listener.room_state(room.id))
        return state

    async def _enter(self, room: Room, member: Member, *, announce: bool) -> None:
        assert member.sid is not None
        await self.sio.enter_room(member.sid, sio_room(room.id))
        if member.moderator:
            await self.sio.enter_room(member.sid, sio_moderators(room.id))
        if member.media is None:
            try:
                await self._join_media(room, member)
            except PeerExists:
                member.media = self.media
        if announce:
            await self.sio.emit(
                "participant.joined", member.public(), room=sio_room(room.id), skip_sid=member.sid
            )
        for listener in self._listeners:
            await listener.member_entered(room, member)

    async def _leave_sio_rooms(self, room: Room, member: Member) -> None:
        if member.sid is not None:
            await self.sio.leave_room(member.sid, sio_room(room.id))
            await self.sio.leave_room(member.sid, sio_moderators(room.id))

    async def _lobby_changed(self, room: Room) -> None:
        await self.sio.emit(
            "room.lobby",
            {"lobby": [m.public() for m in room.lobby()]},
            room=sio_moderators(room.id),
        )

    # Leaving ---------------------------------------------------------------------

    def _take_socket(self, sid: str) -> tuple[Room, Member] | None:
        """The room and member a closing socket was, no longer found by it."""
        where = self.by_sid.pop(sid, None)
        room = self.rooms.get(where[0]) if where else None
        member = room.members.get(where[1]) if room and where else None
        if room is None or member is None or member.sid != sid:
            return None
        return room, member

    async def disconnected(self, sid: str) -> None:
        """The socket is gone; the member stays for the grace period."""
        if (found := self._take_socket(sid)) is None:
            return
        room, member = found
        member.sid = None
        loop = asyncio.get_running_loop()
        member.grace = loop.call_later(
            self.grace_s, lambda: asyncio.ensure_future(self._expire(room.id, member.id))
        )

    async def revoked(self, sid: str) -> None:
        """The socket's access ended (account disabled, logged out): its member
        leaves at once, media and all, with no grace period to come back in."""
        if (found := self._take_socket(sid)) is None:
            return
        room, member = found
        await self._leave_sio_rooms(room, member)
        member.sid = None
        await self._drop(room, member, reason="removed")

    async def _expire(self, room_id: str, member_id: str) -> None:
        room = self.rooms.get(room_id)
        member = room.members.get(member_id) if room else None
        if room is None or member is None or member.sid is not None:
            return
        await self._drop(room, member, reason="disconnected")

    async def leave(self, sid: str) -> None:
        room, member = self._member(sid)
        await self._leave_sio_rooms(room, member)
        self.by_sid.pop(sid, None)
        await self._drop(room, member, reason="left")

    async def _drop(self, room: Room, member: Member, *, reason: str) -> None:
        room.members.pop(member.id, None)
        if member.grace is not None:
            member.grace.cancel()
        if member.media is not None:
            await self._leave_media(room, member)
        if member.admitted:
            await self.sio.emit(
                "participant.left", {"id": member.id, "reason": reason}, room=sio_room(room.id)
            )
        else:
            await self._lobby_changed(room)
        for listener in self._listeners:
            await listener.member_gone(room.id, member.id)
        if not room.members:
            await self._close(room)

    async def evacuate(self, room_id: str) -> None:
        """The room lives on another node now: its members join it there."""
        room = self.rooms.get(room_id)
        if room is None:
            return
        for member in room.members.values():
            if member.sid is not None:
                await self.sio.emit("room.moved", {}, to=member.sid)
        await self._close(room, moving=True)

    async def _close(self, room: Room, *, moving: bool = False) -> None:
        self.rooms.pop(room.id, None)
        with contextlib.suppress(SharedStateUnavailable):
            await self.platform.shared.delete(f"room:{room.id}:open")
        if not moving:
            # over (not moving to another node): the next visit starts in the lobby
            with contextlib.suppress(SharedStateUnavailable):
                await self.platform.shared.delete(f"room:{room.id}:admitted")
            self._end_when_idle(room.id)
        for listener in self._listeners:
            listener.room_closed(room.id)
        for member in room.members.values():
            if member.grace is not None:
                member.grace.cancel()
            if member.sid is not None:
                self.by_sid.pop(member.sid, None)
                await self._leave_sio_rooms(room, member)
        try:
            await self.media.close_room(room.id)
        except UnknownRoom:
            pass

    # Moderation ----------------------------------------------------------------------

    async def admit(self, sid: str, payload: Target) -> dict[str, Any]:
        room, moderator = self.moderator(sid)
        target = self.target(room, payload.participant_id)
        if target.admitted:
            raise RoomError("already in the room")
        target.admitted = True
        await self._remember_admitted(room.id, target.id)
        await self.platform.audit.record(
            moderator.actor,
            "room.admit",
            object_type="room",
            object_id=room.id,
            detail={"member": target.id},
        )
        if target.sid is not None:
            await self._enter(room, target, announce=True)
            await self.sio.emit(
                "room.admitted", await self._room_state(room, target), to=target.sid
            )
        await self._lobby_changed(room)
        return {"ok": True}

    async def refuse(self, sid: str, payload: Target) -> dict[str, Any]:
        room, moderator = self.moderator(sid)
        target = self.target(room, payload.participant_id)
        if target.admitted:
            raise RoomError("already in the room; remove them instead")
        await self._evict(room, target, "room.refused", moderator, audited_as="room.refuse")
        return {"ok": True}

    async def remove(self, sid: str, payload: Target) -> dict[str, Any]:
        room, moderator = self.moderator(sid)
        target = self.target(room, payload.participant_id)
        if target.id == moderator.id:
            raise RoomError("use leave to leave the room yourself")
        await self._evict(room, target, "room.removed", moderator, audited_as="room.remove")
        return {"ok": True}

    async def _evict(
        self, room: Room, target: Member, event: str, by: Member, *, audited_as: str
    ) -> None:
        await self.platform.audit.record(
            by.actor,
            audited_as,
            object_type="room",
            object_id=room.id,
            detail={"member": target.id},
        )
        room.banned.add(target.id)
        with contextlib.suppress(SharedStateUnavailable):
            await self.platform.shared.set_remove(f"room:{room.id}:admitted", target.id)
        sid = target.sid
        if sid is not None:
            await self.sio.emit(event, {"by": by.name}, to=sid)
            await self._leave_sio_rooms(room, target)
            self.by_sid.pop(sid, None)
        await self._drop(room, target, reason="removed")
        if sid is not None:
            # Out of the room is out of this connection: it can neither act in the
            # room nor stay around for the next try (on whichever node it is).
            await self.sio.disconnect(sid)

    async def lock(self, sid: str, payload: Lock) -> dict[str, Any]:
        room, moderator = self.moderator(sid)
        room.locked = payload.locked
        await self.sio.emit(
            "room.locked", {"locked": room.locked, "by": moderator.name}, room=sio_room(room.id)
        )
        return {"ok": True}

    async def mute(self, sid: str, payload: Mute) -> dict[str, Any]:
        # Asks the client to mute; nobody can be unmuted by someone else.
        room, moderator = self.moderator(sid)
        target = self.target(room, payload.participant_id)
        if target.sid is not None:
            await self.sio.emit(
                "room.muted", {"kind": payload.kind, "by": moderator.name}, to=target.sid
            )
        await self.sio.emit(
            "participant.updated",
            {**target.public(), "muted": payload.kind},
            room=sio_room(room.id),
        )
        return {"ok": True}

    async def end(self, sid: str) -> dict[str, Any]:
        room, moderator = self.moderator(sid)
        await self.platform.audit.record(
            moderator.actor, "room.end", object_type="room", object_id=room.id
        )
        await self.sio.emit("room.ended", {"by": moderator.name}, room=sio_room(room.id))
        async with self.platform.db() as db:
            await db.execute(
                update(Consultation)
                .where(
                    Consultation.room == room.id,
                    Consultation.status.in_([ConsultStatus.LIVE, ConsultStatus.SCHEDULED]),
                )
                .values(status=ConsultStatus.ENDED, ended_at=utcnow())
            )
            await db.commit()
        for member in list(room.members.values()):
            if member.sid is not None:
                self.by_sid.pop(member.sid, None)
        await self._close(room)
        return {"ok": True}

    async def hand(self, sid: str, payload: Hand) -> dict[str, Any]:
        room, member = self.admitted(sid)
        member.hand_raised = payload.raised
        await self.sio.emit("participant.updated", member.public(), room=sio_room(room.id))
        return {"ok": True}

    async def media_state(self, sid: str, payload: MediaState) -> dict[str, Any]:
        room, member = self.admitted(sid)
        if (member.audio_on, member.video_on) != (payload.audio, payload.video):
            member.audio_on, member.video_on = payload.audio, payload.video
            await self.sio.emit("participant.updated", member.public(), room=sio_room(room.id))
        return {"ok": True}

    async def refresh(self, sid: str) -> dict[str, Any]:
        room, member = self._member(sid)
        if member.subject.startswith("user:"):
            # A new token is a new grant: the account must still be active (the
            # socket's node checks it too, but a token is worth checking twice).
            async with self.platform.db() as db:
                user = await db.get(User, int(member.subject.removeprefix("user:")))
            if user is None or not user.is_active:
                raise RoomError("the account behind this token is disabled")
        token, claims = self.platform.signer.issue_room(
            subject=member.subject,
            room=room.id,
            grants=member.grants,
            name=member.name if member.role == "patient" else None,
        )
        return {"token": token, "token_expires_at": claims.expires_at.isoformat()}

    # Chat --------------------------------------------------------------------------------

    async def chat_send(self, sid: str, payload: ChatSend) -> dict[str, Any]:
        room, member = self.admitted(sid)
        if Grant.CHAT not in member.grants:
            raise Forbidden("you may not chat in this room")
        message = ChatMessage(
            room=room.id,
            sender=member.id,
            sender_name=member.name,
            text=payload.text,
            client_id=payload.client_id,
        )
        async with self.platform.db() as db:
            db.add(message)
            try:
                await db.commit()
            except IntegrityError:
                # A resend after a reconnect: it is stored already, nothing to broadcast.
                await db.rollback()
                existing = await db.scalar(
                    select(ChatMessage).where(
                        ChatMessage.room == room.id,
                        ChatMessage.sender == member.id,
                        ChatMessage.client_id == payload.client_id,
                    )
                )
                assert existing is not None
                return {"id": existing.id, "duplicate": True}
        await self.platform.audit.record(
            member.actor,
            "chat.send",
            object_type="room",
            object_id=room.id,
            detail={"message": message.id},
        )
        await self.sio.emit("chat.message", _chat_json(message), room=sio_room(room.id))
        return {"id": message.id}

    async def chat_history(self, sid: str, payload: ChatHistory) -> dict[str, Any]:
        room, member = self.admitted(sid)
        if Grant.CHAT not in member.grants:
            raise Forbidden("you may not read this room's chat")
        return {"messages": await self._chat_after(room.id, payload.after_id, member)}

    async def _chat_after(
        self, room_id: str, after_id: int, member: Member, *, replay: bool = False
    ) -> list[dict[str, Any]]:
        async with self.platform.db() as db:
            rows = list(
                await db.scalars(
                    select(ChatMessage)
                    .where(ChatMessage.room == room_id, ChatMessage.id > after_id)
                    .order_by(ChatMessage.id.desc() if replay else ChatMessage.id)
                    .limit(CHAT_REPLAY)
                )
            )
        if replay:
            rows.reverse()
        if rows:
            await self.platform.audit.record(
                member.actor,
                "chat.read",
                object_type="room",
                object_id=room_id,
                detail={"from": rows[0].id, "to": rows[-1].id},
            )
        return [_chat_json(m) for m in rows]

    # Media ---------------------------------------------------------------------------------

    async def _media(
        self, sid: str, call: Callable[[Room, Member], Awaitable[T]]
    ) -> tuple[Room, Member, T]:
        room, member = self.admitted(sid)
        try:
            return room, member, await call(room, member)
        except MediaError as exc:
            raise RoomError(str(exc)) from None

    async def publish(self, sid: str, payload: Publish) -> dict[str, Any]:
        sources = (
            {mid: TrackSource(s) for mid, s in payload.sources.items()} if payload.sources else None
        )
        _, _, answer = await self._media(
            sid, lambda room, m: self.media_of(m).publish_offer(room.id, m.id, payload.sdp, sources)
        )
        return {"sdp": answer}

    async def subscribe_answer(self, sid: str, payload: SubscribeAnswer) -> dict[str, Any]:
        await self._media(
            sid, lambda room, m: self.media_of(m).subscribe_answer(room.id, m.id, payload.sdp)
        )
        return {"ok": True}

    async def ice(self, sid: str, payload: Ice) -> dict[str, Any]:
        await self._media(
            sid,
            lambda room, m: self.media_of(m).add_ice_candidate(
                room.id,
                m.id,
                payload.connection,
                payload.candidate,
                payload.sdp_mid,
                payload.sdp_mline_index,
            ),
        )
        return {"ok": True}

    async def pause(self, sid: str, payload: ConsumerRef) -> dict[str, Any]:
        await self._media(
            sid,
            lambda room, m: self.media_of(m).pause_consumer(room.id, m.id, payload.producer_id),
        )
        return {"ok": True}

    async def resume(self, sid: str, payload: ConsumerRef) -> dict[str, Any]:
        await self._media(
            sid,
            lambda room, m: self.media_of(m).resume_consumer(room.id, m.id, payload.producer_id),
        )
        return {"ok": True}

    async def add_broadcaster(
        self,
        room_id: str,
        member_id: str,
        name: str,
        permissions: Permissions,
        offer: str,
        *,
        viewer: bool = False,
    ) -> str:
        """A participant without a socket, from an HTTP offer: a WHIP publisher, or
        with `viewer` a WHEP player (it is answered with the room's presenter)."""
        room = self.rooms.get(room_id) or await self._open(room_id)
        await self.media.join(room_id, member_id, permissions, auto_subscribe=not viewer)
        try:
            if viewer:
                answer = await self.media.consume_offer(room_id, member_id, offer)
            else:
                answer = await self.media.publish_offer(room_id, member_id, offer)
        except MediaError:
            await self.media.leave(room_id, member_id)
            if not room.members:
                await self._close(room)
            raise
        role = "viewer" if viewer else "trainer"
        member = Member(member_id, name, role, f"http:{member_id}", frozenset(), None, True)
        member.media = self.media
        room.members[member_id] = member
        await self.sio.emit("participant.joined", member.public(), room=sio_room(room_id))
        return answer

    def socketless_users(self) -> dict[int, list[tuple[str, str]]]:
        """The staff accounts behind this node's WHIP and WHEP members: user id ->
        (room, member) pairs (their member ids start with the account's)."""
        found: dict[int, list[tuple[str, str]]] = {}
        for room in self.rooms.values():
            for member in room.members.values():
                if member.sid is None and (match := _SOCKETLESS.match(member.id)):
                    found.setdefault(int(match[1]), []).append((room.id, member.id))
        return found

    async def drop_socketless(self, pairs: list[tuple[str, str]]) -> None:
        """Their account ended: these WHIP/WHEP members leave, media and all."""
        for room_id, member_id in pairs:
            room = self.rooms.get(room_id)
            member = room.members.get(member_id) if room else None
            if room is not None and member is not None:
                await self._drop(room, member, reason="removed")

    async def remove_broadcaster(self, room_id: str, member_id: str) -> bool:
        room = self.rooms.get(room_id)
        member = room.members.get(member_id) if room else None
        if room is None or member is None:
            return False
        await self._drop(room, member, reason="left")
        return True

    async def rejoin_media(self, room: Room, member: Member) -> None:
        """Join the member's media peer again, with the permissions their grants give now."""
        if member.media is not None:
            await self._leave_media(room, member)
        await self._join_media(room, member)

    async def restart(self, sid: str) -> dict[str, Any]:
        """Start the member's media over (new peer connections after a network change)."""
        room, member = self.admitted(sid)
        await self.rejoin_media(room, member)
        return {"ok": True}

    async def on_media_event(self, event: MediaEvent) -> None:
        room = self.rooms.get(event.room_id)
        if room is None:
            return
        if isinstance(event, SubscribeOffer):
            member = room.members.get(event.peer_id)
            if member is not None and member.sid is not None:
                await self.sio.emit("media.subscribe_offer", {"sdp": event.sdp}, to=member.sid)
        elif isinstance(event, ProducerAdded):
            info: ProducerInfo = {
                "producer_id": event.producer_id,
                "participant_id": event.peer_id,
                "kind": event.kind,
                "source": event.source.value,
            }
            room.producers[event.producer_id] = info
            await self.sio.emit("media.producer_added", info, room=sio_room(room.id))
            for listener in self._listeners:
                await listener.producer_added(room.id, info)
        elif isinstance(event, ProducerRemoved):
            room.producers.pop(event.producer_id, None)
            for listener in self._listeners:
                await listener.producer_removed(room.id, event.producer_id)
            await self.sio.emit(
                "media.producer_removed",
                {"producer_id": event.producer_id, "participant_id": event.peer_id},
                room=sio_room(room.id),
            )
        elif isinstance(event, StreamStateChanged):
            member = room.members.get(event.peer_id)
            if member is not None and member.sid is not None:
                streams = {"paused": list(event.paused), "reduced": list(event.reduced)}
                await self.sio.emit("media.stream_state", streams, to=member.sid)
        elif isinstance(event, ActiveSpeakerChanged):
            room.active_speaker = event.peer_id
            await self.sio.emit(
                "media.active_speaker", {"participant_id": event.peer_id}, room=sio_room(room.id)
            )
        elif isinstance(event, PeerClosed):
            member = room.members.get(event.peer_id)
            if (
                member is not None
                and member.media is self.media
                and await self.media.has_peer(room.id, member.id)
            ):
                return  # an earlier peer of this member; its new one is fine
            if member is not None and event.reason != PeerClosed.LEFT:
                # A leave is ours (drop, restart, new permissions): we keep count ourselves.
                member.media = None
            if member is not None and member.sid is not None and event.reason != PeerClosed.LEFT:
                # The client restarts its media (media.restart) when told.
                await self.sio.emit("media.closed", {"reason": event.reason}, to=member.sid)
            elif member is not None and member.subject.startswith("http:"):
                # a WHIP or WHEP member has nothing but its connection: gone with it
                await self._drop(room, member, reason="disconnected")

    async def close(self) -> None:
        """This node stops: its rooms go on elsewhere (on a cluster), with who was let in."""
        for room_id in list(self.rooms):
            await self.evacuate(room_id)
        for idle in self._idle.values():
            idle.cancel()
        self._idle.clear()


def _token_refusal(message: str) -> str:
    """The code of a refused join token (PlatformError.code), from InvalidToken's message."""
    if "used already" in message:
        return "link_used"
    if "expired" in message:
        return "link_expired"
    return "link_invalid"


def _chat_json(message: ChatMessage) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": message.sender,
        "name": message.sender_name,
        "text": message.text,
        "client_id": message.client_id,
        "at": message.at.isoformat(),
    }
