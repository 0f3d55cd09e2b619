"""At start-up: recordings a crash left unfinished are closed properly and marked interrupted."""

import logging
import os
import time
from pathlib import Path
from typing import Any

import av

from . import sidecar
from .finish import facts_of
from .sidecar import TrackInfo

logger = logging.getLogger(__name__)


def recover(directory: Path, idle_s: float = 0.0) -> list[TrackInfo]:
    """Finish every recording under `directory` whose sidecar still says "recording".

    Call before recording starts (a running recording also says so), or,
    where several nodes share `directory`, with `idle_s`: then only files
    nobody wrote for that long are taken (a live track writes every 2 s at
    most, and a publisher silent for the media timeout is dropped). Each
    file is remuxed to a complete one (duration and cues written); the
    truncated tail a crash leaves is dropped.
    """
    recovered = []
    now = time.time()
    for path in sorted(directory.rglob("*" + sidecar.SUFFIX)):
        try:
            info = sidecar.read(path)
        except (ValueError, TypeError, OSError):
            logger.warning("not a recording sidecar: %s", path)
            continue
        if info.state != "recording":
            continue
        media = path.parent / info.media
        if idle_s and now - _last_written(path, media) < idle_s:
            continue  # being written, maybe by another node
        if media.exists() and media.stat().st_size > 0 and _remux(media):
            facts = facts_of(media)
            info.sha256, info.duration = facts.sha256, facts.duration
        else:
            media.unlink(missing_ok=True)
            info.duration, info.sha256 = 0.0, None
        if info.start_wall is not None:
            info.end_wall = info.start_wall + info.duration
        info.state = "interrupted"
        sidecar.write(path, info)
        recovered.append(info)
    return recovered


def _last_written(*paths: Path) -> float:
    times = [0.0]
    for path in paths:
        try:
            times.append(path.stat().st_mtime)
        except FileNotFoundError:
            pass
    return max(times)


def _remux(media: Path) -> bool:
    """Copy what is readable into a finished file that replaces `media`; False if none is."""
    finished = media.with_name(media.name + ".recovered")
    packets = 0
    try:
        with av.open(str(media)) as source:
            container_format = "matroska" if media.suffix == ".mkv" else "webm"
            with av.open(str(finished), "w", format=container_format) as target:
                streams: dict[int, Any] = {
                    s.index: target.add_stream_from_template(s) for s in source.streams
                }
                try:
                    for packet in source.demux():
                        if packet.dts is None or packet.size == 0:
                            continue
                        packet.stream = streams[packet.stream.index]
                        target.mux(packet)
                        packets += 1
                except av.FFmpegError as error:
                    logger.info("%s: truncated tail dropped (%s)", media, error)
    except av.FFmpegError:
        logger.warning("%s: unreadable, nothing recovered", media)
        finished.unlink(missing_ok=True)
        return False
    if not packets:
        finished.unlink(missing_ok=True)
        return False
    os.replace(finished, media)
    return True
