"""Multipart parts written to disk as they arrive.

A STOW-RS or browser upload may carry hundreds of megabytes per part; held
as bytes it was in memory twice before validation even began. Each part
goes to a temporary file in the blob store's tmp directory (removed after
use, or by ``BlobStore.clean_temporary`` after a crash) and is validated
from there.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import BodyPartReader

CHUNK = 256 * 1024


@contextlib.asynccontextmanager
async def spooled(part: BodyPartReader, tmp_dir: Path, cap: int) -> AsyncIterator[Path | None]:
    """The part's bytes in a temporary file, or None (drained) once past ``cap``."""
    fd, name = tempfile.mkstemp(dir=tmp_dir, prefix="upload-part-")
    path = Path(name)
    try:
        size = 0
        too_large = False
        with os.fdopen(fd, "wb") as out:
            while chunk := await part.read_chunk(CHUNK):
                size += len(chunk)
                if size > cap:
                    too_large = True
                    break
                out.write(chunk)
        if too_large:
            await part.release()
        yield None if too_large else path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)
