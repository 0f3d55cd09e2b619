"""Room (mediasoup's Router): the producers and consumers of one session."""

import asyncio
import logging
from collections.abc import Callable

from aiortc import RTCConfiguration

from .active_speaker import ActiveSpeakerDetector
from .errors import PeerExists, UnknownPeer, UnknownProducer
from .events import (
    ActiveSpeakerChanged,
    ConsumerStats,
    LayerStats,
    MediaEvent,
    PeerClosed,
    ProducerAdded,
    ProducerRemoved,
    ProducerStats,
    RoomStats,
)
from .peer import Peer, PeerCallbacks
from .permissions import Permissions
from .producer import Producer
from .tasks import TaskSet

logger = logging.getLogger(__name__)


class Room:
    def __init__(
        self,
        room_id: str,
        emit: Callable[[MediaEvent], None],
        configuration: RTCConfiguration,
        media_timeout: float,
        answer_timeout: float,
        liveness_interval: float,
        keyframe_interval: float,
        speaker_interval: float,
        announced_address: str | None = None,
    ) -> None:
        self.id = room_id
        self.peers: dict[str, Peer] = {}
        self.producers: dict[str, Producer] = {}
        self._emit = emit
        self._configuration = configuration
        self._media_timeout = media_timeout
        self._answer_timeout = answer_timeout
        self._liveness_interval = liveness_interval
        self._keyframe_interval = keyframe_interval
        self._speaker_interval = speaker_interval
        self._announced_address = announced_address
        # how often each "<peer id>:<mid>" has named a producer here (name_producer)
        self._names: dict[str, int] = {}
        self._speaker = ActiveSpeakerDetector()
        self._tasks = TaskSet()
        self._speaker_task = asyncio.ensure_future(self._detect_speaker())
        self.closed = False

    @property
    def active_speaker(self) -> str | None:
        return self._speaker.speaker

    def peer(self, peer_id: str) -> Peer:
        try:
            return self.peers[peer_id]
        except KeyError:
            raise UnknownPeer(f"no peer {peer_id!r} in room {self.id!r}") from None

    def producer(self, producer_id: str) -> Producer:
        try:
            return self.producers[producer_id]
        except KeyError:
            raise UnknownProducer(f"no producer {producer_id!r} in room {self.id!r}") from None

    def name_producer(self, base: str) -> str:
        """A producer id never used in this room: `base` ("<peer id>:<mid>") the first
        time, then "<base>.1", "<base>.2"... A subscriber's connection keeps the
        sections (and a=msid) of the producers it was sent, since m-lines are not
        recycled; a member coming back, or a screen shared again on the same
        section, must not repeat one (browsers refuse duplicate a=msid)."""
        used = self._names.get(base, 0)
        self._names[base] = used + 1
        return base if used == 0 else f"{base}.{used}"

    def join(self, peer_id: str, permissions: Permissions, auto_subscribe: bool = True) -> Peer:
        if peer_id in self.peers:
            raise PeerExists(f"peer {peer_id!r} already joined room {self.id!r}")
        peer = Peer(
            room_id=self.id,
            peer_id=peer_id,
            permissions=permissions,
            callbacks=PeerCallbacks(
                emit=self._emit,
                producer_added=self._producer_added,
                producer_removed=self._producer_removed,
                dropped=self._dropped,
                has_producer=self.producers.__contains__,
                name_producer=self.name_producer,
                active_speaker=lambda: self._speaker.speaker,
            ),
            configuration=self._configuration,
            media_timeout=self._media_timeout,
            answer_timeout=self._answer_timeout,
            liveness_interval=self._liveness_interval,
            keyframe_interval=self._keyframe_interval,
            announced_address=self._announced_address,
        )
        peer.auto_subscribe = auto_subscribe
        self.peers[peer_id] = peer
        if auto_subscribe:
            for producer in self.producers.values():
                peer.subscribe_to(producer)
        return peer

    async def remove_peer(self, peer_id: str, reason: str) -> None:
        peer = self.peers.pop(peer_id, None)
        if peer is None:
            return
        # a peer that goes without being asked to is what a person sees as a dropped call
        normal = (PeerClosed.LEFT, PeerClosed.ROOM_CLOSED, PeerClosed.CONNECTION_CLOSED)
        level = logging.INFO if reason in normal else logging.WARNING
        logger.log(level, "room %s: peer %s closed (%s)", self.id, peer_id, reason)
        for producer in list(peer.producers.values()):
            self._producer_removed(producer)
        await peer.close()
        self._emit(PeerClosed(self.id, peer_id, reason))

    def _producer_added(self, producer: Producer) -> None:
        self.producers[producer.id] = producer
        self._emit(
            ProducerAdded(self.id, producer.peer_id, producer.id, producer.kind, producer.source)
        )
        for peer in self.peers.values():
            if peer.auto_subscribe:
                peer.subscribe_to(producer)

    def _producer_removed(self, producer: Producer) -> None:
        if self.producers.pop(producer.id, None) is None:
            return
        producer.close()
        for peer in self.peers.values():
            peer.unsubscribe(producer.id)
        self._emit(ProducerRemoved(self.id, producer.peer_id, producer.id))

    def _dropped(self, peer: Peer, reason: str) -> None:
        # called from aiortc callbacks and monitors: never await there. By object,
        # not id: a peer that rejoined under the same id must not go with the old.
        if self.peers.get(peer.id) is peer and not self.closed:
            self._tasks.spawn(self._remove_if_current(peer, reason))

    async def _remove_if_current(self, peer: Peer, reason: str) -> None:
        if self.peers.get(peer.id) is peer:
            await self.remove_peer(peer.id, reason)

    async def _detect_speaker(self) -> None:
        while True:
            await asyncio.sleep(self._speaker_interval)
            levels: dict[str, int] = {}
            for producer in self.producers.values():
                if producer.kind != "audio":
                    continue
                level = producer.take_audio_level()
                if level is not None:
                    levels[producer.peer_id] = min(level, levels.get(producer.peer_id, 127))
            if self._speaker.update(levels):
                self._emit(ActiveSpeakerChanged(self.id, self._speaker.speaker))

    def stats(self) -> RoomStats:
        producers = tuple(
            ProducerStats(
                producer_id=p.id,
                peer_id=p.peer_id,
                kind=p.kind,
                source=p.source,
                packets_received=p.packets_received,
                bytes_received=p.bytes_received,
                keyframe_requests_sent=p.keyframe_requests_sent,
                layers=tuple(
                    LayerStats(layer.rid, layer.width, int(layer.bitrate)) for layer in p.layers()
                ),
            )
            for p in self.producers.values()
        )
        consumers = tuple(
            ConsumerStats(
                producer_id=producer_id,
                subscriber_id=peer.id,
                paused=c.paused,
                packets_sent=c.packets_sent,
                bytes_sent=c.bytes_sent,
                packets_retransmitted=c.packets_retransmitted,
                layer=c.current_layer_rid,
                estimate=peer.bandwidth_estimate,
            )
            for peer in self.peers.values()
            for producer_id, c in peer.consumers.items()
        )
        return RoomStats(self.id, tuple(self.peers), producers, consumers, self.active_speaker)

    async def close(self) -> None:
        self.closed = True
        self._speaker_task.cancel()
        await asyncio.gather(self._speaker_task, return_exceptions=True)
        # removals under way finish: cancelling one inside aiortc's close() would
        # cancel the future every other close() of that connection waits on
        await self._tasks.wait_all()
        for peer_id in list(self.peers):
            await self.remove_peer(peer_id, PeerClosed.ROOM_CLOSED)
