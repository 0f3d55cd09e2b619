"""Recordings: what the media plane forwards, kept per track without transcoding.

For the control plane (it may import this package; this package never imports it):

- `Recorder(server, directory)`: `start(room, peer, producer, kind)` records one
  producer into `<directory>/<room>/<producer>_<ms>.webm` (VP8/Opus in WebM) with a
  JSON sidecar (`sidecar.TrackInfo`: start wall clock and RTP timestamp, state,
  SHA-256, duration); `stop(...)` / `stop_room(room)` finish files and return their
  TrackInfo.
- `recover(directory)`: at start-up, before recording, finishes what a crash left
  and marks it interrupted.
- `CompositeJob(sidecars, out)`: the session's grid-and-mix file, built in a worker
  process; `progress`, `await wait()` -> SHA-256 and duration.
"""

from .composite import CompositeFailed, CompositeJob
from .finish import FileFacts, facts_of
from .recorder import Recorder
from .recovery import recover
from .sidecar import TrackInfo

__all__ = [
    "CompositeFailed",
    "CompositeJob",
    "FileFacts",
    "Recorder",
    "TrackInfo",
    "facts_of",
    "recover",
]
