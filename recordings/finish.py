"""What the control plane stores for a finished file: its SHA-256 and its duration."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import av


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    duration: float
    """Seconds from the first packet's start to the last packet's end."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def duration_of(path: Path) -> float:
    """Read from the packets, not the header: an interrupted file has no duration in it."""
    first: float | None = None
    last = 0.0
    with av.open(str(path)) as container:
        for packet in container.demux():
            if packet.pts is None or packet.time_base is None:
                continue
            start = float(packet.pts * packet.time_base)
            end = start + float((packet.duration or 0) * packet.time_base)
            first = start if first is None else min(first, start)
            last = max(last, end)
    return 0.0 if first is None else last - first


def facts_of(path: Path) -> FileFacts:
    return FileFacts(sha256_of(path), duration_of(path))
