"""The tus 1.0 server: core, creation, termination and expiration, at /api/uploads.

Every answer carries ``Tus-Resumable: 1.0.0``; a request naming another
version gets 412. Forgery: the CSRF middleware checks the origin of
cookie-bearing requests as for every other route, and besides, a cross-site
form can send neither Upload-Length (so no upload is created) nor PATCH,
DELETE or the offset+octet-stream body. An upload is its creator's: anyone
else gets 404, audited as a refusal.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import logging
import re
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
from signalling.uploads.numbers import at_most
from signalling.uploads.store import (
    Limits,
    OffsetMismatch,
    UnsupportedType,
    Upload,
    UploadError,
    UploadStore,
)

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
# Numeric headers are documented as text patterns (see numbers.py); the maximum
# length is set to this server's limit when the store is made.
UPLOAD_LENGTH = Param(
    "Upload-Length", "header", {"type": "string", "pattern": at_most(MB)}, required=True
)
UPLOAD_OFFSET = Param(
    "Upload-Offset",
    "header",
    {"type": "string", "pattern": "^(0|[1-9][0-9]{0,17})$"},
    required=True,
)
_DECIMAL = re.compile(r"[0-9]{1,18}")

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
    limits = limits_for(platform.settings.max_upload_mb)
    app[UPLOADS] = UploadStore(platform.blobs.root / "uploads", limits)
    UPLOAD_LENGTH.schema["pattern"] = at_most(limits.max_length)
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
            # Missing means the one version there is (tus clients always send it); another
            # version is 412, as the protocol says.
            if request.headers.get("Tus-Resumable", TUS_VERSION) != TUS_VERSION:
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
    if value is None or not _DECIMAL.fullmatch(value):
        raise UploadError(f"{name} must be a non-negative integer", code="invalid_header")
    return int(value)


def _label(name: str) -> str:
    """A file name as a label: no folders, no control characters, not empty."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()[:200]
    return name or "upload"


# ``key base64,key base64``: keys are ASCII words, values base64 (or nothing)
_B64 = r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
_PAIR = rf"[A-Za-z0-9_.-]{{1,64}}(?: {_B64})?"
METADATA_PATTERN = rf"^{_PAIR}(?:,{_PAIR})*$"


def parse_metadata(header: str) -> dict[str, str]:
    """The metadata's keys and values; a value that is not UTF-8 is kept as a label would
    be (replacement characters), a repeated key's last value counts."""
    header = header.strip()
    if len(header) > MAX_METADATA or not re.fullmatch(METADATA_PATTERN[1:-1], header):
        raise UploadError(
            "Upload-Metadata must be `key base64` pairs, comma-separated", code="invalid_header"
        )
    found: dict[str, str] = {}
    for pair in header.split(","):
        key, _, value = pair.partition(" ")
        found[key] = base64.b64decode(value).decode(errors="replace")
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
        UPLOAD_LENGTH,
        Param(
            "Upload-Metadata",
            "header",
            {"type": "string", "maxLength": MAX_METADATA, "pattern": METADATA_PATTERN},
            description="`filename <base64>`, comma-separated pairs",
        ),
    ),
    errors=(400, 401, 403, 412, 413),
)
@tus
@audited("upload.create", "upload")
async def create(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    if "Upload-Defer-Length" in request.headers:
        raise UploadError("Upload-Defer-Length is not supported", code="invalid_header")
    length = _length(request.headers.get("Upload-Length"), "Upload-Length")
    given = request.headers.get("Upload-Metadata")
    metadata = {} if given is None else parse_metadata(given)
    filename = _label(metadata.get("filename", ""))
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
    return web.json_response(
        {"id": upload.id},
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
        UPLOAD_ID,
        UPLOAD_OFFSET,
    ),
    errors=(400, 401, 404, 409, 412, 413, 415),
)
@tus
@audited("upload.patch", "upload")
async def patch(request: web.Request) -> web.Response:
    user = require_user(request)
    store = store_of(request)
    upload_id = request.match_info["id"]
    store.get(user.id, upload_id)  # a stranger learns nothing else
    # (a PATCH without a body appends nothing, whatever it calls its type)
    if request.content_type != OFFSET_TYPE and request.body_exists:
        raise UnsupportedType(f"send the bytes as {OFFSET_TYPE}", code="content_type")
    offset = _length(request.headers.get("Upload-Offset"), "Upload-Offset")
    async with store.turn(upload_id) as turn:
        upload = store.get(user.id, upload_id)
        if offset != upload.offset:
            raise OffsetMismatch(
                f"the upload stands at {upload.offset}, not {offset}", code="offset_mismatch"
            )
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
    params=(UPLOAD_ID,),
    errors=(401, 404, 412),
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
