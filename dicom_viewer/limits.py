"""Size caps for ingest, checked on declared values before any decoding."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class IngestLimits:
    """Upper bounds for one uploaded object.

    The defaults admit a large mammogram, a long ultrasound loop and an
    enhanced CT volume, and refuse declarations no viewer could show.
    """

    max_file_bytes: int = 1 << 30
    max_rows: int = 8192
    max_columns: int = 8192
    max_frames: int = 4096
    # rows x columns x samples x frames x bytes per sample, once decoded
    max_decoded_bytes: int = 2 << 30
    # channels x samples over all waveform groups
    max_waveform_samples: int = 10_000_000
    # decode the first and last frame of compressed images at ingest, after
    # the size checks, to refuse streams that are corrupt inside
    trial_decode: bool = True
