"""The tus 1.0 server: core, creation, termination and expiration, at /api/uploads.

Every request but OPTIONS must carry ``Tus-Resumable: 1.0.0`` (412
otherwise), which a cross-site form cannot send; the CSRF middleware checks
the origin of cookie-bearing requests as for every other route. An upload is
its creator's: anyone else gets 404, audited as a refusal.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import logging
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from email.utils import format_datetime

from aiohttp import web

from signalling.background import every, running
from signalling.errors import PlatformError
from signalling.http.api_docs import Param, api_doc
from signalling.http.audited import audited
from signalling.http.errors import json_error
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import PLATFORM, platform_of
from signalling.uploads.keys import UPLOADS
from signalling.uploads.store import Limits, UnsupportedType, Upload, UploadError, UploadStore

log = logging.getLogger(__name__)
routes = web.RouteTableDef()

TUS_VERSION = "1.0.0"
EXTENSIONS = "creation,termination,expiration"
OFFSET_TYPE = "application/offset+octet-stream"
MB = 1024 * 1024
# Per user: uploads held (unfinished, or complete and not yet filed) and their bytes.
MAX_HELD = 100
HELD_BYTES_PER_MAX_UPLOAD = 2
EXPIRE_S = 24 * 3600.0
SWEEP_EVERY_S = 600.0
# A PATCH whose sender is silent this long is ended, keeping what arrived.
IDLE_S = 60.0
MAX_METADATA = 4096
UPLOAD_ID = Param("id", "path", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, required=True)
TUS_HEADER = Param(
    "Tus-Resumable", "header", {"type": "string", "enum": [TUS_VERSION]}, required=True
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def limits_for(max_upload_mb: int) -> Limits:
    return Limits(
        max_length=max_upload_mb * MB,
        max_held=MAX_HELD,
        max_held_bytes=HELD_BYTES_PER_MAX_UPLOAD * max_upload_mb * MB,
        expire_s=EXPIRE_S,
    )


def add_uploads(app: web.Application) -> None:
    """The store and its sweeper (the routes are in ``routes``, with the other tables)."""
    platform = app[PLATFORM]
    app[UPLOADS] = UploadStore(
        platform.blobs.root / "uploads", limits_for(platform.settings.max_upload_mb)
    )
    app.cleanup_ctx.append(_sweeper)


async def _sweeper(app: web.Application) -> AsyncIterator[None]:
    store = app[UPLOADS]

    async def sweep() -> None:
        for gone in await asyncio.to_thread(store.sweep):
            log.info("expired upload %s of user %d removed", gone.id, gone.owner)

    async with running(every(SWEEP_EVERY_S, sweep, "upload expiry sweep")):
        yield


def store_of(request: web.Request) -> UploadStore:
    return request.app[UPLOADS]


# Answers ---------------------------------------------------------------------


def _expires(upload: Upload, store: UploadStore) -> str:
    at = datetime.fromtimestamp(upload.last_progress + store.limits.expire_s, UTC)
    return format_datetime(at, usegmt=True)


def tus(handler: Handler) -> Handler:
    """Tus-Resumable on every answer, refusals included; the version checked first."""

    async def run(request: web.Request) -> web.StreamResponse:
        try:
            if request.method != "OPTIONS" and request.headers.get("Tus-Resumable") != TUS_VERSION:
                response: web.StreamResponse = json_error(
                    412, f"send Tus-Resumable: {TUS_VERSION}", code="tus_version"
                )
                response.headers["Tus-Version"] = TUS_VERSION
            else:
                response = await handler(request)
        except PlatformError as exc:
            response = json_error(exc.status, str(exc), **({"code": exc.code} if exc.code else {}))
        response.headers["Tus-Resumable"] = TUS_VERSION
        return response

    return functools.wraps(handler)(run)


def _length(value: str | None, name: str) -> int:
    if value is None or not value.isdigit() or len(value) > 19:
        raise UploadError(f"{name} must be a non-negative integer", code="invalid_header")
    return int(value)


def _label(name: str) -> str:
    """A file name as a label: no folders, no control characters, not empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()[:200]
    return name or "upload"


def parse_metadata(header: str) -> dict[str, str]:
    """``key base64,key2 base64``: keys are ASCII words, values UTF-8 text."""
    if len(header) > MAX_METADATA:
        raise UploadError(f"Upload-Metadata is longer than {MAX_METADATA}", code="invalid_header")
    found: dict[str, str] = {}
    for pair in filter(None, (p.strip() for p in header.split(","))):
        key, _, value = pair.partition(" ")
        if not key.isascii() or not key.isprintable() or key in found:
            raise UploadError("Upload-Metadata: bad or repeated key", code="invalid_header")
        try:
            found[key] = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise UploadError(
                f"Upload-Metadata: {key[:40]} is not base64 of UTF-8", code="invalid_header"
            ) from None
    return found


# Routes ----------------------------------------------------------------------


@routes.options("/api/uploads")
@api_doc("What this tus server supports", "uploads", ok=204, public=True, errors=())
@tus
async def options(request: web.Request) -> web.Response:
    limits = limits_for(platform_of(request).settings.max_upload_mb)
    return web.Response(
        status=204,
        headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": EXTENSIONS,
            "Tus-Max-Size": str(limits.max_length),
        },
    )


@routes.post("/api/uploads")
@api_doc(
    "Create a resumable upload (tus creation): Upload-Length, Upload-Metadata with filename",
    "uploads",
    ok=201,
    params=(
        TUS_HEADER,
        Param("Upload-Length", "header", {"type": "integer", "minimum": 0}, required=True),
        Param("Upload-Metadata", "header", {"type": "string", "maxLength": MAX_METADATA}),
    ),
    errors=(400, 401, 403, 413),
)
@tus
@audited("upload.create", "upload")
async def create(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    if "Upload-Defer-Length" in request.headers:
        raise UploadError("Upload-Defer-Length is not supported", code="invalid_header")
    length = _length(request.headers.get("Upload-Length"), "Upload-Length")
    metadata = parse_metadata(request.headers.get("Upload-Metadata", ""))
    if "filename" not in metadata:
        raise UploadError("Upload-Metadata must name the filename", code="invalid_header")
    filename = _label(metadata["filename"])
    upload = await store.create(user.id, length, filename, metadata)
    actor = actor_of(user, request)
    detail = {"filename": filename, "length": length}
    audit = platform_of(request).audit
    await audit.record(
        actor, "upload.create", object_type="upload", object_id=upload.id, detail=detail
    )
    if upload.complete:  # an empty file is complete when created
        await audit.record(
            actor, "upload.complete", object_type="upload", object_id=upload.id, detail=detail
        )
    return web.Response(
        status=201,
        headers={
            "Location": f"/api/uploads/{upload.id}",
            "Upload-Expires": _expires(upload, store),
            "Upload-Offset": "0",
        },
    )


@routes.head("/api/uploads/{id}")
@tus
@audited("upload.head", "upload")
async def head(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    upload_id = request.match_info["id"]
    store.get(user.id, upload_id)  # a stranger's request stops nobody's writer
    async with store.turn(upload_id):  # a writer on a dead connection is stopped first
        upload = store.get(user.id, upload_id)
    return web.Response(
        headers={
            "Upload-Offset": str(upload.offset),
            "Upload-Length": str(upload.length),
            "Upload-Expires": _expires(upload, store),
            "Cache-Control": "no-store",
        }
    )


async def _body(request: web.Request, stop: asyncio.Event, idle_s: float) -> AsyncIterator[bytes]:
    """The request body as it arrives, until it ends, the sender goes silent or away,
    or another request for the same upload asks this one to stop."""
    stopper = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            read = asyncio.ensure_future(request.content.readany())
            done, _ = await asyncio.wait(
                {read, stopper}, timeout=idle_s, return_when=asyncio.FIRST_COMPLETED
            )
            if read not in done:
                read.cancel()
                await asyncio.gather(read, return_exceptions=True)
                return
            try:
                chunk = read.result()
            except Exception as exc:  # the connection dropped mid-body: keep what came
                log.info("upload body ended early: %s", type(exc).__name__)
                return
            if not chunk:
                return
            yield chunk
    finally:
        stopper.cancel()


@routes.patch("/api/uploads/{id}")
@api_doc(
    "Append to an upload at Upload-Offset (body: application/offset+octet-stream)",
    "uploads",
    ok=204,
    params=(
        TUS_HEADER,
        Param("Upload-Offset", "header", {"type": "integer", "minimum": 0}, required=True),
    ),
    errors=(400, 401, 404, 409, 413, 415),
)
@tus
@audited("upload.patch", "upload")
async def patch(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    upload_id = request.match_info["id"]
    if request.content_type != OFFSET_TYPE:
        raise UnsupportedType(f"send the bytes as {OFFSET_TYPE}", code="content_type")
    offset = _length(request.headers.get("Upload-Offset"), "Upload-Offset")
    store.get(user.id, upload_id)
    async with store.turn(upload_id) as turn:
        upload = store.get(user.id, upload_id)
        declared = request.content_length
        if declared is not None and offset + declared > upload.length:
            raise UploadError("the body goes past Upload-Length", code="too_long")
        new_offset, overflow = await store.append(upload, offset, _body(request, turn.stop, IDLE_S))
    if overflow:
        raise UploadError("the body went past Upload-Length; kept up to it", code="too_long")
    done = store.get(user.id, upload_id)
    if done.complete and not upload.complete:
        await platform_of(request).audit.record(
            actor_of(user, request),
            "upload.complete",
            object_type="upload",
            object_id=upload_id,
            detail={"filename": done.filename, "length": done.length},
        )
    return web.Response(
        status=204,
        headers={"Upload-Offset": str(new_offset), "Upload-Expires": _expires(done, store)},
    )


@routes.delete("/api/uploads/{id}")
@api_doc(
    "Abandon an upload (tus termination)",
    "uploads",
    ok=204,
    params=(TUS_HEADER,),
    errors=(401, 404),
)
@tus
@audited("upload.delete", "upload")
async def delete(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    upload_id = request.match_info["id"]
    store.get(user.id, upload_id)
    async with store.turn(upload_id):
        store.get(user.id, upload_id)
        await asyncio.to_thread(store.remove, user.id, upload_id)
    await platform_of(request).audit.record(
        actor_of(user, request), "upload.delete", object_type="upload", object_id=upload_id
    )
    return web.Response(status=204)
