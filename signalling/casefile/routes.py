"""Case files over HTTP: documents with versions and sign-off, attachments; all audited.

Changes are announced to the consultation rooms of the same patient as
``casefile.updated``, so that participants see a note or a file appear.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web
from pydantic import Field
from sqlalchemy import func, select

from signalling.audit import Actor
from signalling.blobstore import BlobTooLarge
from signalling.casefile.content_types import (
    ALLOWED,
    RefusedContent,
    check_name_matches,
    safe_filename,
    sniff,
)
from signalling.casefile.documents import (
    EntryBody,
    accessible,
    add_document,
    attachment_json,
    case_file_for,
    entry_json,
    overview,
    revise,
    sign,
)
from signalling.casefile.fhir_export import consultation_bundle
from signalling.casefile.summary import summary_html
from signalling.db.case_file_models import CaseAttachment, CaseEntry, CaseFile
from signalling.db.models import Consultation, ConsultStatus, Facility, Participant, Role, User
from signalling.errors import Forbidden, NotFound, PlatformError
from signalling.http.api_docs import CASE_FILE_ID, DOCUMENT_ID, Param, api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.realtime.keys import SIO
from signalling.rooms.room import sio_room
from signalling.uploads.filing import FileUploads, claimed, is_json

routes = web.RouteTableDef()

MB = 1024 * 1024
SNIFF_BYTES = 8192


class NewDocument(RequestBody):
    consultation_id: str | None = Field(None, max_length=36)
    body: EntryBody


class Revision(RequestBody):
    base_version: int = Field(ge=1, le=1_000_000)
    body: EntryBody


async def _case_file(request: web.Request, user: User) -> CaseFile:
    async with platform_of(request).db() as db:
        return await accessible(db, user, request.match_info["cf"])


async def announce(request: web.Request, case_file: CaseFile, what: dict[str, Any]) -> None:
    async with platform_of(request).db() as db:
        rooms = await db.scalars(
            select(Consultation.room).where(
                Consultation.patient_id == case_file.patient_id,
                Consultation.facility_id == case_file.facility_id,
                Consultation.status == ConsultStatus.LIVE,
            )
        )
        for room in rooms:
            await request.app[SIO].emit(
                "casefile.updated", {"case_file_id": case_file.id, **what}, room=sio_room(room)
            )


async def _audit(
    request: web.Request, actor: Actor, action: str, case_file: CaseFile, **detail: Any
) -> None:
    await platform_of(request).audit.record(
        actor,
        action,
        object_type="case_file",
        object_id=case_file.id,
        detail={"patient_id": case_file.patient_id, **detail},
    )


@routes.get("/api/consultations/{id}/case-file")
@api_doc(
    "The patient's case file for this consultation (made on first use)",
    "case files",
    errors=(400, 401, 403, 404),
)
@audited("casefile.read", "consultation")
async def consultation_case_file(request: web.Request) -> web.Response:
    user = require_user(request)
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        if c is None:
            raise NotFound("no such consultation")
        part = await db.get(Participant, (c.id, user.id))
        if part is None and (user.role is Role.ADMIN or user.facility_id != c.facility_id):
            raise Forbidden("you take no part in this consultation")
        if c.patient_id is None:
            # A training, say: no patient, so no case file; an answer, not an error.
            return web.json_response(
                {"id": None, "patient": None, "documents": [], "attachments": []}
            )
        case_file = await case_file_for(db, c)
        body = await overview(db, case_file)
    await _audit(request, actor_of(user, request), "casefile.read", case_file)
    return web.json_response(body)


@routes.get("/api/case-files/{cf}")
@api_doc("A case file: latest documents, attachments", "case files", errors=(401, 403, 404))
@audited("casefile.read", "case_file", "cf")
async def read_case_file(request: web.Request) -> web.Response:
    user = require_user(request)
    case_file = await _case_file(request, user)
    async with platform_of(request).db() as db:
        body = await overview(db, case_file)
    await _audit(request, actor_of(user, request), "casefile.read", case_file)
    return web.json_response(body)


@routes.post("/api/case-files/{cf}/documents")
@api_doc(
    "Add a document (note, history, findings, vitals, conclusion)",
    "case files",
    ok=201,
    body=NewDocument,
    errors=(400, 401, 403, 404, 415),
)
@audited("casefile.write", "case_file", "cf")
async def new_document(request: web.Request) -> web.Response:
    user = require_user(request)
    payload = await parse_json(request, NewDocument)
    case_file = await _case_file(request, user)
    async with platform_of(request).db() as db:
        if payload.consultation_id is not None:
            c = await db.get(Consultation, payload.consultation_id)
            if c is None or c.patient_id != case_file.patient_id:
                raise NotFound("no such consultation for this patient")
        entry = await add_document(db, case_file, user, payload.body, payload.consultation_id)
        body = await entry_json(db, entry)
    await _audit(
        request,
        actor_of(user, request),
        "casefile.write",
        case_file,
        document=entry.document,
        version=1,
    )
    await announce(request, case_file, {"document": entry.document, "version": 1})
    return web.json_response(body, status=201)


@routes.put("/api/case-files/{cf}/documents/{doc}")
@api_doc(
    "A new version of a document; 409 if it changed since base_version",
    "case files",
    body=Revision,
    errors=(400, 401, 403, 404, 409, 415),
)
@audited("casefile.write", "case_file", "cf")
async def revise_document(request: web.Request) -> web.Response:
    user = require_user(request)
    payload = await parse_json(request, Revision)
    case_file = await _case_file(request, user)
    async with platform_of(request).db() as db:
        entry = await revise(
            db, case_file, user, request.match_info["doc"], payload.base_version, payload.body
        )
        body = await entry_json(db, entry)
    await _audit(
        request,
        actor_of(user, request),
        "casefile.write",
        case_file,
        document=entry.document,
        version=entry.version,
    )
    await announce(request, case_file, {"document": entry.document, "version": entry.version})
    return web.json_response(body)


@routes.get("/api/case-files/{cf}/documents/{doc}/versions")
@api_doc(
    "Every version of a document, with authors and signatures", "case files", errors=(401, 403, 404)
)
@audited("casefile.read", "case_file", "cf")
async def versions(request: web.Request) -> web.Response:
    """Every version of a document, oldest first, each with its author and signatures."""
    user = require_user(request)
    case_file = await _case_file(request, user)
    async with platform_of(request).db() as db:
        rows = list(
            await db.scalars(
                select(CaseEntry)
                .where(
                    CaseEntry.case_file_id == case_file.id,
                    CaseEntry.document == request.match_info["doc"],
                )
                .order_by(CaseEntry.version)
            )
        )
        if not rows:
            raise NotFound("no such document")
        body = [await entry_json(db, e) for e in rows]
    await _audit(
        request,
        actor_of(user, request),
        "casefile.read",
        case_file,
        document=request.match_info["doc"],
    )
    return web.json_response({"versions": body})


@routes.post("/api/case-files/{cf}/documents/{doc}/versions/{version:\\d{1,7}}/signatures")
@api_doc(
    "Sign a version of a conclusion (freezes it)",
    "case files",
    ok=201,
    params=(
        CASE_FILE_ID,
        DOCUMENT_ID,
        Param(
            "version",
            "path",
            {"type": "integer", "minimum": 0, "maximum": 9_999_999},
            required=True,
        ),
    ),
    errors=(400, 401, 403, 404, 409),
)
@audited("casefile.sign", "case_file", "cf")
async def sign_version(request: web.Request) -> web.Response:
    user = require_user(request)
    case_file = await _case_file(request, user)
    document, version = request.match_info["doc"], int(request.match_info["version"])
    async with platform_of(request).db() as db:
        await sign(db, case_file, user, document, version)
    await _audit(
        request,
        actor_of(user, request),
        "casefile.sign",
        case_file,
        document=document,
        version=version,
    )
    await announce(request, case_file, {"document": document, "version": version, "signed": True})
    return web.json_response({"ok": True}, status=201)


async def _chunks(head: bytes, part: BodyPartReader) -> AsyncIterator[bytes]:
    if head:
        yield head
    while chunk := await part.read_chunk(256 * 1024):
        yield chunk


async def _attached_to(request: web.Request, user: User, case_file: CaseFile) -> str | None:
    """The consultation named by ``?consultation=``, checked before any byte is stored:
    one of this case file's (its patient, its facility) that the uploader may see."""
    consultation_id = request.query.get("consultation") or None
    if consultation_id is None:
        return None
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, consultation_id[:36])
        visible = c is not None and (
            user.facility_id == c.facility_id
            or await db.get(Participant, (c.id, user.id)) is not None
        )
    if (
        c is None
        or not visible
        or (c.patient_id, c.facility_id) != (case_file.patient_id, case_file.facility_id)
    ):
        raise NotFound("consultation: no such consultation of this case file's patient")
    return c.id


@routes.post("/api/case-files/{cf}/attachments")
@api_doc(
    'Attach files, or name completed uploads in JSON ({"uploads": [...]}); '
    "checked by content, size-limited while streaming",
    "case files",
    ok=201,
    upload=True,
    errors=(400, 401, 403, 404),
)
@audited("casefile.attach", "case_file", "cf")
async def upload(request: web.Request) -> web.Response:
    """Files are checked by content and streamed to the blob store within the limits."""
    user = require_user(request)
    case_file = await _case_file(request, user)
    platform = platform_of(request)
    if not request.content_type.startswith("multipart/form-data") and not is_json(request):
        raise PlatformError("send the files as multipart/form-data")
    async with platform.db() as db:
        used = (
            await db.scalar(
                select(func.coalesce(func.sum(CaseAttachment.size), 0)).where(
                    CaseAttachment.case_file_id == case_file.id
                )
            )
            or 0
        )
    consultation_id = await _attached_to(request, user, case_file)
    results: list[dict[str, Any]] = []
    if is_json(request):
        body = await parse_json(request, FileUploads)
        async with claimed(request, user.id, body.uploads) as named:
            for upload in named.uploads:
                head = await asyncio.to_thread(_head_of, upload.path)
                result, used = await _attach_one(
                    request, user, case_file, consultation_id, used,
                    safe_filename(upload.filename), head, _file_chunks(upload.path),
                )  # fmt: skip
                results.append({**result, "upload": upload.id})
                named.done(upload.id)  # accepted or refused, nothing would change the verdict
        return await _attached(request, user, case_file, results)
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise PlatformError("nested multipart bodies are not accepted")
        name = safe_filename(part.filename or part.name or "")
        head = b""
        while len(head) < SNIFF_BYTES and (chunk := await part.read_chunk(SNIFF_BYTES)):
            head += chunk
        result, used = await _attach_one(
            request, user, case_file, consultation_id, used, name, head, _chunks(head, part)
        )
        if result["status"] == "refused":
            while await part.read_chunk(256 * 1024):  # the rest of this file is discarded
                pass
        results.append(result)
    return await _attached(request, user, case_file, results)


def _head_of(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(SNIFF_BYTES)


async def _file_chunks(path: Path) -> AsyncIterator[bytes]:
    """A completed upload's bytes, from the start (the sniffed head included)."""
    f = await asyncio.to_thread(path.open, "rb")
    try:
        while chunk := await asyncio.to_thread(f.read, 256 * 1024):
            yield chunk
    finally:
        f.close()


async def _attach_one(
    request: web.Request,
    user: User,
    case_file: CaseFile,
    consultation_id: str | None,
    used: int,
    name: str,
    head: bytes,
    chunks: AsyncIterator[bytes],
) -> tuple[dict[str, Any], int]:
    """One file, checked by content and streamed in within the limits: (verdict, bytes used)."""
    platform = platform_of(request)
    settings = platform.settings
    room = settings.case_file_max_mb * MB - used
    limit = min(settings.max_upload_mb * MB, room)
    try:
        media_type = sniff(head)
        check_name_matches(name, media_type)
        if limit <= 0:
            raise BlobTooLarge(0)
        ref = await platform.blobs.put_stream(chunks, max_size=limit)
    except (RefusedContent, BlobTooLarge) as exc:
        reason = str(exc)
        if isinstance(exc, BlobTooLarge):
            reason = (
                f"larger than {settings.max_upload_mb} MB per file"
                if limit == settings.max_upload_mb * MB
                else f"the case file is full ({settings.case_file_max_mb} MB)"
            )
        return {"file": name, "status": "refused", "reason": reason}, used
    attachment = CaseAttachment(
        id=str(uuid.uuid4()),
        case_file_id=case_file.id,
        sha256=ref.sha256,
        size=ref.size,
        media_type=media_type,
        filename=name,
        uploaded_by_id=user.id,
        consultation_id=consultation_id if consultation_id else None,
    )
    async with platform.db() as db:
        db.add(attachment)
        await db.commit()
    return {"file": name, "status": "accepted", **attachment_json(attachment)}, used + ref.size


async def _attached(
    request: web.Request, user: User, case_file: CaseFile, results: list[dict[str, Any]]
) -> web.Response:
    actor = actor_of(user, request)
    await _audit(
        request,
        actor,
        "casefile.attach",
        case_file,
        files=[{"file": r["file"], "status": r["status"]} for r in results],
    )
    if any(r["status"] == "accepted" for r in results):
        await announce(request, case_file, {"attachments": True})
    return web.json_response({"results": results}, status=201 if results else 400)


@routes.get("/api/case-files/{cf}/attachments/{aid}")
@api_doc(
    "Download an attachment",
    "case files",
    errors=(401, 403, 404),
    media_type="application/octet-stream",
    other_media_types=tuple(ALLOWED),
)
@audited("casefile.download", "case_file", "cf")
async def download(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    case_file = await _case_file(request, user)
    platform = platform_of(request)
    async with platform.db() as db:
        attachment = await db.get(CaseAttachment, request.match_info["aid"])
    if attachment is None or attachment.case_file_id != case_file.id:
        raise NotFound("no such attachment")
    await _audit(
        request, actor_of(user, request), "casefile.download", case_file, attachment=attachment.id
    )
    response = web.FileResponse(platform.blobs.open(attachment.sha256))
    response.content_type = attachment.media_type
    # The stored name is a label; quoting it keeps it a label in the header too.
    response.headers["Content-Disposition"] = (
        f"attachment; filename*=UTF-8''{quote(attachment.filename)}"
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


async def _consultation_for_export(request: web.Request, user: User) -> Consultation:
    async with platform_of(request).db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        part = await db.get(Participant, (c.id, user.id)) if c else None
    if c is None:
        raise NotFound("no such consultation")
    if part is None and (user.role is Role.ADMIN or user.facility_id != c.facility_id):
        raise Forbidden("you take no part in this consultation")
    return c


async def _exported(request: web.Request, user: User, c: Consultation, form: str) -> None:
    await platform_of(request).audit.record(
        actor_of(user, request),
        "casefile.export",
        object_type="consultation",
        object_id=c.id,
        detail={"format": form},
    )


@routes.get("/api/consultations/{id}/fhir")
@api_doc(
    "The consultation as a FHIR R4B bundle",
    "case files",
    errors=(401, 403, 404),
    media_type="application/fhir+json",
)
@audited("casefile.export", "consultation")
async def fhir_bundle(request: web.Request) -> web.Response:
    """The consultation as a FHIR bundle (Patient, Encounter, documents, imaging, report)."""
    user = require_user(request)
    c = await _consultation_for_export(request, user)
    platform = platform_of(request)
    async with platform.db() as db:
        bundle = await consultation_bundle(db, c, platform.settings.effective_public_url)
    await _exported(request, user, c, "fhir")
    return web.json_response(bundle, content_type="application/fhir+json")


@routes.get("/api/consultations/{id}/summary.html")
@api_doc(
    "A printable summary of the consultation and its conclusion",
    "case files",
    errors=(401, 403, 404),
    media_type="text/html",
)
@audited("casefile.export", "consultation")
async def printable_summary(request: web.Request) -> web.Response:
    user = require_user(request)
    c = await _consultation_for_export(request, user)
    platform = platform_of(request)
    async with platform.db() as db:
        facility = await db.get(Facility, c.facility_id)
        case = await overview(db, await case_file_for(db, c)) if c.patient_id else None
    await _exported(request, user, c, "html")
    html = summary_html(c, case, facility.name if facility else "")
    return web.Response(
        text=html, content_type="text/html", headers={"Cache-Control": "private, no-store"}
    )
