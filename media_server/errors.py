"""Typed errors of the media plane.

Every error the control plane can provoke with bad input is a
:class:`MediaError`; its message is safe to show to the peer that sent
the input, and raising it leaves every other peer of the room untouched.
"""


class MediaError(Exception):
    """Base class of the errors raised by :class:`media_server.api.MediaServer`."""


class BadSdp(MediaError):
    """A session description is malformed, hostile or cannot be negotiated."""


class BadCandidate(MediaError):
    """An ICE candidate cannot be parsed or does not belong to a known section."""


class NotPermitted(MediaError):
    """The peer asked for something its permissions do not grant."""


class UnknownRoom(MediaError):
    """No room has this id."""


class UnknownPeer(MediaError):
    """No peer has this id in this room."""


class UnknownProducer(MediaError):
    """No producer has this id in this room."""


class UnknownConsumer(MediaError):
    """The peer does not consume this producer."""


class RoomExists(MediaError):
    """A room with this id already exists."""


class PeerExists(MediaError):
    """A peer with this id already joined this room."""


class InvalidState(MediaError):
    """The call does not fit the negotiation state (e.g. an answer nobody asked for)."""
