"""Blob store: content addressing, atomic publication, size limits, hostile names."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from signalling.blobstore import BlobNotFound, BlobStore, BlobTooLarge


def test_round_trip_and_deduplication(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    data = b"ECG strip \x00\x01" * 1000
    ref = store.put_bytes(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.size == len(data)
    assert store.read_bytes(ref.sha256) == data
    assert store.put_bytes(data) == ref  # same content, same blob, no second copy
    files = [p for p in (tmp_path / "objects").rglob("*") if p.is_file()]
    assert files == [store.path_for(ref.sha256)]
    assert list((tmp_path / "tmp").iterdir()) == []
    assert store.delete(ref.sha256)
    assert not store.exists(ref.sha256)


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/etc/passwd", "a" * 64 + "/..", "ABCDEF" * 11, "x\x00y", ""]
)
def test_identifiers_that_are_not_digests_are_refused(tmp_path: Path, name: str) -> None:
    store = BlobStore(tmp_path)
    with pytest.raises(BlobNotFound):
        store.read_bytes(name)
    assert not store.exists(name)


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)

    def chunks() -> Iterator[bytes]:
        yield b"first half of a DICOM file"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        store.put_chunks(chunks())
    assert list((tmp_path / "tmp").iterdir()) == []
    assert [p for p in (tmp_path / "objects").rglob("*") if p.is_file()] == []


async def test_oversized_stream_is_refused_before_it_is_all_read(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    sent = 0

    async def upload() -> AsyncIterator[bytes]:
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b"x" * 1024

    with pytest.raises(BlobTooLarge):
        await store.put_stream(upload(), max_size=10 * 1024)
    assert sent == 11  # stopped at the first chunk over the limit
    assert list((tmp_path / "tmp").iterdir()) == []


def test_readers_never_see_a_partial_blob(tmp_path: Path) -> None:
    """While a large blob is written, its final name is absent or complete."""
    store = BlobStore(tmp_path)
    data = os.urandom(256 * 1024) * 32  # 8 MiB, in 64 KiB chunks below
    digest = hashlib.sha256(data).hexdigest()
    final = store.path_for(digest)
    seen_sizes: set[int] = set()
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            try:
                seen_sizes.add(final.stat().st_size)
            except FileNotFoundError:
                pass

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        chunks = (data[i : i + 65536] for i in range(0, len(data), 65536))
        store.put_chunks(chunks)
    finally:
        done.set()
        watcher.join()
    assert seen_sizes <= {len(data)}
    assert final.stat().st_size == len(data)


def test_crash_leftovers_are_cleaned_at_start(tmp_path: Path) -> None:
    store = BlobStore(tmp_path)
    stale = tmp_path / "tmp" / "upload-stale"
    stale.write_bytes(b"half")
    os.utime(stale, (0, 0))
    fresh = tmp_path / "tmp" / "upload-fresh"  # another node's upload in progress
    fresh.write_bytes(b"going")
    assert BlobStore(tmp_path).clean_temporary() == 1
    assert not stale.exists() and fresh.exists()
    assert store.exists("0" * 64) is False
