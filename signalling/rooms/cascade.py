"""Cascading: watchers are served by the SFU of the node their socket is on.

A room lives on one node, its origin. A member who only watches (a trainee)
and whose socket is on another node is served by that node's SFU, an edge:
the origin's SFU sends the room's tracks once to each edge over a
server-to-server WebRTC leg (a "pipe", a subscribe-only peer at the origin
whose offers the edge answers with media_server's pipe_offer), and each
edge forwards them to its own watchers. One broadcast then costs the origin
one stream per edge node, not one per trainee.

Room state stays at the origin: the member's events still go there, only
its media calls (join, subscribe answers, ICE, leave) go to the edge, and
the edge sends the member its subscribe offers directly.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import socketio

from media_server.api import MediaServer
from media_server.errors import MediaError, UnknownPeer, UnknownRoom
from media_server.events import MediaEvent, PeerClosed, SubscribeOffer
from media_server.permissions import Permissions, TrackSource
from media_server.tasks import TaskSet
from signalling.cluster.routing import NodeRpc, NodeUnreachable, RemoteError, RoomRouter, RpcHandler
from signalling.errors import PlatformError
from signalling.rooms.listener import RoomListener
from signalling.rooms.manager import Rooms
from signalling.rooms.room import Member, Room

log = logging.getLogger(__name__)

PIPE = "pipe"  # the pipe's peer id at the edge; at the origin it is "pipe:<edge node>"
# An edge's media room has its own id: the room itself may come to live here later.
EDGE = "edge:"
# Inner calls give up before the origin's call to us (10 s) does.
JOIN_TIMEOUT_S = 7.0
PIPE_TIMEOUT_S = 4.0


def _edge_room(room: str) -> str:
    return f"{EDGE}{room}"


def _pipe_peer(edge_node: str) -> str:
    return f"{PIPE}:{edge_node}"


class EdgeMedia:
    """One member's media calls, made on the edge node that serves it."""

    def __init__(self, rpc: NodeRpc, node: str, origin: str) -> None:
        self.rpc, self.node, self.origin = rpc, node, origin

    async def _call(self, method: str, timeout: float = 10.0, **args: Any) -> Any:
        return await self.rpc.call(self.node, f"edge.{method}", timeout=timeout, **args)

    async def join(
        self, room_id: str, peer_id: str, permissions: Permissions, auto_subscribe: bool = True
    ) -> None:
        try:
            await self._call(
                "join",
                timeout=JOIN_TIMEOUT_S,
                room=room_id,
                peer=peer_id,
                permissions=dataclasses.asdict(permissions),
                origin=self.origin,
            )
        except NodeUnreachable:
            # it may still finish there: undo, since the origin serves the member now
            with contextlib.suppress(PlatformError):
                await self.leave(room_id, peer_id)
            raise

    async def leave(self, room_id: str, peer_id: str) -> None:
        await self._call("leave", room=room_id, peer=peer_id)

    async def publish_offer(
        self,
        room_id: str,
        peer_id: str,
        sdp: str,
        sources: Mapping[str, TrackSource] | None = None,
    ) -> str:
        raise RemoteError("a watcher does not publish; ask to be promoted first")

    async def subscribe_answer(self, room_id: str, peer_id: str, sdp: str) -> None:
        await self._call("subscribe_answer", room=room_id, peer=peer_id, sdp=sdp)

    async def add_ice_candidate(
        self,
        room_id: str,
        peer_id: str,
        connection: str,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        await self._call(
            "ice",
            room=room_id,
            peer=peer_id,
            connection=connection,
            candidate=candidate,
            sdp_mid=sdp_mid,
            sdp_mline_index=sdp_mline_index,
        )

    async def pause_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None:
        await self._call("pause", room=room_id, peer=peer_id, producer=producer_id)

    async def resume_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None:
        await self._call("resume", room=room_id, peer=peer_id, producer=producer_id)


@dataclass
class Edge:
    """A room of another node, served here to this node's watchers."""

    origin: str
    watchers: set[str] = field(default_factory=set)  # peer ids
    piped: bool = False


class Cascade(RoomListener):
    def __init__(
        self,
        rooms: Rooms,
        media: MediaServer,
        sio: socketio.AsyncServer,
        rpc: NodeRpc,
        router: RoomRouter,
    ) -> None:
        self.rooms, self.media, self.sio, self.rpc, self.router = rooms, media, sio, rpc, router
        self.edges: dict[str, Edge] = {}  # rooms served here for another node
        self.pipes: dict[str, set[str]] = {}  # rooms here -> edge nodes fed
        self._tasks = TaskSet()
        self._lock = asyncio.Lock()
        router.when_nodes_change(self._nodes_changed)
        handlers: dict[str, RpcHandler] = {
            "edge.join": self._edge_join,
            "edge.leave": self._edge_leave,
            "edge.subscribe_answer": self._edge_subscribe_answer,
            "edge.ice": self._edge_ice,
            "edge.pause": self._edge_pause,
            "edge.resume": self._edge_resume,
            "edge.close": self._edge_close,
            "edge.event": self._edge_event,
            "pipe.open": self._pipe_open,
            "pipe.close": self._pipe_close,
            "pipe.offer": self._pipe_offer,
        }
        for name, handler in handlers.items():
            rpc.handle(name, handler)

    # At the origin ------------------------------------------------------------------

    def place(self, room: Room, member: Member) -> EdgeMedia | None:
        """A watcher whose socket is on a live other node is served there."""
        permissions = member.permissions()
        watcher = permissions.may_subscribe and not any(
            permissions.may_publish(source) for source in TrackSource
        )
        node = self.router.remote_sids.get(member.sid or "")
        if not watcher or node is None or node in self.rpc.dead:
            return None
        return EdgeMedia(self.rpc, node, self.router.node_id)

    async def _pipe_open(self, room: str, edge: str) -> None:
        """An edge wants this room's tracks: a subscribe-only peer that takes them all."""
        if room not in self.rooms.rooms:
            raise RemoteError(f"room {room} is not on node {self.router.node_id}")
        fed = self.pipes.setdefault(room, set())
        if edge in fed:
            # the edge started over (its earlier pipe may not be known dead here yet)
            with contextlib.suppress(UnknownPeer):
                await self.media.leave(room, _pipe_peer(edge))
        await self._media(self.media.join(room, _pipe_peer(edge), Permissions(may_subscribe=True)))
        fed.add(edge)

    async def _pipe_close(self, room: str, edge: str) -> None:
        if edge in self.pipes.get(room, set()):
            self.pipes[room].discard(edge)
            with contextlib.suppress(UnknownPeer, UnknownRoom):
                await self.media.leave(room, _pipe_peer(edge))

    async def _answer_pipe(self, room: str, peer: str, sdp: str) -> None:
        edge = peer.removeprefix(f"{PIPE}:")
        here = self.rooms.rooms.get(room)
        # camera or screen: what the origin was told, so that the edge records it right
        sources = {p: i["source"] for p, i in here.producers.items()} if here else {}
        try:
            answer = await self.rpc.call(edge, "pipe.offer", room=room, sdp=sdp, sources=sources)
            await self.media.subscribe_answer(room, peer, answer)
        except Exception as exc:
            log.warning("pipe to %s for room %s failed: %s", edge, room, exc)
            await self._pipe_close(room, edge)

    def room_closed(self, room_id: str) -> None:
        for edge in self.pipes.pop(room_id, set()):
            self._tasks.spawn(self._tell(edge, "edge.close", room=room_id))

    async def _tell(self, node: str, method: str, **args: Any) -> None:
        with contextlib.suppress(Exception):
            await self.rpc.call(node, method, **args)

    # At an edge ----------------------------------------------------------------------

    async def _edge_join(
        self, room: str, peer: str, permissions: dict[str, bool], origin: str
    ) -> None:
        media_room = _edge_room(room)
        async with self._lock:
            edge = self.edges.get(room)
            if edge is None or edge.origin != origin:
                if edge is not None:
                    await self._close_edge(room)
                with contextlib.suppress(MediaError):
                    await self.media.create_room(media_room)
                edge = self.edges[room] = Edge(origin)
            if not edge.piped:
                try:
                    # the pipe's peer must exist before the origin's first offer lands
                    await self._media(
                        self.media.join(
                            media_room,
                            PIPE,
                            Permissions(
                                may_publish_audio=True,
                                may_publish_video=True,
                                may_publish_screen=True,
                                may_subscribe=False,
                            ),
                        ),
                        tolerate=True,
                    )
                    await self.rpc.call(
                        origin,
                        "pipe.open",
                        timeout=PIPE_TIMEOUT_S,
                        room=room,
                        edge=self.router.node_id,
                    )
                except PlatformError:
                    await self._close_edge(room)
                    raise
                edge.piped = True
            with contextlib.suppress(UnknownPeer):
                await self.media.leave(media_room, peer)  # a restart: new connections
            await self._media(self.media.join(media_room, peer, Permissions(**permissions)))
            edge.watchers.add(peer)

    async def _edge_leave(self, room: str, peer: str) -> None:
        async with self._lock:
            edge = self.edges.get(room)
            if edge is None or peer not in edge.watchers:
                return
            edge.watchers.discard(peer)
            with contextlib.suppress(UnknownPeer, UnknownRoom):
                await self.media.leave(_edge_room(room), peer)
            if not edge.watchers:
                await self._close_edge(room, tell_watchers=False)
                self._tasks.spawn(
                    self._tell(edge.origin, "pipe.close", room=room, edge=self.router.node_id)
                )

    async def _edge_subscribe_answer(self, room: str, peer: str, sdp: str) -> None:
        await self._media(self.media.subscribe_answer(self._watcher(room, peer), peer, sdp))

    async def _edge_ice(
        self,
        room: str,
        peer: str,
        connection: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        await self._media(
            self.media.add_ice_candidate(
                self._watcher(room, peer), peer, connection, candidate, sdp_mid, sdp_mline_index
            )
        )

    async def _edge_pause(self, room: str, peer: str, producer: str) -> None:
        await self._media(self.media.pause_consumer(self._watcher(room, peer), peer, producer))

    async def _edge_resume(self, room: str, peer: str, producer: str) -> None:
        await self._media(self.media.resume_consumer(self._watcher(room, peer), peer, producer))

    async def _edge_close(self, room: str) -> None:
        async with self._lock:
            await self._close_edge(room)

    async def _pipe_offer(self, room: str, sdp: str, sources: dict[str, str]) -> str:
        if room not in self.edges:
            raise RemoteError(f"room {room} is not served by node {self.router.node_id}")
        kinds = {p: TrackSource(s) for p, s in sources.items() if s in set(TrackSource)}
        answer: str = await self._media(self.media.pipe_offer(_edge_room(room), PIPE, sdp, kinds))
        return answer

    def _watcher(self, room: str, peer: str) -> str:
        """The edge's media room of a watcher served here."""
        edge = self.edges.get(room)
        if edge is None or peer not in edge.watchers:
            raise RemoteError("not served by this node")
        return _edge_room(room)

    async def _close_edge(self, room: str, *, tell_watchers: bool = True) -> None:
        edge = self.edges.pop(room, None)
        if edge is None:
            return
        with contextlib.suppress(UnknownRoom):
            await self.media.close_room(_edge_room(room))
        if tell_watchers:
            # they start their media over, and the origin places them again
            for peer in edge.watchers:
                self._tasks.spawn(
                    self._tell(
                        edge.origin,
                        "edge.event",
                        room=room,
                        peer=peer,
                        reason=PeerClosed.CONNECTION_CLOSED,
                    )
                )

    async def _edge_event(
        self, room: str, peer: str, sdp: str | None = None, reason: str | None = None
    ) -> None:
        """At the origin: an edge's offer or loss for one of our members, sent to
        the member's socket of now (it may have reconnected since it joined)."""
        here = self.rooms.rooms.get(room)
        member = here.members.get(peer) if here else None
        if member is None or member.sid is None:
            return
        if sdp is not None:
            await self.sio.emit("media.subscribe_offer", {"sdp": sdp}, to=member.sid)
        elif reason is not None:
            member.media = None
            await self.sio.emit("media.closed", {"reason": reason}, to=member.sid)

    async def _nodes_changed(self, live: Collection[str]) -> None:
        # An origin that died takes its edges with it (its rooms come back elsewhere).
        async with self._lock:
            for room, edge in list(self.edges.items()):
                if edge.origin not in live:
                    await self._close_edge(room, tell_watchers=False)
        for room, fed in list(self.pipes.items()):
            for node in fed - set(live):
                await self._pipe_close(room, node)

    # Events ------------------------------------------------------------------------

    async def on_media_event(self, event: MediaEvent) -> None:
        if event.room_id.startswith(EDGE):
            # Producers and speakers are announced by the origin; a watcher's offers and
            # losses go to the origin, which knows the member's socket of now.
            room = event.room_id.removeprefix(EDGE)
            edge = self.edges.get(room)
            peer = getattr(event, "peer_id", None) or ""
            if edge is not None and peer == PIPE and isinstance(event, PeerClosed):
                if event.reason != PeerClosed.LEFT:  # the origin's leg broke
                    self._tasks.spawn(self._edge_close(room))
                return
            if edge is None or peer not in edge.watchers:
                return
            if isinstance(event, SubscribeOffer):
                await self._tell(edge.origin, "edge.event", room=room, peer=peer, sdp=event.sdp)
            elif isinstance(event, PeerClosed) and event.reason != PeerClosed.LEFT:
                edge.watchers.discard(peer)
                await self._tell(
                    edge.origin, "edge.event", room=room, peer=peer, reason=event.reason
                )
            return
        peer = getattr(event, "peer_id", "") or ""
        if peer.startswith(f"{PIPE}:"):
            if isinstance(event, SubscribeOffer):
                self._tasks.spawn(self._answer_pipe(event.room_id, peer, event.sdp))
            elif isinstance(event, PeerClosed) and event.reason != PeerClosed.LEFT:
                # the pipe broke (a leave is ours, and already counted): the edge
                # closes, its watchers start over
                edge_node = peer.removeprefix(f"{PIPE}:")
                self.pipes.get(event.room_id, set()).discard(edge_node)
                self._tasks.spawn(self._tell(edge_node, "edge.close", room=event.room_id))
            return
        await self.rooms.on_media_event(event)

    # Helpers -------------------------------------------------------------------------

    async def _media(self, call: Any, *, tolerate: bool = False) -> Any:
        """Media errors cross nodes as the refusal they are."""
        try:
            return await call
        except MediaError as exc:
            if tolerate:
                return None
            raise RemoteError(str(exc)) from None
