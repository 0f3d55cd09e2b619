"""What a peer may do in a room, as decided by the control plane."""

import enum
from dataclasses import dataclass


class TrackSource(enum.StrEnum):
    """Where a published track comes from; screen share is a second video source."""

    MICROPHONE = "microphone"
    CAMERA = "camera"
    SCREEN = "screen"


@dataclass(frozen=True)
class Permissions:
    may_publish_audio: bool = False
    may_publish_video: bool = False
    may_publish_screen: bool = False
    may_subscribe: bool = True

    def may_publish(self, source: TrackSource) -> bool:
        if source is TrackSource.MICROPHONE:
            return self.may_publish_audio
        if source is TrackSource.CAMERA:
            return self.may_publish_video
        return self.may_publish_screen
