"""Partial uploads on disk: one folder per owner, a data file and its description.

``<root>/<owner>/<id>.part`` holds the bytes received so far, so the offset
is the file's size: what was fsync'ed survives a restart, and nothing that
did not reach the disk is ever claimed. ``<id>.json`` (written once,
atomically) holds the declared length and the metadata. The data file's
modification time is the last progress, which is what expiry counts from.

Writers of one upload take turns through an in-process lock; a request for
an upload that a writer holds asks it to stop (its client has given up on
that connection) and waits for it. Nodes sharing a directory do not share
these locks: a client resumes on the node it was talking to, or finds a
409 and asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from signalling.errors import PlatformError

_ID = re.compile(r"[0-9a-f]{32}")


class UploadError(PlatformError):
    """A refusal with the status tus gives it."""

    status = 400


class NoSuchUpload(UploadError):
    status = 404


class OffsetMismatch(UploadError):
    status = 409


class Busy(UploadError):
    status = 423


class TooLarge(UploadError):
    status = 413


class UnsupportedType(UploadError):
    status = 415


class QuotaExceeded(UploadError):
    status = 403


@dataclass(frozen=True, slots=True)
class Limits:
    max_length: int  # bytes of one upload
    max_held: int  # uploads one user holds (unfinished, or complete and not yet filed)
    max_held_bytes: int  # their declared lengths added up
    expire_s: float  # without progress for this long, an upload is removed


@dataclass(frozen=True, slots=True)
class Upload:
    id: str
    owner: int
    length: int
    offset: int
    filename: str
    metadata: dict[str, str]
    last_progress: float  # epoch seconds

    @property
    def complete(self) -> bool:
        return self.offset == self.length


@dataclass
class _Writer:
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def check_id(upload_id: str) -> str:
    if not _ID.fullmatch(upload_id):
        raise NoSuchUpload("no such upload", code="not_found")
    return upload_id


class UploadStore:
    def __init__(self, root: Path, limits: Limits) -> None:
        self.root = root
        self.limits = limits
        self._locks: dict[str, asyncio.Lock] = {}
        self._writers: dict[str, _Writer] = {}
        self._creating: dict[int, asyncio.Lock] = {}
        root.mkdir(mode=0o750, parents=True, exist_ok=True)

    # paths ------------------------------------------------------------------

    def _dir(self, owner: int) -> Path:
        return self.root / str(int(owner))

    def data_path(self, owner: int, upload_id: str) -> Path:
        return self._dir(owner) / f"{check_id(upload_id)}.part"

    def _info_path(self, owner: int, upload_id: str) -> Path:
        return self._dir(owner) / f"{check_id(upload_id)}.json"

    # reading ----------------------------------------------------------------

    def _load(self, owner: int, upload_id: str) -> Upload | None:
        try:
            info = json.loads(self._info_path(owner, upload_id).read_text())
            stat = self.data_path(owner, upload_id).stat()
        except (FileNotFoundError, ValueError):
            return None
        return Upload(
            upload_id,
            owner,
            int(info["length"]),
            stat.st_size,
            str(info["filename"]),
            dict(info["metadata"]),
            stat.st_mtime,
        )

    def get(self, owner: int, upload_id: str) -> Upload:
        """The owner's upload; anyone else's is as absent as one that never was."""
        found = self._load(owner, check_id(upload_id))
        if found is None:
            raise NoSuchUpload("no such upload", code="not_found")
        return found

    def owner_of(self, upload_id: str) -> int | None:
        """Whose upload this is (for the audit row of a stranger's attempt)."""
        if not _ID.fullmatch(upload_id):
            return None
        for info in self.root.glob(f"*/{upload_id}.json"):
            return int(info.parent.name)
        return None

    def held(self, owner: int) -> list[Upload]:
        folder = self._dir(owner)
        if not folder.is_dir():
            return []
        found = (self._load(owner, p.stem) for p in folder.glob("*.json") if _ID.fullmatch(p.stem))
        return [u for u in found if u is not None]

    # creating ---------------------------------------------------------------

    async def create(
        self, owner: int, length: int, filename: str, metadata: dict[str, str]
    ) -> Upload:
        limits = self.limits
        if length > limits.max_length:
            raise TooLarge(f"larger than the limit of {limits.max_length} bytes", code="too_large")
        # one creation at a time per owner, so that two cannot both pass the quota
        lock = self._creating.setdefault(owner, asyncio.Lock())
        async with lock:
            held = await asyncio.to_thread(self.held, owner)
            if len(held) >= limits.max_held:
                raise QuotaExceeded(
                    f"you already hold {len(held)} uploads (at most {limits.max_held}); "
                    "finish or file them first",
                    code="upload_quota",
                )
            used = sum(u.length for u in held)
            if used + length > limits.max_held_bytes:
                raise QuotaExceeded(
                    f"your uploads would hold {used + length} bytes "
                    f"(at most {limits.max_held_bytes}); finish or file them first",
                    code="upload_quota",
                )
            upload_id = uuid.uuid4().hex
            await asyncio.to_thread(self._write_new, owner, upload_id, length, filename, metadata)
        return self.get(owner, upload_id)

    def _write_new(
        self, owner: int, upload_id: str, length: int, filename: str, metadata: dict[str, str]
    ) -> None:
        folder = self._dir(owner)
        folder.mkdir(mode=0o750, exist_ok=True)
        data = self.data_path(owner, upload_id)
        fd = os.open(data, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        os.close(fd)
        info = self._info_path(owner, upload_id)
        tmp = info.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"length": length, "filename": filename, "metadata": metadata}))
        os.replace(tmp, info)

    # writing ----------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def turn(self, upload_id: str, *, wait_s: float = 10.0) -> AsyncIterator[_Writer]:
        """This request's turn at the upload: a writer still holding it is asked to stop."""
        writer = self._writers.get(upload_id)
        if writer is not None:
            writer.stop.set()
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        try:
            await asyncio.wait_for(lock.acquire(), wait_s)
        except TimeoutError:
            raise Busy("another request is using this upload; try again", code="busy") from None
        mine = _Writer()
        self._writers[upload_id] = mine
        try:
            yield mine
        finally:
            if self._writers.get(upload_id) is mine:
                del self._writers[upload_id]
            lock.release()
            if not lock.locked() and self._locks.get(upload_id) is lock:
                del self._locks[upload_id]

    def busy(self, upload_id: str) -> bool:
        lock = self._locks.get(upload_id)
        return lock is not None and lock.locked()

    async def append(
        self, upload: Upload, offset: int, chunks: AsyncIterator[bytes]
    ) -> tuple[int, bool]:
        """Writes ``chunks`` at ``offset`` (which must be where the upload stands) and
        fsyncs what arrived, also when the sender went away: (new offset, overflowed)."""
        current = self.get(upload.owner, upload.id)
        if offset != current.offset:
            raise OffsetMismatch(
                f"the upload stands at {current.offset}, not {offset}", code="offset_mismatch"
            )
        remaining = current.length - current.offset
        written = 0
        overflow = False
        out = await asyncio.to_thread(open, self.data_path(upload.owner, upload.id), "ab")
        try:
            async for chunk in chunks:
                room = remaining - written
                if len(chunk) > room:
                    chunk, overflow = chunk[:room], True
                out.write(chunk)  # into the page cache: quick, and fsync'ed below
                written += len(chunk)
                if overflow:
                    break
        finally:
            out.flush()
            await asyncio.to_thread(os.fsync, out.fileno())
            out.close()
        return current.offset + written, overflow

    # removing ---------------------------------------------------------------

    def remove(self, owner: int, upload_id: str) -> bool:
        removed = False
        for path in (self._info_path(owner, upload_id), self.data_path(owner, upload_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed = True
        return removed

    def expired(self, now: float | None = None) -> list[Upload]:
        """Uploads without progress for longer than the limit that nobody is writing."""
        cutoff = (time.time() if now is None else now) - self.limits.expire_s
        found = []
        for folder in self.root.iterdir():
            if not folder.is_dir() or not folder.name.isdigit():
                continue
            for upload in self.held(int(folder.name)):
                if upload.last_progress < cutoff and not self.busy(upload.id):
                    found.append(upload)
        return found

    def sweep(self, now: float | None = None) -> list[Upload]:
        """Removes the expired uploads (and the halves a crash left): what was removed."""
        gone = self.expired(now)
        for upload in gone:
            self.remove(upload.owner, upload.id)
        cutoff = (time.time() if now is None else now) - self.limits.expire_s
        for orphan in self.root.glob("*/*.part"):
            with contextlib.suppress(FileNotFoundError):
                if not orphan.with_suffix(".json").exists() and orphan.stat().st_mtime < cutoff:
                    orphan.unlink()
        return gone
