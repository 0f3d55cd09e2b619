"""Completed uploads named in a JSON body, handed to a route that files them.

The imaging and attachment routes take ``{"uploads": [...], "confirm_patient":
false}`` besides their multipart body; each named upload must be the caller's
and complete, or the request is refused before anything is filed.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from pydantic import Field

from signalling.http.errors import RequestBody
from signalling.uploads.keys import UPLOADS
from signalling.uploads.store import UploadError, UploadStore


class Incomplete(UploadError):
    status = 409


MAX_NAMED = 200


class FileUploads(RequestBody):
    uploads: list[str] = Field(
        min_length=1,
        max_length=MAX_NAMED,
        description="ids of the caller's completed uploads (tus, /api/uploads)",
    )
    confirm_patient: bool = False


@dataclass(frozen=True, slots=True)
class Completed:
    id: str
    filename: str
    length: int
    path: Path


class Claimed:
    """The uploads a route is filing: ``done(id)`` removes one once it is filed."""

    def __init__(self, store: UploadStore, owner: int, uploads: list[Completed]) -> None:
        self._store = store
        self._owner = owner
        self.uploads = uploads

    def done(self, upload_id: str) -> None:
        self._store.remove(self._owner, upload_id)


def is_json(request: web.Request) -> bool:
    return request.content_type == "application/json"


@contextlib.asynccontextmanager
async def claimed(request: web.Request, owner: int, ids: list[str]) -> AsyncIterator[Claimed]:
    """The named uploads, each held for this request (no PATCH, no second filing) until
    the block ends; a stranger's or unknown id is 404, an unfinished one 409."""
    store = request.app[UPLOADS]
    if len(set(ids)) != len(ids):
        raise UploadError("an upload is named twice", code="repeated")
    found = []
    for upload_id in ids:
        upload = store.get(owner, upload_id)
        if not upload.complete:
            raise Incomplete(
                f"upload {upload_id} is not complete ({upload.offset} of {upload.length} bytes)",
                code="incomplete",
            )
        found.append(
            Completed(upload.id, upload.filename, upload.length, store.data_path(owner, upload.id))
        )
    async with contextlib.AsyncExitStack() as turns:
        for each in found:
            await turns.enter_async_context(store.turn(each.id, wait_s=0.5))
            store.get(owner, each.id)  # still there: not filed by a request just before
        yield Claimed(store, owner, found)
