"""Encoded frames into a WebM (VP8, Opus) or Matroska (H.264) file with PyAV.

The file is playable at every moment."""

import fractions
import struct
from pathlib import Path
from typing import Any

import av

from . import h264
from .depacketizer import EncodedFrame, vp8_size

MILLISECONDS = fractions.Fraction(1, 1000)
# Matroska clusters are written out when they close: this bounds what a
# SIGKILL can lose, with the explicit flush after each packet.
CLUSTER_MS = 500

# An Opus header (RFC 7845 5.1) for WebM's CodecPrivate: aiortc negotiates
# opus/48000/2, pre-skip 312 as libopus uses.
OPUS_HEAD = b"OpusHead" + struct.pack("<BBHIhB", 1, 2, 312, 48000, 0, 0)


class TrackWriter:
    """One stream in one file; the file is created on the first frame a decoder can start from."""

    def __init__(self, path: Path, codec: str, clock_rate: int) -> None:
        self.path = path
        self.codec = codec.lower()
        self.clock_rate = clock_rate
        self.frames = 0
        self.first_timestamp: int | None = None
        self.last_pts = -1
        self._container: Any = None
        self._stream: Any = None

    def write(self, frame: EncodedFrame) -> bool:
        """Mux `frame`; False if dropped (no file yet and not a keyframe)."""
        if self._container is None:
            if not frame.keyframe:
                return False
            self._open(frame)
        assert self.first_timestamp is not None
        pts = (frame.timestamp - self.first_timestamp) * 1000 // self.clock_rate
        pts = max(pts, self.last_pts + 1)  # Matroska wants increasing timestamps per track
        packet = av.Packet(frame.data)
        packet.pts = packet.dts = pts
        packet.time_base = MILLISECONDS
        packet.stream = self._stream
        if frame.keyframe:
            packet.is_keyframe = True
        self._container.mux(packet)
        self.last_pts = pts
        self.frames += 1
        return True

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def _open(self, frame: EncodedFrame) -> None:
        container = av.open(
            str(self.path),
            "w",
            format="matroska" if self.codec == "h264" else "webm",
            options={
                "cluster_time_limit": str(CLUSTER_MS),
                "flush_packets": "1",
            },
        )
        stream: Any
        if self.codec == "vp8":
            stream = container.add_stream("vp8")
            stream.width, stream.height = vp8_size(frame.data)
        elif self.codec == "h264":
            # Annex B parameter sets: the muxer turns them (and the frames) into avcC
            stream = container.add_stream("h264")
            stream.width, stream.height = h264.size(frame.data)
            stream.codec_context.extradata = h264.parameter_sets(frame.data)
        else:
            stream = container.add_stream("opus", rate=48000)
            stream.codec_context.extradata = OPUS_HEAD
        stream.time_base = MILLISECONDS
        self._container, self._stream = container, stream
        self.first_timestamp = frame.timestamp
