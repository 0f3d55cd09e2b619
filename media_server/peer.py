"""Peer: one participant's two connections, its producers and its consumers.

As in LiveKit, a peer has a publish connection, where the client offers
and the server answers, and a subscribe connection, where the server
offers and renegotiates whenever the room's producers come and go. Two
connections avoid offer glare.

Subscribe negotiation is one offer at a time: changes that arrive while
an answer is awaited are folded into the next offer.

Two variants reuse these connections rather than adding a third kind:

- WHEP playback: the client offers the subscribe connection once and the
  server answers, filling its sections with consumers; nothing is ever
  renegotiated.
- A pipe from another SFU: that server's subscribe offers arrive on the
  publish connection, and each section becomes a producer named after
  the origin's producer (a=msid) instead of "<peer id>:<mid>".
"""

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from aiortc import (
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpCodecCapability,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.sdp import candidate_from_sdp

from . import aiortc_internals as internals
from . import red
from .allocator import TICK_S, Choice, StreamAllocator
from .consumer import Consumer, ForwardedTrack
from .errors import (
    BadCandidate,
    BadSdp,
    InvalidState,
    MediaError,
    NotPermitted,
    UnknownConsumer,
)
from .events import MediaEvent, PeerClosed, StreamStateChanged, SubscribeOffer
from .pacer import Pacer
from .permissions import Permissions, TrackSource
from .playback import choose_playback, describe
from .producer import Producer
from .reachability import announce_address
from .sdp_guard import MAX_MEDIA_SECTIONS, MAX_SDP_LENGTH, OfferedMedia, check_description
from .simulcast import answer_simulcast
from .tasks import TaskSet

logger = logging.getLogger(__name__)

PUBLISH = "publish"
SUBSCRIBE = "subscribe"
# what the publish connection carries: a client's own tracks, or another SFU's
OWN_TRACKS = "publish"
PIPE = "pipe"


@dataclass(frozen=True)
class Publication:
    """What one sending section of a publish offer becomes: a producer so named."""

    producer_id: str
    peer_id: str
    source: TrackSource


class PeerCallbacks:
    """What a peer needs from its room; kept narrow so Peer does not know Room."""

    def __init__(
        self,
        emit: Callable[[MediaEvent], None],
        producer_added: Callable[[Producer], None],
        producer_removed: Callable[[Producer], None],
        dropped: Callable[["Peer", str], None],
        has_producer: Callable[[str], bool],
        name_producer: Callable[[str], str],
        active_speaker: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.emit = emit
        self.active_speaker = active_speaker
        self.name_producer = name_producer
        self.producer_added = producer_added
        self.producer_removed = producer_removed
        self.dropped = dropped
        self.has_producer = has_producer


class Peer:
    def __init__(
        self,
        room_id: str,
        peer_id: str,
        permissions: Permissions,
        callbacks: PeerCallbacks,
        configuration: RTCConfiguration,
        media_timeout: float,
        answer_timeout: float,
        liveness_interval: float,
        keyframe_interval: float,
        announced_address: str | None = None,
    ) -> None:
        self.room_id = room_id
        self.id = peer_id
        self.permissions = permissions
        self.producers: dict[str, Producer] = {}  # by mid of the publish connection
        self.consumers: dict[str, Consumer] = {}  # by producer id
        self._callbacks = callbacks
        self._configuration = configuration
        self._media_timeout = media_timeout
        self._answer_timeout = answer_timeout
        self._liveness_interval = liveness_interval
        self._keyframe_interval = keyframe_interval
        self._announced_address = announced_address
        self._publish_pc: RTCPeerConnection | None = None
        self._subscribe_pc: RTCPeerConnection | None = None
        self._publish_lock = asyncio.Lock()
        self._subscribe_lock = asyncio.Lock()
        self._wanted: dict[str, Producer] = {}
        self.auto_subscribe = True
        self.playback = False
        """The subscribe connection was offered by the client (WHEP) and is fixed."""
        self._publish_mode: str | None = None
        self._awaiting_answer = False
        self._offered_at = 0.0
        self._renegotiate = False
        self._tasks = TaskSet()
        self._monitor_started = False
        self._allocator = StreamAllocator(self._priority)
        self._allocating = False
        # what this peer is sent leaves at its link's pace (its consumers share it)
        self.pacer = Pacer()
        self._stream_state: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
        self.closed = False

    # publish connection

    async def publish_offer(self, sdp: str, sources: Mapping[str, TrackSource] | None) -> str:
        offered = check_description(sdp, "offer")
        publications = {
            mid: Publication(self._producer_id(mid), self.id, source)
            for mid, source in self._sources_for(offered, sources or {}).items()
        }
        return await self._apply_publish_offer(sdp, publications, OWN_TRACKS)

    async def pipe_offer(self, sdp: str, sources: Mapping[str, TrackSource] | None) -> str:
        """Apply another SFU's subscribe offer: its consumers become producers here."""
        pc = self._publish_pc
        previous = pc.remoteDescription if pc is not None else None
        # m-lines are never recycled by the origin (aiortc): a long-lived pipe's
        # offer keeps every section it ever had, so the limits grow with it
        known_sections = str(previous.sdp).count("\nm=") if previous is not None else 0
        known_length = len(str(previous.sdp)) if previous is not None else 0
        offered = check_description(
            sdp,
            "offer",
            max_sections=known_sections + MAX_MEDIA_SECTIONS,
            max_length=known_length + MAX_SDP_LENGTH,
        )
        publications = self._piped_publications(offered, sources or {})
        return await self._apply_publish_offer(sdp, publications, PIPE)

    async def _apply_publish_offer(
        self, sdp: str, publications: Mapping[str, Publication], mode: str
    ) -> str:
        """Answer an offer on the publish connection; new sending sections become producers."""
        async with self._publish_lock:
            if self.closed:
                raise InvalidState("peer has left")
            if self._publish_mode not in (None, mode):
                raise InvalidState(
                    f"this peer's publish connection carries {self._publish_mode} offers"
                )
            pc = self._publish_pc
            fresh = pc is None
            if pc is None:
                pc = self._new_connection(PUBLISH)
            elif pc.signalingState != "stable":
                raise InvalidState("a publish offer is already being handled")
            known = {t.mid for t in pc.getTransceivers()}
            try:
                self._check_names(publications, known)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                _accept_red(pc, sdp)  # before the producers read their codecs
            except Exception as exc:  # aiortc raises several types on bad input
                if fresh:
                    await pc.close()
                if isinstance(exc, MediaError):
                    raise
                raise BadSdp(f"offer rejected: {exc}") from exc
            if fresh:
                self._publish_pc = pc
                self._publish_mode = mode
            # hook receivers before they start: nothing awaited in between. A
            # section that sends again (a screen shared once more on its old
            # m-line) is a new producer on its old receiver.
            hooked: dict[str, RTCRtpTransceiver] = {}
            for transceiver in pc.getTransceivers():
                mid = transceiver.mid
                if mid is not None and mid in publications and mid not in self.producers:
                    hooked[mid] = transceiver
            producers = {
                mid: Producer(
                    producer_id=publications[mid].producer_id,
                    peer_id=publications[mid].peer_id,
                    source=publications[mid].source,
                    transceiver=transceiver,
                    spawn=self._tasks.spawn,
                    keyframe_interval=self._keyframe_interval,
                )
                for mid, transceiver in hooked.items()
            }
            try:
                answer = await pc.createAnswer()
                await pc.setLocalDescription(answer)
            except Exception as exc:
                for producer in producers.values():
                    producer.close()
                raise BadSdp(f"offer cannot be answered: {exc}") from exc
            answer_sdp = str(pc.localDescription.sdp)
            if mode == PUBLISH:
                # a browser's camera in several encodings; a pipe forwards one
                answer_sdp, layers = answer_simulcast(sdp, answer_sdp)
                for mid, rids in layers.items():
                    if mid in producers:
                        producers[mid].set_simulcast(rids)

            # removals first: a pipe may end a producer and start one of the same id
            for mid in [m for m in self.producers if m not in publications]:
                # the client stopped sending this track
                self._callbacks.producer_removed(self.producers.pop(mid))
            for mid, producer in producers.items():
                self.producers[mid] = producer
                self._callbacks.producer_added(producer)
            self._start_monitor()
            return self._outgoing(answer_sdp)

    def _producer_id(self, mid: str) -> str:
        """The id of the producer a sending section carries: its own while it goes
        on, else a new one that the room has never used (see Room.name_producer)."""
        current = self.producers.get(mid)
        if current is not None:
            return current.id
        return self._callbacks.name_producer(f"{self.id}:{mid}")

    def _check_names(self, publications: Mapping[str, Publication], known: set[str | None]) -> None:
        """Refuse a producer id the room already has, unless this offer ends its holder."""
        ending = {p.id for mid, p in self.producers.items() if mid not in publications}
        for mid, publication in publications.items():
            current = self.producers.get(mid)
            if current is not None:
                if current.id != publication.producer_id:
                    raise BadSdp(
                        f"section {mid} carries {current.id}; it cannot become"
                        f" {publication.producer_id}"
                    )
            elif (
                mid not in known
                and publication.producer_id not in ending
                and self._callbacks.has_producer(publication.producer_id)
            ):
                raise InvalidState(
                    f"producer {publication.producer_id!r} already exists in room {self.room_id!r}"
                )

    def _piped_publications(
        self, offered: list[OfferedMedia], sources: Mapping[str, TrackSource]
    ) -> dict[str, Publication]:
        """Name each sending section after the origin's producer and peer (its a=msid)."""
        result: dict[str, Publication] = {}
        seen: set[str] = set()
        for media in offered:
            if media.direction not in ("sendrecv", "sendonly"):
                continue
            if media.stream_id is None or media.track_id is None:
                raise BadSdp(f"section {media.mid}: a pipe needs a=msid:<peer id> <producer id>")
            if media.track_id in seen:
                raise BadSdp(f"section {media.mid}: producer {media.track_id} is offered twice")
            seen.add(media.track_id)
            source = sources.get(media.track_id)
            if source is None:
                source = TrackSource.MICROPHONE if media.kind == "audio" else TrackSource.CAMERA
            self._check_source(media, source)
            result[media.mid] = Publication(media.track_id, media.stream_id, source)
        return result

    def _sources_for(
        self, offered: list[OfferedMedia], sources: Mapping[str, TrackSource]
    ) -> dict[str, TrackSource]:
        """Which sections publish what, checked against the permissions."""
        result: dict[str, TrackSource] = {}
        cameras = 0
        for media in offered:
            if media.direction not in ("sendrecv", "sendonly"):
                continue
            source = sources.get(media.mid)
            if source is None:
                if media.kind == "audio":
                    source = TrackSource.MICROPHONE
                else:
                    # without a hint, a second video track is the screen share
                    source = TrackSource.CAMERA if cameras == 0 else TrackSource.SCREEN
            self._check_source(media, source)
            if source is TrackSource.CAMERA:
                cameras += 1
            result[media.mid] = source
        return result

    def _check_source(self, media: OfferedMedia, source: TrackSource) -> None:
        if (source is TrackSource.MICROPHONE) != (media.kind == "audio"):
            raise BadSdp(f"section {media.mid}: {media.kind} cannot be {source}")
        if not self.permissions.may_publish(source):
            raise NotPermitted(f"peer may not publish {source}")

    # subscribe connection

    def subscribe_to(self, producer: Producer) -> bool:
        """Consume `producer` (renegotiating); False if not allowed or pointless."""
        if (
            not self.permissions.may_subscribe
            or producer.peer_id == self.id
            or self.closed
            or self.playback
        ):
            return False
        if producer.id not in self._wanted:
            self._wanted[producer.id] = producer
            self._tasks.spawn(self._update_subscriptions())
        return True

    def unsubscribe(self, producer_id: str) -> bool:
        """Stop consuming `producer_id`; False if it was not consumed."""
        if self.playback:
            # no renegotiation in WHEP: the section stays, silent
            consumer = self.consumers.pop(producer_id, None)
            if consumer is None:
                return False
            consumer.detach()
            consumer.producer.remove_consumer(self.id)
            return True
        if self._wanted.pop(producer_id, None) is None:
            return False
        if not self.closed:
            self._tasks.spawn(self._update_subscriptions())
        return True

    async def _update_subscriptions(self) -> None:
        async with self._subscribe_lock:
            if self.closed:
                return
            if self._awaiting_answer:
                self._renegotiate = True
                return
            changed = False
            for producer_id in [p for p in self.consumers if p not in self._wanted]:
                # the awaits below let close() run, which empties consumers
                consumer = self.consumers.pop(producer_id, None)
                if consumer is None:
                    continue
                consumer.detach()
                consumer.producer.remove_consumer(self.id)
                consumer.transceiver.direction = "inactive"
                await consumer.transceiver.stop()
                changed = True
            for producer_id, producer in self._wanted.items():
                if producer_id in self.consumers:
                    continue
                added = self._add_consumer(producer)
                if added is not None:
                    self.consumers[producer_id] = added
                    producer.add_consumer(added)
                    changed = True
            pc = self._subscribe_pc
            if self.closed or not changed or pc is None or pc.signalingState == "closed":
                # a closed connection means the peer is being dropped
                return
            offer = await pc.createOffer()
            # RED offered beside Opus: a browser accepts it, aiortc players do not
            await pc.setLocalDescription(
                RTCSessionDescription(sdp=red.offer_red(offer.sdp), type="offer")
            )
            self._awaiting_answer = True
            self._offered_at = time.monotonic()
            sdp = self._outgoing(str(pc.localDescription.sdp))
            self._callbacks.emit(SubscribeOffer(self.room_id, self.id, sdp))
            # an offer that is never answered would hold every later change back
            self._start_monitor()

    def _add_consumer(self, producer: Producer) -> Consumer | None:
        if not _forwarding_codecs(producer):
            return None
        if self._subscribe_pc is None:
            self._subscribe_pc = self._new_connection(SUBSCRIBE)
        return self._new_consumer(self._subscribe_pc, producer)

    def _new_consumer(self, pc: RTCPeerConnection, producer: Producer) -> Consumer:
        """A consumer on `pc`, whose encoding (simulcast) this peer's allocator chooses."""
        if not self._allocating:
            self._allocating = True
            self._tasks.spawn(self._allocate())
        return Consumer(
            producer,
            self.id,
            _consumer_transceiver(pc, producer),
            on_feedback=self._allocator.on_feedback,
            pacer=self.pacer,
        )

    # stream allocation (what of each simulcast video this subscriber's link carries)

    @property
    def bandwidth_estimate(self) -> int | None:
        remb = self._allocator.estimate.remb
        return None if remb is None else int(remb)

    def _priority(self, consumer: Consumer) -> int:
        if consumer.producer.source is TrackSource.SCREEN:
            return 0
        return 1 if consumer.producer.peer_id == self._callbacks.active_speaker() else 2

    async def _allocate(self) -> None:
        while not self.closed:
            await asyncio.sleep(TICK_S)
            try:
                choices = self._allocator.tick(list(self.consumers.values()))
                self.pacer.set_estimate(self._allocator.estimate.remb)
                if logger.isEnabledFor(logging.DEBUG):
                    self._log_allocation(choices)
                state = (
                    tuple(sorted(c.consumer.producer.id for c in choices if c.paused)),
                    tuple(sorted(c.consumer.producer.id for c in choices if c.reduced)),
                )
                if state != self._stream_state:
                    self._stream_state = state
                    self._callbacks.emit(StreamStateChanged(self.room_id, self.id, *state))
            except Exception:
                logger.exception("stream allocation for %s failed", self.id)

    def _log_allocation(self, choices: list[Choice]) -> None:
        estimate = self._allocator.estimate
        logger.debug(
            "%s: remb %s loss %.2f budget %s pacing %s -> %s",
            self.id,
            estimate.remb,
            estimate.loss,
            self._allocator.budget,
            self.pacer.rate,
            [(c.consumer.producer.id, c.layer and c.layer.rid) for c in choices],
        )
        now = time.monotonic()
        for choice in choices:
            layers = [
                (x.rid, x.width, int(x.bitrate), round(now - x.last_packet, 1))
                for x in choice.consumer.producer.layers()
            ]
            consumer = choice.consumer
            logger.debug(
                "   %s layers %s sent %d nacks %d unanswered %d resent %d",
                consumer.producer.id,
                layers,
                consumer.packets_sent,
                consumer.nacks_received,
                consumer.nacks_unanswered,
                consumer.packets_retransmitted,
            )

    # WHEP playback (the client offers the subscribe connection)

    async def consume_offer(self, sdp: str, producers: Iterable[Producer], named: bool) -> str:
        """Answer a WHEP player's offer with consumers of `producers` (see choose_playback)."""
        offered = check_description(sdp, "offer")
        if not self.permissions.may_subscribe:
            raise NotPermitted("peer may not subscribe")
        async with self._subscribe_lock:
            if self.closed:
                raise InvalidState("peer has left")
            if self.playback:
                raise InvalidState("playback is already negotiated (WHEP does not renegotiate)")
            if self.auto_subscribe or self._subscribe_pc is not None or self._wanted:
                raise InvalidState(
                    "WHEP playback needs a peer joined without auto_subscribe, not yet subscribed"
                )
            chosen = choose_playback(offered, producers, self.id, named)
            pc = self._new_connection(SUBSCRIBE)
            consumers: list[Consumer] = []
            # aiortc binds an offer's sections to unassigned transceivers of the
            # same kind in creation order: one per section, in the offer's order
            for media in offered:
                producer = chosen.get(media.mid)
                if producer is None:
                    pc.addTransceiver(media.kind, direction="inactive")
                else:
                    consumers.append(self._new_consumer(pc, producer))
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
                _accept_red(pc, sdp)
                for consumer in consumers:
                    if chosen.get(str(consumer.transceiver.mid)) is not consumer.producer:
                        raise BadSdp("offer sections could not be matched to producers")
                await pc.setLocalDescription(await pc.createAnswer())
            except Exception as exc:
                await pc.close()  # not adopted yet: its "closed" state drops nobody
                if isinstance(exc, MediaError):
                    raise
                raise BadSdp(f"offer rejected: {exc}") from exc
            self._subscribe_pc = pc
            self.playback = True
            for consumer in consumers:
                if consumer.producer.closed:
                    continue  # removed while we negotiated: its section stays silent
                self.consumers[consumer.producer.id] = consumer
                consumer.producer.add_consumer(consumer)
                if consumer.transceiver.currentDirection == "sendonly":
                    consumer.attach()
            logger.info("WHEP playback for %s: %s", self.id, describe(chosen))
            self._start_monitor()
            return self._outgoing(str(pc.localDescription.sdp))

    def resend_offer(self) -> bool:
        """Emit the subscribe offer awaiting an answer again (its client's socket
        changed while it was in flight); False if none is awaited."""
        pc = self._subscribe_pc
        if self.closed or pc is None or not self._awaiting_answer:
            return False
        self._offered_at = time.monotonic()
        sdp = self._outgoing(str(pc.localDescription.sdp))
        self._callbacks.emit(SubscribeOffer(self.room_id, self.id, sdp))
        return True

    async def subscribe_answer(self, sdp: str) -> None:
        async with self._subscribe_lock:
            pc = self._subscribe_pc
            if pc is None or not self._awaiting_answer:
                raise InvalidState("no subscribe offer is awaiting an answer")
            offer = str(pc.localDescription.sdp)
            check_description(
                sdp,
                "answer",
                max_sections=max(MAX_MEDIA_SECTIONS, offer.count("\nm=")),
                max_length=max(MAX_SDP_LENGTH, 2 * len(offer)),
            )
            try:
                await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
            except Exception as exc:
                raise BadSdp(f"answer rejected: {exc}") from exc
            _accept_red(pc, sdp)
            self._awaiting_answer = False
            for consumer in self.consumers.values():
                if consumer.transceiver.currentDirection == "sendonly":
                    consumer.attach()
            again, self._renegotiate = self._renegotiate, False
            self._start_monitor()
        if again:
            await self._update_subscriptions()

    def consumer(self, producer_id: str) -> Consumer:
        try:
            return self.consumers[producer_id]
        except KeyError:
            raise UnknownConsumer(f"peer {self.id} does not consume {producer_id}") from None

    # ICE

    async def add_ice_candidate(
        self,
        connection: str,
        candidate: str | None,
        sdp_mid: str | None,
        sdp_mline_index: int | None,
    ) -> None:
        pc = {PUBLISH: self._publish_pc, SUBSCRIBE: self._subscribe_pc}.get(connection)
        if connection not in (PUBLISH, SUBSCRIBE):
            raise BadCandidate(f"connection must be {PUBLISH!r} or {SUBSCRIBE!r}")
        if pc is None or pc.remoteDescription is None:
            raise InvalidState(f"the {connection} connection has no remote description yet")
        if candidate is None or not candidate.strip():
            await pc.addIceCandidate(None)
            return
        text = candidate.strip()
        if text.startswith("candidate:"):
            text = text[len("candidate:") :]
        try:
            parsed = candidate_from_sdp(text)
        except Exception as exc:
            raise BadCandidate(f"candidate cannot be parsed: {type(exc).__name__}") from exc
        if sdp_mid is None and sdp_mline_index is None:
            raise BadCandidate("candidate needs sdpMid or sdpMLineIndex")
        parsed.sdpMid = sdp_mid
        parsed.sdpMLineIndex = sdp_mline_index
        try:
            await pc.addIceCandidate(parsed)
        except Exception as exc:
            raise BadCandidate(f"candidate rejected: {exc}") from exc

    # lifetime

    def _outgoing(self, sdp: str) -> str:
        if self._announced_address is None:
            return sdp
        return announce_address(sdp, self._announced_address)

    def _new_connection(self, role: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(self._configuration)

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if self.closed or pc not in (self._publish_pc, self._subscribe_pc):
                # a connection refused before it was adopted concerns nobody
                return
            if state == "failed":
                self._callbacks.dropped(self, PeerClosed.CONNECTION_FAILED)
            elif state == "closed":
                self._callbacks.dropped(self, PeerClosed.CONNECTION_CLOSED)
            elif state == "connected" and role == SUBSCRIBE:
                # keyframes sent before the leg was up were lost
                for consumer in self.consumers.values():
                    consumer.request_keyframe()

        return pc

    def _start_monitor(self) -> None:
        if not self._monitor_started:
            self._monitor_started = True
            self._tasks.spawn(self._monitor())

    async def _monitor(self) -> None:
        """Drop the peer when nothing arrived from it for `media_timeout` while it should.

        Something is due when the peer publishes (media) or has been sent
        media (its receivers report about once a second). A peer with neither sends
        only ICE consent checks, which aiortc does not count; its loss is
        left to ICE consent freshness, which fails the connection.
        """
        last_count = -1
        last_activity = time.monotonic()
        while not self.closed:
            await asyncio.sleep(self._liveness_interval)
            count = 0
            for pc in (self._publish_pc, self._subscribe_pc):
                if pc is not None and pc.getTransceivers():
                    transport = pc.getTransceivers()[0].sender.transport
                    count += internals.transport_packets_received(transport)
            now = time.monotonic()
            # a subscriber reports on what it received; waiting for a keyframe, it has nothing
            expecting = bool(self.producers) or any(
                c.attached and c.packets_sent for c in self.consumers.values()
            )
            if self._awaiting_answer and now - self._offered_at > self._answer_timeout:
                self._callbacks.dropped(self, PeerClosed.ANSWER_TIMEOUT)
                return
            if count != last_count or not expecting:
                last_count, last_activity = count, now
            elif now - last_activity > self._media_timeout:
                self._callbacks.dropped(self, PeerClosed.MEDIA_TIMEOUT)
                return

    async def close(self) -> None:
        """Close both connections; the room has already detached producers and consumers."""
        self.closed = True
        await self._tasks.cancel_all()
        self.pacer.close()
        for producer in self.producers.values():
            producer.close()
        for consumer in self.consumers.values():
            consumer.detach()
            consumer.producer.remove_consumer(self.id)
        self.producers.clear()
        self.consumers.clear()
        self._wanted.clear()
        for pc in (self._publish_pc, self._subscribe_pc):
            if pc is not None:
                # shielded: aiortc's close() is shared by all its callers through one future
                await asyncio.shield(pc.close())


def _accept_red(pc: RTCPeerConnection, sdp: str) -> None:
    """RED where the remote description has it (aiortc negotiates it away on
    every description: again after each one)."""
    formats = red.formats_by_mid(sdp)
    for transceiver in pc.getTransceivers():
        found = formats.get(transceiver.mid or "") if transceiver.kind == "audio" else None
        if found is not None:
            internals.accept_red(transceiver, found.payload_type, found.opus_payload_type)


def _forwarding_codecs(producer: Producer) -> list[RTCRtpCodecCapability]:
    """The producer's codecs (and RTX) as a consumer's sender offers or accepts them."""
    capabilities = RTCRtpSender.getCapabilities(producer.kind).codecs
    wanted = {c.mimeType.lower() for c in producer.codecs}
    preferences = [c for c in capabilities if c.mimeType.lower() in wanted]
    if not preferences:
        return []
    return preferences + [c for c in capabilities if c.mimeType.lower() == "video/rtx"]


def _consumer_transceiver(pc: RTCPeerConnection, producer: Producer) -> RTCRtpTransceiver:
    """A send-only transceiver whose track id is the producer id (the subscriber's track id)."""
    transceiver = pc.addTransceiver(
        ForwardedTrack(producer.kind, producer.id), direction="sendonly"
    )
    transceiver.setCodecPreferences(_forwarding_codecs(producer))
    return transceiver
