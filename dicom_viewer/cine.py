"""Cine playback facts and undecoded JPEG frames for the browser."""

from __future__ import annotations

from collections.abc import Iterator

from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames, get_frame

from .attributes import get_float, get_floats, get_int


class NotJpegBaseline(ValueError):
    """The object's frames are not stored as JPEG baseline, so a browser
    cannot show them as they are."""


def frame_durations_ms(ds: Dataset) -> tuple[float, ...] | None:
    """How long each frame stays on screen, from FrameTimeVector.

    The vector holds each frame's time increment after the previous one,
    the first being 0 (PS3.3 C.7.6.5.1.2): frame i lasts until frame i + 1
    arrives, entry i + 1. Nothing follows the last frame, so it gets the
    mean increment.
    """
    vector = get_floats(ds, "FrameTimeVector")
    if not vector or len(vector) < 2:
        return None
    increments = vector[1:]
    if any(v <= 0 for v in increments):
        return None
    return (*increments, sum(increments) / len(increments))


def frame_rate(ds: Dataset) -> float | None:
    """Frames per second for playback, or ``None`` if the file does not say.

    FrameTime is the nominal rate of the loop (PS3.3 C.7.6.5); a
    FrameTimeVector gives its mean; CineRate and RecommendedDisplayFrameRate
    are the rates the modality suggests.
    """
    frame_time = get_float(ds, "FrameTime")
    if frame_time is not None and frame_time > 0:
        return 1000.0 / frame_time
    durations = frame_durations_ms(ds)
    if durations is not None:
        return 1000.0 * len(durations) / sum(durations)
    for keyword in ("CineRate", "RecommendedDisplayFrameRate"):
        rate = get_float(ds, keyword)
        if rate is not None and rate > 0:
            return rate
    return None


def frame_time_ms(ds: Dataset) -> float | None:
    """Nominal time per frame in ms, from the same attributes as frame_rate."""
    rate = frame_rate(ds)
    return None if rate is None else 1000.0 / rate


def number_of_frames(ds: Dataset) -> int:
    frames = get_int(ds, "NumberOfFrames")
    return 1 if frames is None else frames


def is_jpeg_baseline(ds: Dataset) -> bool:
    return bool(ds.file_meta.get("TransferSyntaxUID") == uid.JPEGBaseline8Bit)


def _pixel_bytes(ds: Dataset) -> bytes:
    if not is_jpeg_baseline(ds):
        raise NotJpegBaseline(
            f"transfer syntax {ds.file_meta.get('TransferSyntaxUID')} is not JPEG baseline"
        )
    data = ds.PixelData
    assert isinstance(data, bytes)
    return data


def jpeg_frame(ds: Dataset, index: int) -> bytes:
    """Frame ``index`` as the JPEG bytes stored in the file, not decoded."""
    frames = number_of_frames(ds)
    if not 0 <= index < frames:
        raise IndexError(f"frame {index} is outside 0..{frames - 1}")
    return get_frame(_pixel_bytes(ds), index, number_of_frames=frames)


def jpeg_frames(ds: Dataset) -> Iterator[bytes]:
    """Every frame as stored JPEG bytes, in order, without decoding."""
    yield from generate_frames(_pixel_bytes(ds), number_of_frames=number_of_frames(ds))
