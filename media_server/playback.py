"""Which producer each section of a WHEP player's offer carries.

A WHEP player offers receive-only sections (usually one audio, one
video) and names nothing: the server picks. By default audio sections
take microphones and video sections take cameras, then screens, each in
the order they were added to the room (in a training, the presenter
comes first). The control plane can name the producers instead.
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, TypeVar

from aiortc.rtcrtpparameters import RTCRtpCodecParameters

from .errors import BadSdp, InvalidState
from .permissions import TrackSource
from .red import RED_MIME
from .sdp_guard import OfferedMedia

RECEIVING = ("recvonly", "sendrecv")


class Playable(Protocol):
    """What the choice needs of a producer (a Protocol so that it is testable alone)."""

    id: str
    peer_id: str
    kind: str
    source: TrackSource
    codecs: list[RTCRtpCodecParameters]


P = TypeVar("P", bound=Playable)

# default order of preference within a kind: cameras before screens
_RANK = {TrackSource.MICROPHONE: 0, TrackSource.CAMERA: 0, TrackSource.SCREEN: 1}


def choose_playback(
    offered: Sequence[OfferedMedia],
    producers: Iterable[P],
    subscriber_id: str,
    named: bool = False,
) -> dict[str, P]:
    """Map the mid of each receiving section to the producer it will carry.

    `producers` come in room order, or in the caller's order when `named`.
    A section takes the first unused producer of its kind whose (sent)
    codec it offers; sections left over carry nothing. A named producer that no
    section can carry, or the subscriber's own, is an error rather than
    silence, since the caller asked for it explicitly.
    """
    candidates = list(producers)
    own = [p.id for p in candidates if p.peer_id == subscriber_id]
    if named and own:
        raise InvalidState(f"a peer does not consume its own producers ({own[0]})")
    candidates = [p for p in candidates if p.peer_id != subscriber_id]
    if not named:
        # stable: room order is kept within a rank
        candidates.sort(key=lambda p: _RANK[p.source])
    chosen: dict[str, P] = {}
    used: set[str] = set()
    for media in offered:
        if media.direction not in RECEIVING:
            continue
        for producer in candidates:
            if producer.id in used or producer.kind != media.kind:
                continue
            if not _carries(media, producer):
                continue
            chosen[media.mid] = producer
            used.add(producer.id)
            break
    if named:
        for producer in candidates:
            if producer.id not in used:
                raise BadSdp(
                    f"no {producer.kind} section of the offer can receive {producer.id}"
                    f" ({_sent_codec(producer) or 'no codec'})"
                )
    return chosen


def _sent_codec(producer: Playable) -> str | None:
    """The mime type the publisher sends: the first of its negotiated codecs.

    The others were merely accepted; a section that offers only those
    would be answered, then receive packets it cannot take. RED is not
    it: a leg without RED is sent the Opus inside (see red.py).
    """
    sent = [c.mimeType.lower() for c in producer.codecs if c.mimeType.lower() != RED_MIME]
    return sent[0] if sent else None


def _carries(media: OfferedMedia, producer: Playable) -> bool:
    return _sent_codec(producer) in media.codecs


def describe(chosen: Mapping[str, Playable]) -> str:
    """For logs: "mid=producer, ..."."""
    return ", ".join(f"{mid}={p.id}" for mid, p in chosen.items()) or "nothing"
