"""The imaging API the control plane calls, over its blob store.

Objects are addressed by the SHA-256 of their stored bytes, which the index
records for each SOP Instance UID. Parsed datasets are kept in a small LRU
cache so that scrolling a series or playing a loop does not re-parse the
file for every frame. Methods are synchronous and thread-safe: the control
plane runs the heavy ones (render, decode) in an executor.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from pydicom.dataset import FileDataset

from .cine import jpeg_frame
from .ecg import Ecg, read_ecg
from .index import ImagingIndex
from .ingest import IngestResult, ingest
from .limits import IngestLimits
from .lut import Window
from .measure import RegionShape, RegionStats, region_stats
from .presets import available_presets
from .render import (
    ImageFormat,
    PixelValue,
    RenderedImage,
    WindowChoice,
    pixel_value,
    render,
    thumbnail,
)
from .storage import BlobStore
from .validate import Source, load_dataset

# bump when rendering changes, so cached renditions are not reused
RENDERER_VERSION = "1"


def rendition_key(
    blob_sha256: str,
    frame: int,
    window: WindowChoice,
    fmt: ImageFormat,
    max_size: int | None = None,
) -> str:
    """A stable ETag for a rendition: the blob is immutable (content
    addressed) and rendering is deterministic, so equal keys mean equal bytes."""
    if isinstance(window, Window):
        window_part = f"w:{window.center!r}:{window.width!r}:{window.function.value}"
    else:
        window_part = f"p:{window}"
    text = f"{RENDERER_VERSION}|{blob_sha256}|{frame}|{window_part}|{fmt.value}|{max_size}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ImagingService:
    def __init__(
        self,
        store: BlobStore,
        limits: IngestLimits | None = None,
        cached_datasets: int = 32,
    ) -> None:
        self._store = store
        self._limits = limits or IngestLimits()
        self._capacity = cached_datasets
        self._cache: OrderedDict[str, FileDataset] = OrderedDict()
        self._lock = threading.Lock()

    def ingest(self, source: Source, index: ImagingIndex) -> IngestResult:
        return ingest(source, self._store, index, self._limits)

    def dataset(self, blob_sha256: str) -> FileDataset:
        with self._lock:
            cached = self._cache.get(blob_sha256)
            if cached is not None:
                self._cache.move_to_end(blob_sha256)
                return cached
        ds = load_dataset(self._store.read_bytes(blob_sha256))
        with self._lock:
            self._cache[blob_sha256] = ds
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return ds

    def render(
        self,
        blob_sha256: str,
        frame: int = 0,
        *,
        window: WindowChoice = None,
        fmt: ImageFormat = ImageFormat.PNG,
        max_size: int | None = None,
    ) -> RenderedImage:
        return render(self.dataset(blob_sha256), frame, window=window, fmt=fmt, max_size=max_size)

    def thumbnail(
        self, blob_sha256: str, size: int = 128, fmt: ImageFormat = ImageFormat.WEBP
    ) -> RenderedImage:
        return thumbnail(self.dataset(blob_sha256), size, fmt)

    def presets(self, blob_sha256: str, frame: int = 0) -> list[str]:
        return available_presets(self.dataset(blob_sha256), frame)

    def pixel_value(self, blob_sha256: str, row: int, column: int, frame: int = 0) -> PixelValue:
        return pixel_value(self.dataset(blob_sha256), row, column, frame)

    def region_stats(
        self,
        blob_sha256: str,
        frame: int,
        shape: RegionShape,
        corner_a: tuple[float, float],
        corner_b: tuple[float, float],
        pixel_spacing: tuple[float, float] | None = None,
    ) -> RegionStats | None:
        return region_stats(
            self.dataset(blob_sha256), frame, shape, corner_a, corner_b, pixel_spacing
        )

    def cine_frame(self, blob_sha256: str, index: int) -> bytes:
        """A JPEG-baseline frame as stored (send as image/jpeg)."""
        return jpeg_frame(self.dataset(blob_sha256), index)

    def ecg(self, blob_sha256: str) -> Ecg:
        return read_ecg(self.dataset(blob_sha256))
