"""Records one producer: its RTP packets in, a WebM file and its sidecar out."""

import logging
import time
from collections.abc import Callable
from pathlib import Path

from aiortc.rtcrtpparameters import RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from . import sidecar
from .depacketizer import Depacketizer, for_codec
from .sidecar import TrackInfo
from .track_writer import TrackWriter

logger = logging.getLogger(__name__)


class TrackRecorder:
    """The tap given to a producer. On the forwarding path it only queues the
    packet; `drain()`, called every few hundred ms, reassembles and muxes the
    queue in one go (cheaper than packet by packet between forwarding work).
    Nothing is decoded.

    After a lost frame it drops video until the next keyframe (a decoder
    could not use it) and asks for one through `on_keyframe_wanted`.
    """

    def __init__(self, info: TrackInfo, directory: Path) -> None:
        self.info = info
        self.media_path = directory / info.media
        self.sidecar_path = self.media_path.with_suffix(sidecar.SUFFIX)
        self._keyframe_wanted = False
        self.on_keyframe_wanted: Callable[[], None] = lambda: None
        self._depacketizer: Depacketizer | None = None
        self._writer: TrackWriter | None = None
        self._gaps = 0
        self._unsupported: str | None = None
        self._backlog: list[tuple[int, int, bool, bytes, RTCRtpCodecParameters, float]] = []
        sidecar.write(self.sidecar_path, info)

    def __call__(self, packet: RtpPacket, codec: RTCRtpCodecParameters, arrival: float) -> None:
        self._backlog.append(
            (
                packet.sequence_number,
                packet.timestamp,
                packet.marker == 1,
                packet.payload,
                codec,
                arrival,
            )
        )

    def drain(self) -> None:
        """Write what the tap has queued."""
        backlog, self._backlog = self._backlog, []
        for seq, timestamp, marker, payload, codec, arrival in backlog:
            self._take(seq, timestamp, marker, payload, codec, arrival)

    def _take(
        self,
        seq: int,
        timestamp: int,
        marker: bool,
        payload: bytes,
        codec: RTCRtpCodecParameters,
        arrival: float,
    ) -> None:
        if self._writer is None:
            if not self._start(codec):
                return
        assert self._depacketizer is not None and self._writer is not None
        frames = self._depacketizer.push(seq, timestamp, marker, payload)
        if self._depacketizer.gaps != self._gaps:
            self._gaps = self._depacketizer.gaps
            self._want_keyframe()
        for frame in frames:
            if self._keyframe_wanted and not frame.keyframe:
                continue
            first = self._writer.frames == 0
            if self._writer.write(frame):
                self._keyframe_wanted = False
                if first:
                    self.info.start_wall = arrival
                    self.info.first_rtp_timestamp = frame.timestamp & 0xFFFFFFFF
                    sidecar.write(self.sidecar_path, self.info)
            else:
                self._want_keyframe()

    def _start(self, codec: RTCRtpCodecParameters) -> bool:
        depacketizer = for_codec(codec.name, codec.clockRate)
        if depacketizer is None:
            if self._unsupported != codec.name:
                self._unsupported = codec.name
                logger.warning("cannot record %s (%s)", self.info.producer_id, codec.name)
            return False
        self._depacketizer = depacketizer
        if codec.name.lower() == "h264":  # WebM allows no H.264
            self.info.media = self.media_path.with_suffix(".mkv").name
            self.media_path = self.media_path.with_suffix(".mkv")
        self._writer = TrackWriter(self.media_path, codec.name, codec.clockRate)
        self.info.codec = codec.name
        self.info.clock_rate = codec.clockRate
        self._keyframe_wanted = self.info.kind == "video"
        return True

    def _want_keyframe(self) -> None:
        if self.info.kind == "video" and not self._keyframe_wanted:
            self._keyframe_wanted = True
            self.on_keyframe_wanted()

    @property
    def frames(self) -> int:
        return 0 if self._writer is None else self._writer.frames

    def close(self) -> bool:
        """Finish the file; False if nothing was ever written."""
        self.info.end_wall = time.time()
        self.on_keyframe_wanted = lambda: None  # too late to ask, and maybe not on the loop
        self.drain()
        if self._writer is not None:
            self._writer.close()
        return self.frames > 0
