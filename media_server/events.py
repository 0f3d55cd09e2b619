"""Events the media plane reports to the control plane, and stats snapshots.

All are frozen dataclasses of plain values, so that they can cross a
process boundary (e.g. Redis) when a room lives on another node.
"""

from dataclasses import dataclass

from .permissions import TrackSource


@dataclass(frozen=True)
class SubscribeOffer:
    """The server offers (or re-offers) the peer's subscribe connection.

    The control plane relays `sdp` to the peer and hands its answer to
    `MediaServer.subscribe_answer`.
    """

    room_id: str
    peer_id: str
    sdp: str


@dataclass(frozen=True)
class ProducerAdded:
    room_id: str
    peer_id: str
    producer_id: str
    kind: str
    source: TrackSource


@dataclass(frozen=True)
class ProducerRemoved:
    room_id: str
    peer_id: str
    producer_id: str


@dataclass(frozen=True)
class ActiveSpeakerChanged:
    """`peer_id` is None when nobody has been speaking for a while."""

    room_id: str
    peer_id: str | None


@dataclass(frozen=True)
class PeerClosed:
    """A peer left or was dropped; `reason` is one of the PeerClosed.* constants."""

    room_id: str
    peer_id: str
    reason: str

    LEFT = "left"
    CONNECTION_FAILED = "connection-failed"
    CONNECTION_CLOSED = "connection-closed"
    MEDIA_TIMEOUT = "media-timeout"
    ANSWER_TIMEOUT = "answer-timeout"
    """A subscribe offer stayed unanswered for `answer_timeout`: the client starts over."""
    ROOM_CLOSED = "room-closed"


@dataclass(frozen=True)
class StreamStateChanged:
    """What a subscriber's link carries of the simulcast videos it is sent changed.

    `paused`: producers whose video is paused for the subscriber's link (even
    their lowest encoding does not fit); `reduced`: those sent below the best
    encoding their publisher sends. LiveKit's StreamStateUpdate, mediasoup's
    `layerschange`. The page says so on the tile: a clinician must not take a
    reduced picture for the sender's own.
    """

    room_id: str
    peer_id: str
    paused: tuple[str, ...]
    reduced: tuple[str, ...]


MediaEvent = (
    SubscribeOffer
    | ProducerAdded
    | ProducerRemoved
    | ActiveSpeakerChanged
    | PeerClosed
    | StreamStateChanged
)


@dataclass(frozen=True)
class LayerStats:
    """One encoding of a simulcast producer."""

    rid: str
    width: int  # from its last keyframe (VP8); 0 until one arrived with a subscriber
    bitrate: int  # bit/s, measured


@dataclass(frozen=True)
class ProducerStats:
    producer_id: str
    peer_id: str
    kind: str
    source: TrackSource
    packets_received: int
    bytes_received: int
    keyframe_requests_sent: int
    layers: tuple[LayerStats, ...] = ()
    """Simulcast encodings, lowest first; () for a producer of one encoding."""


@dataclass(frozen=True)
class ConsumerStats:
    producer_id: str
    subscriber_id: str
    paused: bool
    packets_sent: int
    bytes_sent: int
    packets_retransmitted: int
    layer: str | None = None
    """Simulcast: the RID of the encoding being sent (None: one encoding, or none fits)."""
    estimate: int | None = None
    """The subscriber's bandwidth estimate (REMB, bit/s) when this was read."""


@dataclass(frozen=True)
class RoomStats:
    room_id: str
    peers: tuple[str, ...]
    producers: tuple[ProducerStats, ...]
    consumers: tuple[ConsumerStats, ...]
    active_speaker: str | None
