"""What a clinician shares with the patient, and the patient's own view of it.

Sharing is per document and per attachment, and a document is shared as a
version: a later edit is not shown to the patient until a clinician shares
it again. The patient reads with the room session token their link was
exchanged for (no account); every read is audited under that identity.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import func, select, update

from signalling.audit import Actor
from signalling.auth.tokens import Audience, InvalidToken, TokenClaims
from signalling.casefile.content_types import ALLOWED
from signalling.casefile.documents import (
    accessible,
    attachment_json,
    case_file_for,
    entry_json,
    latest,
)
from signalling.casefile.routes import announce
from signalling.db.case_file_models import CaseAttachment, CaseEntry, CaseFile
from signalling.db.models import Consultation
from signalling.errors import NotFound, Unauthorized
from signalling.http.api_docs import api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of

routes = web.RouteTableDef()
PATIENT_PREFIX = "/api/patient/"


class Shared(RequestBody):
    shared: bool


@routes.put("/api/case-files/{cf}/documents/{doc}/shared")
@api_doc(
    "Share (or stop sharing) a document's latest version with the patient",
    "case files",
    body=Shared,
    errors=(400, 401, 403, 404, 415),
)
@audited("casefile.share", "case_file", "cf")
async def share_document(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Shared)
    platform = platform_of(request)
    async with platform.db() as db:
        case_file = await accessible(db, user, request.match_info["cf"])
        current = await latest(db, case_file, request.match_info["doc"])
        await db.execute(
            update(CaseEntry)
            .where(CaseEntry.document == current.document)
            .values(shared_with_patient=False)
        )
        if body.shared:
            await db.execute(
                update(CaseEntry).where(CaseEntry.id == current.id).values(shared_with_patient=True)
            )
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "casefile.share",
        object_type="case_file",
        object_id=case_file.id,
        detail={"document": current.document, "version": current.version, "shared": body.shared},
    )
    await announce(request, case_file, {"shared": True})
    return web.json_response(
        {"document": current.document, "version": current.version, "shared": body.shared}
    )


@routes.put("/api/case-files/{cf}/attachments/{aid}/shared")
@api_doc(
    "Share (or stop sharing) an attachment with the patient",
    "case files",
    body=Shared,
    errors=(400, 401, 403, 404, 415),
)
@audited("casefile.share", "case_file", "cf")
async def share_attachment(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, Shared)
    platform = platform_of(request)
    async with platform.db() as db:
        case_file = await accessible(db, user, request.match_info["cf"])
        attachment = await db.get(CaseAttachment, request.match_info["aid"])
        if attachment is None or attachment.case_file_id != case_file.id:
            raise NotFound("no such attachment")
        attachment.shared_with_patient = body.shared
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "casefile.share",
        object_type="case_file",
        object_id=case_file.id,
        detail={"attachment": attachment.id, "shared": body.shared},
    )
    await announce(request, case_file, {"shared": True})
    return web.json_response({"attachment": attachment.id, "shared": body.shared})


async def _patient(request: web.Request) -> tuple[TokenClaims, CaseFile | None]:
    """The patient behind a room session token, and their case file for that room
    (None for a consultation asked without a registered patient: nothing shared)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("use Authorization: Bearer <the room session token>")
    platform = platform_of(request)
    try:
        claims = platform.signer.verify(token.strip(), audience=Audience.ROOM)
    except InvalidToken as exc:
        raise Unauthorized(str(exc)) from None
    if not claims.subject.startswith("patient:") or claims.invite is not None:
        # A staff token, or the link itself (which is for joining, once).
        raise Unauthorized("this is not a patient's session token")
    async with platform.db() as db:
        c = await db.scalar(select(Consultation).where(Consultation.room == claims.room))
        if c is None:
            raise NotFound("no consultation for this session")
        if c.patient_id is None:
            return claims, None
        return claims, await case_file_for(db, c)


@routes.get(PATIENT_PREFIX + "case-file")
@api_doc(
    "The patient's view: what clinicians shared (bearer: the room session token)",
    "patients",
    errors=(401, 404),
)
async def patient_view(request: web.Request) -> web.Response:
    claims, case_file = await _patient(request)
    platform = platform_of(request)
    if case_file is None:
        # no patient record behind the consultation: nothing was shared, say so
        await platform.audit.record(
            Actor(claims.subject, "patient", request.remote or ""),
            "casefile.read",
            object_type="room",
            object_id=claims.room or "",
            detail={"shared_view": True, "case_file": None},
        )
        return web.json_response({"documents": [], "attachments": []})
    async with platform.db() as db:
        newest_shared = (
            select(func.max(CaseEntry.id))
            .where(CaseEntry.case_file_id == case_file.id, CaseEntry.shared_with_patient)
            .group_by(CaseEntry.document)
        )
        entries = await db.scalars(
            select(CaseEntry).where(CaseEntry.id.in_(newest_shared)).order_by(CaseEntry.id)
        )
        documents: list[dict[str, Any]] = [await entry_json(db, e) for e in entries]
        attachments = [
            attachment_json(a)
            for a in await db.scalars(
                select(CaseAttachment).where(
                    CaseAttachment.case_file_id == case_file.id,
                    CaseAttachment.shared_with_patient,
                )
            )
        ]
    await platform.audit.record(
        Actor(claims.subject, "patient", request.remote or ""),
        "casefile.read",
        object_type="case_file",
        object_id=case_file.id,
        detail={"shared_view": True},
    )
    return web.json_response({"documents": documents, "attachments": attachments})


@routes.get(PATIENT_PREFIX + "case-file/attachments/{aid}")
@api_doc(
    "A shared attachment, for the patient (bearer: the room session token)",
    "patients",
    errors=(401, 404),
    media_type="application/octet-stream",
    other_media_types=tuple(ALLOWED),
)
async def patient_download(request: web.Request) -> web.StreamResponse:
    claims, case_file = await _patient(request)
    platform = platform_of(request)
    async with platform.db() as db:
        attachment = await db.get(CaseAttachment, request.match_info["aid"])
    if (
        case_file is None
        or attachment is None
        or attachment.case_file_id != case_file.id
        or not attachment.shared_with_patient
    ):
        raise NotFound("no such attachment")
    await platform.audit.record(
        Actor(claims.subject, "patient", request.remote or ""),
        "casefile.download",
        object_type="case_file",
        object_id=case_file.id,
        detail={"attachment": attachment.id},
    )
    response = web.FileResponse(platform.blobs.open(attachment.sha256))
    response.content_type = attachment.media_type
    response.headers["Cache-Control"] = "private, no-store"
    return response
