"""The media plane: an SFU that forwards WebRTC media as RTP, never transcoding it.

The control plane uses :class:`MediaServer` (see media_server.api) and
nothing else of this package's internals.
"""

from .api import Listener, MediaConfig, MediaServer
from .errors import (
    BadCandidate,
    BadSdp,
    InvalidState,
    MediaError,
    NotPermitted,
    PeerExists,
    RoomExists,
    UnknownConsumer,
    UnknownPeer,
    UnknownProducer,
    UnknownRoom,
)
from .events import (
    ActiveSpeakerChanged,
    ConsumerStats,
    MediaEvent,
    PeerClosed,
    ProducerAdded,
    ProducerRemoved,
    ProducerStats,
    RoomStats,
    StreamStateChanged,
    SubscribeOffer,
)
from .permissions import Permissions, TrackSource
from .producer import RtpTap
from .reachability import IceServer, TurnRest

__all__ = [
    "ActiveSpeakerChanged",
    "BadCandidate",
    "BadSdp",
    "ConsumerStats",
    "IceServer",
    "InvalidState",
    "Listener",
    "MediaConfig",
    "MediaError",
    "MediaEvent",
    "MediaServer",
    "NotPermitted",
    "PeerClosed",
    "PeerExists",
    "Permissions",
    "ProducerAdded",
    "ProducerRemoved",
    "ProducerStats",
    "RoomExists",
    "RoomStats",
    "RtpTap",
    "StreamStateChanged",
    "SubscribeOffer",
    "TrackSource",
    "TurnRest",
    "UnknownConsumer",
    "UnknownPeer",
    "UnknownProducer",
    "UnknownRoom",
]
