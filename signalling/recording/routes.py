"""Recordings over HTTP: list, play or download (audited), and retention.

Who may: the consultation's clinicians (the record grant is theirs), and
staff of the treating facility. Patients and invited colleagues may not.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from signalling.audit import Outcome
from signalling.db.models import Consultation, Participant, Role, User
from signalling.db.recording_models import Recording, RecordingFile
from signalling.errors import Forbidden, NotFound
from signalling.http.api_docs import Param, api_doc
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.recording.keys import RECORDINGS
from signalling.recording.retention import purge_expired

routes = web.RouteTableDef()


async def _allowed(request: web.Request, user: User, c: Consultation) -> None:
    async with platform_of(request).db() as db:
        part = await db.get(Participant, (c.id, user.id))
    clinician = part is not None and part.part in ("requester", "consultant")
    same_facility = user.role is not Role.ADMIN and user.facility_id == c.facility_id
    if not (clinician or same_facility):
        await platform_of(request).audit.record(
            actor_of(user, request),
            "recording.read",
            outcome=Outcome.DENIED,
            object_type="consultation",
            object_id=c.id,
        )
        raise Forbidden("only the consultation's clinicians and its facility see recordings")


@routes.get("/api/consultations/{id}/recordings")
@api_doc(
    "The consultation's recordings and their files (clinicians, treating facility)",
    "recordings",
    errors=(401, 403, 404),
)
async def list_recordings(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    async with platform.db() as db:
        c = await db.get(Consultation, request.match_info["id"])
        if c is None:
            raise NotFound("no such consultation")
        await _allowed(request, user, c)
        recordings = list(
            await db.scalars(
                select(Recording)
                .where(Recording.consultation_id == c.id)
                .order_by(Recording.created_at)
            )
        )
        body: list[dict[str, Any]] = []
        for r in recordings:
            files = await db.scalars(
                select(RecordingFile)
                .where(RecordingFile.recording_id == r.id)
                .order_by(RecordingFile.id)
            )
            body.append(
                {
                    "id": r.id,
                    "status": r.status,
                    "composite_progress": request.app[RECORDINGS].composite_progress(r.id),
                    "started_at": r.started_at.isoformat() if r.started_at else None,
                    "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                    "files": [
                        {
                            "id": f.id,
                            "participant_id": f.participant_id,
                            "kind": f.kind,
                            "sha256": f.sha256,
                            "duration_s": f.duration_s,
                            "size": f.size,
                        }
                        for f in files
                    ],
                }
            )
    await platform.audit.record(
        actor_of(user, request), "recording.read", object_type="consultation", object_id=c.id
    )
    return web.json_response({"recordings": body})


@routes.get("/api/recordings/files/{fid:\\d{1,12}}")
@api_doc(
    "A recorded track (WebM), to play or save; audited",
    "recordings",
    params=(
        Param(
            "fid",
            "path",
            {"type": "integer", "minimum": 0, "maximum": 999_999_999_999},
            required=True,
        ),
    ),
    errors=(401, 403, 404),
    media_type="video/webm",
    other_media_types=("audio/webm",),
)
async def recording_file(request: web.Request) -> web.StreamResponse:
    """A track file, for the browser to play (ranges) or save."""
    user = require_user(request)
    platform = platform_of(request)
    async with platform.db() as db:
        f = await db.get(RecordingFile, int(request.match_info["fid"]))
        recording = await db.get(Recording, f.recording_id) if f else None
        c = (
            await db.get(Consultation, recording.consultation_id)
            if (recording and recording.consultation_id)
            else None
        )
    if f is None or c is None:
        raise NotFound("no such recording file")
    await _allowed(request, user, c)
    path = platform.settings.recordings_dir / f.path
    if not path.is_file():
        raise NotFound("the file is no longer kept (retention)")
    await platform.audit.record(
        actor_of(user, request),
        "recording.download",
        object_type="consultation",
        object_id=c.id,
        detail={"file": f.id, "sha256": f.sha256},
    )
    response = web.FileResponse(path)
    response.content_type = "audio/webm" if f.kind == "audio" else "video/webm"
    response.headers["Cache-Control"] = "private, no-store"
    return response


@routes.post("/api/admin/recordings/purge")
@api_doc("Delete recordings older than the retention setting", "admin", errors=(401, 403))
async def purge(request: web.Request) -> web.Response:
    user = require_user(request)
    if user.role is not Role.ADMIN:
        raise Forbidden("only administrators apply the retention")
    removed = await purge_expired(platform_of(request), actor_of(user, request))
    return web.json_response({"removed": removed})
