"""The JSON file beside each track recording: what it is, when it started, whether it ended."""

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

State = Literal["recording", "finished", "interrupted"]
SUFFIX = ".json"


@dataclass
class TrackInfo:
    room_id: str
    peer_id: str
    producer_id: str
    kind: str
    codec: str
    clock_rate: int
    media: str
    """File name of the media, in the sidecar's directory."""
    state: State = "recording"
    start_wall: float | None = None
    """Wall clock (Unix seconds) at which the first recorded frame arrived; pts 0 is then."""
    first_rtp_timestamp: int | None = None
    end_wall: float | None = None
    duration: float | None = None
    sha256: str | None = None


def write(path: Path, info: TrackInfo) -> None:
    """Replace the sidecar atomically, so a crash leaves the old or the new one."""
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w") as f:
        json.dump(asdict(info), f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)


def read(path: Path) -> TrackInfo:
    return TrackInfo(**json.loads(path.read_text()))
