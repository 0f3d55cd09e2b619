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
    # A deflated data set may inflate to max_inflate_ratio times the file's
    # size, but never past max_inflated_bytes (nor max_file_bytes); below
    # inflate_ratio_exempt_bytes the ratio is not applied, as so little
    # memory hurts no one. Real deflated DICOM (SR, waveforms, images)
    # inflates 2-8:1; a small image with a black border more (pydicom's
    # image_dfl.dcm: 57:1, 262 KB); zlib's own maximum is about 1032:1, a
    # bomb's. The absolute bound is well under max_upload_mb (512 MB): large
    # images come JPEG/JPEG 2000/RLE compressed or uncompressed, not deflated.
    max_inflate_ratio: int = 20
    max_inflated_bytes: int = 128 << 20
    inflate_ratio_exempt_bytes: int = 16 << 20
    # Counted at every depth before pydicom parses anything, as it makes a
    # Python object of each. Measured here: 299,000 elements cost pydicom
    # 1.4 s and 92 MB, 299,000 empty items 5.2 s and 194 MB (an item is a
    # whole Dataset). A 4096-frame enhanced MR has ~10 functional-group
    # items and ~40 elements per frame: ~45,000 items, ~170,000 elements.
    max_elements: int = 300_000
    max_sequence_items: int = 65_536
    # Sequences within sequences: enhanced objects and ECGs nest 3-4 deep;
    # pydicom parses nesting recursively (a Python frame chain per level).
    max_sequence_depth: int = 32

    def inflated_allowance(self, compressed_bytes: int) -> int:
        """How far the data set of a deflated file of this size may inflate."""
        by_ratio = max(compressed_bytes * self.max_inflate_ratio, self.inflate_ratio_exempt_bytes)
        return min(by_ratio, self.max_inflated_bytes, self.max_file_bytes)
