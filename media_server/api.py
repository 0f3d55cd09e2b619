"""The media plane's interface to the control plane.

The control plane (signalling/) builds one :class:`MediaServer` and calls
it; the media plane knows rooms, peers, producers and consumers, and
nothing of users, roles or patients::

    server = MediaServer(listener)          # listener: async (MediaEvent) -> None
    await server.create_room("r1")
    await server.join("r1", "alice", Permissions(may_publish_audio=True,
                                                 may_publish_video=True))
    answer = await server.publish_offer("r1", "alice", offer_sdp)
    # the listener receives SubscribeOffer(room, peer, sdp) for each subscriber;
    # their answers come back through:
    await server.subscribe_answer("r1", "bob", answer_sdp)
    await server.add_ice_candidate("r1", "bob", "subscribe", "candidate:...", "0", 0)
    await server.subscribe("r1", "carol", producer_id)  # if joined with auto_subscribe=False
    await server.unsubscribe("r1", "carol", producer_id)
    await server.pause_consumer("r1", "bob", producer_id)
    await server.resume_consumer("r1", "bob", producer_id)
    # WHEP playback: the player offers, the server answers with consumers
    await server.join("r1", "viewer", Permissions(), auto_subscribe=False)
    answer = await server.consume_offer("r1", "viewer", whep_offer_sdp)
    # cascading: an origin's subscribe offer for its "pipe" peer, applied on an edge
    answer = await edge.pipe_offer("r1", "pipe", origin_offer_sdp, sources)
    await server.resend_subscribe_offer("r1", "bob")  # the unanswered offer, again
    await server.has_peer("r1", "bob")  # is a PeerClosed still about the current peer?
    stats = await server.stats("r1")
    await server.add_tap("r1", producer_id, tap)  # tap(packet, codec, arrival): recording
    await server.remove_tap("r1", producer_id, tap)
    ice_servers = server.ice_servers_for("alice")  # STUN/TURN for the client
    await server.leave("r1", "alice")
    await server.close_room("r1")

Each participant has a publish connection (the client offers; one m-line
per track it sends: microphone, camera, screen) and a subscribe
connection (the server offers, and re-offers whenever producers come and
go; it exists once there is something to receive). Producer ids are
"<peer id>:<mid>", or "<peer id>:<mid>.<n>" when that name was used before
in the room (a member back after a reload, a screen shared again): an id
is never reused, since a subscriber's connection keeps the sections of
what it was sent (a piped producer keeps its origin's id, see below;
nothing parses them); at the subscriber, the track id of a consumer is
the producer id and its stream id is the publishing peer's id.

WHEP playback (`consume_offer`): a player that cannot be offered to
offers once itself, typically one receive-only audio and one video
section. The answer fills each receiving section with a consumer (the
same forwarding as the subscribe connection): audio takes microphones,
video cameras then screens, in the order they were added to the room,
unless the caller names producers. That connection is the peer's
subscribe connection (ICE trickle: "subscribe") and is never
renegotiated: a producer that goes away leaves its section silent.

Cascading (`pipe_offer`): a training reaches edge nodes over
server-to-server WebRTC. On the origin a subscribe-only "pipe" peer
joins with auto_subscribe; each SubscribeOffer for it goes to the edge's
`pipe_offer`, for a pipe peer that joined there with publish permissions
and may_subscribe=False, and the answer comes back through the origin's
`subscribe_answer`. Each sending section becomes a producer on the edge
named after the origin's (its a=msid): producer id = the origin's
producer id, peer id = the origin's publishing peer, so that subscribers
of both nodes see the same track and stream ids. Those peer ids are not
peers of the edge. Re-offers add and remove producers; keyframe requests
travel back over the pipe as any PLI does. Leaving the pipe peer, on
either side, ends the cascaded producers.

Events, delivered in order to the listener: SubscribeOffer,
ProducerAdded, ProducerRemoved, ActiveSpeakerChanged, PeerClosed (left,
connection failed or closed, a subscribe offer unanswered for
`answer_timeout`, nothing received for `media_timeout` while
the peer publishes or consumes), StreamStateChanged (which simulcast
videos a subscriber's link has paused or reduced).

Errors are :class:`media_server.errors.MediaError` subclasses with a
message fit for the peer that caused them; they change nothing else.
All methods that touch a room are coroutines, so that a room can later
live on another node behind the same interface.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aiortc import RTCBundlePolicy, RTCConfiguration, RTCIceServer

from . import aiortc_internals as internals
from .errors import (
    InvalidState,
    NotPermitted,
    RoomExists,
    UnknownConsumer,
    UnknownProducer,
    UnknownRoom,
)
from .events import MediaEvent, PeerClosed, RoomStats
from .permissions import Permissions, TrackSource
from .producer import RtpTap
from .reachability import IceServer, TurnRest
from .red import OPUS_PAYLOAD_TYPE
from .room import Room
from .simulcast import CAMERA_ENCODINGS

logger = logging.getLogger(__name__)

Listener = Callable[[MediaEvent], Awaitable[None]]

# Events waiting for a slow listener; beyond this they are dropped and logged.
EVENT_QUEUE_SIZE = 10_000
# Seconds close() waits for the listener to take the last events.
CLOSE_TIMEOUT = 5.0


@dataclass(frozen=True)
class MediaConfig:
    media_timeout: float = 15.0
    """Seconds without any packet from a peer before it is dropped."""
    answer_timeout: float = 15.0
    """Seconds a subscribe offer may wait for its answer before the peer is dropped."""
    liveness_interval: float = 1.0
    keyframe_interval: float = 0.5
    """At most one keyframe request per producer per this many seconds."""
    speaker_interval: float = 0.3
    ice_servers: tuple[RTCIceServer, ...] = field(default_factory=tuple)
    """STUN/TURN servers of the server's own connections (usually none)."""
    announced_address: str | None = None
    """Public IPv4 address of a server behind a port-preserving 1:1 NAT."""
    client_ice_servers: tuple[IceServer, ...] = field(default_factory=tuple)
    """Static STUN/TURN entries handed to clients."""
    turn: TurnRest | None = None
    """TURN servers sharing a secret with us (coturn use-auth-secret)."""
    simulcast: bool = True
    """Clients send their camera as CAMERA_ENCODINGS (simulcast.py); off: one encoding."""


class MediaServer:
    def __init__(self, listener: Listener | None = None, config: MediaConfig | None = None) -> None:
        self.config = config or MediaConfig()
        # Browsers send Opus FEC only to a peer that declares it decodes it;
        # Opus at a browser's number lets RED pass between browsers unchanged.
        internals.declare_opus_fec_and_dtx(OPUS_PAYLOAD_TYPE)
        # and several encodings of a camera only to one that accepts their RIDs
        internals.declare_simulcast_header_extensions()
        self._listener = listener
        self._rooms: dict[str, Room] = {}
        self._events: asyncio.Queue[MediaEvent] = asyncio.Queue(EVENT_QUEUE_SIZE)
        self._dispatcher: asyncio.Task[None] | None = None

    def set_listener(self, listener: Listener) -> None:
        self._listener = listener

    # rooms and peers

    async def create_room(self, room_id: str) -> None:
        if room_id in self._rooms:
            raise RoomExists(f"room {room_id!r} already exists")
        self._start_dispatcher()
        self._rooms[room_id] = Room(
            room_id,
            emit=self._emit,
            # Every section on one transport. Under aiortc's default (balanced) a
            # second video section shares the first video's transport, which the
            # peer's BUNDLE answer then stops: a subscriber whose first offer has
            # two videos (anyone joining after two publishers) got only the first.
            configuration=RTCConfiguration(
                iceServers=list(self.config.ice_servers), bundlePolicy=RTCBundlePolicy.MAX_BUNDLE
            ),
            media_timeout=self.config.media_timeout,
            answer_timeout=self.config.answer_timeout,
            liveness_interval=self.config.liveness_interval,
            keyframe_interval=self.config.keyframe_interval,
            speaker_interval=self.config.speaker_interval,
            announced_address=self.config.announced_address,
        )

    async def close_room(self, room_id: str) -> None:
        room = self._room(room_id)
        del self._rooms[room_id]
        await room.close()

    async def join(
        self, room_id: str, peer_id: str, permissions: Permissions, auto_subscribe: bool = True
    ) -> None:
        """Add a peer; with `auto_subscribe` it consumes every producer, present and future."""
        self._room(room_id).join(peer_id, permissions, auto_subscribe)

    async def has_peer(self, room_id: str, peer_id: str) -> bool:
        """Whether the peer is in the room now (a PeerClosed already queued for an
        earlier peer of that id says nothing of this one)."""
        room = self._rooms.get(room_id)
        return room is not None and peer_id in room.peers

    async def resend_subscribe_offer(self, room_id: str, peer_id: str) -> bool:
        """Emit the peer's unanswered subscribe offer again (SubscribeOffer), for a
        client whose signalling connection changed while it was in flight; False
        if no offer awaits an answer."""
        return self._room(room_id).peer(peer_id).resend_offer()

    async def leave(self, room_id: str, peer_id: str) -> None:
        room = self._room(room_id)
        room.peer(peer_id)
        await room.remove_peer(peer_id, PeerClosed.LEFT)

    # negotiation

    async def publish_offer(
        self,
        room_id: str,
        peer_id: str,
        sdp: str,
        sources: Mapping[str, TrackSource] | None = None,
    ) -> str:
        """Apply the peer's publish offer and return the answer SDP.

        `sources` maps the offer's mids to what they carry; without it,
        audio is the microphone, the first video the camera and a second
        video the screen.
        """
        return await self._room(room_id).peer(peer_id).publish_offer(sdp, sources)

    async def consume_offer(
        self,
        room_id: str,
        peer_id: str,
        sdp: str,
        producer_ids: Sequence[str] | None = None,
    ) -> str:
        """Answer a WHEP player's offer for the peer's subscribe connection.

        The peer joined with auto_subscribe=False and may subscribe. Each
        receive-only (or sendrecv) section carries one producer: by default
        microphones for audio, cameras then screens for video, in room
        order; `producer_ids` names them instead, in the order the sections
        of each kind take them (each must find a section, else BadSdp).
        Sections left over are answered inactive. Once only: no renegotiation.
        """
        room = self._room(room_id)
        peer = room.peer(peer_id)
        if producer_ids is None:
            return await peer.consume_offer(sdp, room.producers.values(), named=False)
        producers = [room.producer(p) for p in dict.fromkeys(producer_ids)]
        return await peer.consume_offer(sdp, producers, named=True)

    async def pipe_offer(
        self,
        room_id: str,
        peer_id: str,
        sdp: str,
        sources: Mapping[str, TrackSource] | None = None,
    ) -> str:
        """Apply another MediaServer's subscribe offer on the pipe peer's publish connection.

        Every sending section becomes a producer whose id is the origin's
        producer id and whose peer id is the origin's publishing peer (the
        section's a=msid). `sources` maps origin producer ids to what they
        carry (ProducerAdded.source there); without it audio is the
        microphone and video the camera. A producer id the room already has
        is refused (InvalidState) and nothing changes.
        """
        return await self._room(room_id).peer(peer_id).pipe_offer(sdp, sources)

    async def subscribe_answer(self, room_id: str, peer_id: str, sdp: str) -> None:
        await self._room(room_id).peer(peer_id).subscribe_answer(sdp)

    async def add_ice_candidate(
        self,
        room_id: str,
        peer_id: str,
        connection: str,
        candidate: str | None,
        sdp_mid: str | None = None,
        sdp_mline_index: int | None = None,
    ) -> None:
        """Add a trickled candidate to the "publish" or "subscribe" connection.

        A None or empty candidate means end of candidates.
        """
        peer = self._room(room_id).peer(peer_id)
        await peer.add_ice_candidate(connection, candidate, sdp_mid, sdp_mline_index)

    # consumers

    async def subscribe(self, room_id: str, peer_id: str, producer_id: str) -> None:
        """Consume one producer (for peers joined without auto_subscribe)."""
        room = self._room(room_id)
        peer = room.peer(peer_id)
        producer = room.producer(producer_id)
        if not peer.permissions.may_subscribe:
            raise NotPermitted("peer may not subscribe")
        if peer.playback:
            raise InvalidState("a WHEP player's consumers are fixed by its offer")
        if not peer.subscribe_to(producer):
            raise InvalidState("a peer does not consume its own producers")

    async def unsubscribe(self, room_id: str, peer_id: str, producer_id: str) -> None:
        """Stop consuming; a WHEP player's section stays, silent."""
        if not self._room(room_id).peer(peer_id).unsubscribe(producer_id):
            raise UnknownConsumer(f"peer {peer_id} does not consume {producer_id}")

    async def pause_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None:
        self._room(room_id).peer(peer_id).consumer(producer_id).pause()

    async def resume_consumer(self, room_id: str, peer_id: str, producer_id: str) -> None:
        self._room(room_id).peer(peer_id).consumer(producer_id).resume()

    # taps (recording)

    async def add_tap(self, room_id: str, producer_id: str, tap: RtpTap) -> None:
        """Give `tap` every packet `producer_id` receives from now on, encoded as it came."""
        self._room(room_id).producer(producer_id).add_tap(tap)

    async def remove_tap(self, room_id: str, producer_id: str, tap: RtpTap) -> None:
        """Stop feeding `tap`; a producer or room already gone is not an error."""
        room = self._rooms.get(room_id)
        if room is None:
            return
        try:
            room.producer(producer_id).remove_tap(tap)
        except UnknownProducer:
            pass

    async def request_keyframe(self, room_id: str, producer_id: str) -> None:
        """Ask the publisher for a keyframe (throttled as the consumers' requests are)."""
        self._room(room_id).producer(producer_id).request_keyframe()

    def camera_encodings(self) -> list[dict[str, object]]:
        """The `sendEncodings` a client publishes its camera with ([]: one encoding)."""
        return [dict(e) for e in CAMERA_ENCODINGS] if self.config.simulcast else []

    def ice_servers_for(self, peer_id: str) -> list[dict[str, object]]:
        """The `iceServers` a client creates its connections with (fresh TURN credentials)."""
        servers = list(self.config.client_ice_servers)
        if self.config.turn is not None:
            servers.append(self.config.turn.ice_server(peer_id))
        return [server.to_json() for server in servers]

    async def stats(self, room_id: str) -> RoomStats:
        return self._room(room_id).stats()

    async def close(self) -> None:
        for room_id in list(self._rooms):
            await self.close_room(room_id)
        # let the last events (PeerClosed) reach the listener
        if self._dispatcher is not None:
            try:
                await asyncio.wait_for(self._events.join(), CLOSE_TIMEOUT)
            except TimeoutError:
                logger.warning(
                    "media event listener too slow, %d events dropped", self._events.qsize()
                )
            self._dispatcher.cancel()
            await asyncio.gather(self._dispatcher, return_exceptions=True)
            self._dispatcher = None

    # internals

    def _room(self, room_id: str) -> Room:
        try:
            return self._rooms[room_id]
        except KeyError:
            raise UnknownRoom(f"no room {room_id!r}") from None

    def _emit(self, event: MediaEvent) -> None:
        try:
            self._events.put_nowait(event)
        except asyncio.QueueFull:
            logger.error("event queue full, dropping %s", event)

    def _start_dispatcher(self) -> None:
        if self._dispatcher is None:
            self._dispatcher = asyncio.ensure_future(self._dispatch())

    async def _dispatch(self) -> None:
        while True:
            event = await self._events.get()
            try:
                if self._listener is not None:
                    await self._listener(event)
            except Exception:
                logger.exception("media event listener failed on %s", event)
            finally:
                self._events.task_done()
