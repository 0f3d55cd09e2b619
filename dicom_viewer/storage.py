"""What the viewer needs from the platform's content-addressed blob store.

signalling owns the store (blobs named by SHA-256 on disk). This Protocol
matches its ``put_bytes``/``read_bytes`` so it can be passed in as is.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


class StoredBlob(Protocol):
    @property
    def sha256(self) -> str: ...


class BlobStore(Protocol):
    def put_bytes(self, data: bytes) -> StoredBlob: ...

    def read_bytes(self, digest: str) -> bytes: ...


@dataclass(frozen=True, slots=True)
class MemoryBlob:
    sha256: str
    size: int


class MemoryBlobStore:
    """An in-memory blob store with the same contract, for tools and tests."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put_bytes(self, data: bytes) -> MemoryBlob:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs[digest] = bytes(data)
        return MemoryBlob(digest, len(data))

    def read_bytes(self, digest: str) -> bytes:
        if not _SHA256_HEX.fullmatch(digest):
            raise KeyError("not a blob identifier")
        return self._blobs[digest]

    def __len__(self) -> int:
        return len(self._blobs)
