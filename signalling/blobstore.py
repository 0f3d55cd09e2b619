"""Content-addressed blob store on disk.

A blob is named by the SHA-256 of its bytes: ``objects/ab/cd/abcd…``. Client
file names never reach the file system; they are metadata kept elsewhere.
Writes go to a temporary file in the same file system, are fsync'ed, then
renamed into place and the directory fsync'ed, so a reader (or a restart
after a crash) sees either the whole blob or nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import tempfile
import time
from collections.abc import AsyncIterable, Iterable
from dataclasses import dataclass
from pathlib import Path

_HEX64 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class BlobError(Exception):
    pass


class BlobTooLarge(BlobError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file is larger than the limit of {limit} bytes")
        self.limit = limit


class BlobNotFound(BlobError):
    pass


@dataclass(frozen=True, slots=True)
class BlobRef:
    sha256: str
    size: int


def check_digest(digest: str) -> str:
    """Refuse anything that is not a lower-case SHA-256 hex digest (no paths, ever)."""
    if not isinstance(digest, str) or not _HEX64.fullmatch(digest):
        raise BlobNotFound("not a blob identifier")
    return digest


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _Writer:
    """Streams chunks into a temp file while hashing; commit() publishes it."""

    def __init__(self, store: BlobStore, max_size: int | None) -> None:
        self._store = store
        self._max = max_size
        self._hash = hashlib.sha256()
        self._size = 0
        fd, name = tempfile.mkstemp(dir=store.tmp_dir, prefix="upload-")
        self._file = os.fdopen(fd, "wb")
        self._tmp = Path(name)

    def write(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._max is not None and self._size > self._max:
            raise BlobTooLarge(self._max)
        self._hash.update(chunk)
        self._file.write(chunk)

    def commit(self) -> BlobRef:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        digest = self._hash.hexdigest()
        final = self._store.path_for(digest)
        if final.exists():
            # Same content already stored: the existing file is identical.
            self._tmp.unlink()
        else:
            final.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
            os.chmod(self._tmp, 0o640)
            os.replace(self._tmp, final)
            _fsync_dir(final.parent)
        return BlobRef(digest, self._size)

    def abort(self) -> None:
        self._file.close()
        self._tmp.unlink(missing_ok=True)


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects_dir = root / "objects"
        self.tmp_dir = root / "tmp"
        # Images and attachments: the service's account and group only (0640
        # files; 0750 directories, group kept for a directory nodes share).
        self.objects_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
        self.tmp_dir.mkdir(mode=0o750, parents=True, exist_ok=True)

    def path_for(self, digest: str) -> Path:
        digest = check_digest(digest)
        return self.objects_dir / digest[:2] / digest[2:4] / digest

    def put_chunks(self, chunks: Iterable[bytes], *, max_size: int | None = None) -> BlobRef:
        writer = _Writer(self, max_size)
        try:
            for chunk in chunks:
                writer.write(chunk)
            return writer.commit()
        except BaseException:
            writer.abort()
            raise

    def put_bytes(self, data: bytes, *, max_size: int | None = None) -> BlobRef:
        return self.put_chunks([data], max_size=max_size)

    async def put_stream(
        self, chunks: AsyncIterable[bytes], *, max_size: int | None = None
    ) -> BlobRef:
        """Store an upload as it arrives; an oversized one is refused mid-stream."""
        writer = await asyncio.to_thread(_Writer, self, max_size)
        try:
            async for chunk in chunks:
                writer.write(chunk)
            return await asyncio.to_thread(writer.commit)
        except BaseException:
            writer.abort()
            raise

    def exists(self, digest: str) -> bool:
        try:
            return self.path_for(digest).is_file()
        except BlobNotFound:
            return False

    def read_bytes(self, digest: str) -> bytes:
        try:
            return self.path_for(digest).read_bytes()
        except FileNotFoundError:
            raise BlobNotFound(f"no blob {digest}") from None

    def open(self, digest: str) -> Path:
        """Path of a stored blob, for streaming responses; raises BlobNotFound."""
        path = self.path_for(digest)
        if not path.is_file():
            raise BlobNotFound(f"no blob {digest}")
        return path

    def delete(self, digest: str) -> bool:
        try:
            self.path_for(digest).unlink()
        except FileNotFoundError:
            return False
        return True

    def clean_temporary(self, older_than_s: float = 3600.0) -> int:
        """Remove uploads left behind by a crash; call at start-up.

        Only old ones: another node sharing this directory may be mid-upload.
        """
        removed = 0
        cutoff = time.time() - older_than_s
        for leftover in self.tmp_dir.glob("upload-*"):
            try:
                if leftover.stat().st_mtime < cutoff:
                    leftover.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
