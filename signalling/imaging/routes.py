"""REST for the web client's viewer: upload into a consultation, series in
anatomical order, rendered slices, thumbnails, pixel values, cine frames
as stored, ECG as data. Access: see ``signalling.imaging.access``."""

from __future__ import annotations

import asyncio
import io
import zipfile
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import BodyPartReader, web

from dicom_viewer.cine import NotJpegBaseline
from dicom_viewer.deidentify import Deidentifier
from dicom_viewer.index import ImagingIndex, SeriesRecord, StudyRecord
from dicom_viewer.instance import InstanceInfo
from dicom_viewer.lut import Window
from dicom_viewer.presets import UnknownPreset
from dicom_viewer.render import ImageFormat, WindowChoice
from dicom_viewer.service import rendition_key
from dicom_viewer.validate import Refused
from signalling.audit import Outcome
from signalling.db.models import Consultation, Patient, User
from signalling.errors import NotFound, PlatformError
from signalling.http.api_docs import FRAME, UID, WINDOW_PARAMS, Param, api_doc
from signalling.http.audited import audited
from signalling.http.errors import parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.imaging.access import Claimant, consultation_for, instance_for, series_for
from signalling.imaging.catalog import consultation_studies, info_of, load_index
from signalling.imaging.desk import MB, Declined, FileResult, Held, Imaging
from signalling.imaging.identity import case_patient_json
from signalling.imaging.keys import IMAGING
from signalling.imaging.spool import spooled
from signalling.uploads.filing import FileUploads, claimed, is_json

routes = web.RouteTableDef()
# Renditions never change (content-addressed blob, versioned renderer).
IMMUTABLE = "private, max-age=31536000, immutable"
MAX_FILES = 2000
T = TypeVar("T")


class BadRequest(PlatformError):
    status = 400


class Unsupported(PlatformError):
    status = 415


class Interrupted(PlatformError):
    """The client went away mid-body (nobody reads the answer; no error log)."""

    status = 400


def imaging_of(request: web.Request) -> Imaging:
    return request.app[IMAGING]


async def in_thread(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Decode/render off the event loop; the library's errors become 404/400."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except (IndexError, UnknownPreset, ValueError, NotJpegBaseline) as exc:
        raise BadRequest(str(exc).strip("'\"")) from None


# Upload -------------------------------------------------------------------


CONFIRM_FIELD = "confirm_patient"


@routes.post("/api/consultations/{id}/imaging")
@api_doc(
    "Upload DICOM files into the case file, or name completed uploads in JSON "
    '({"uploads": [...], "confirm_patient": false}); a verdict per file (audited)',
    "imaging",
    upload=True,
    errors=(400, 401, 404, 409, 415),
)
@audited("imaging.upload", "consultation")
async def upload(request: web.Request) -> web.Response:
    """Several DICOM files in one multipart/form-data body; each gets its own
    verdict and a refused file does not stop the rest. A form field
    ``confirm_patient=yes`` before the files files those of another patient
    identity (``held`` otherwise) as the uploader's confirmed decision."""
    user = require_user(request)
    platform = platform_of(request)
    imaging = imaging_of(request)
    actor = actor_of(user, request)
    async with platform.db() as db:
        c = await consultation_for(db, user, request.match_info["id"], to_add=True)
    if is_json(request):
        return await _upload_named(request, user, c, await parse_json(request, FileUploads))
    if request.content_type != "multipart/form-data":
        raise Unsupported("send the files as multipart/form-data")
    try:
        reader = await request.multipart()
    except (AssertionError, ValueError):
        raise BadRequest("the multipart body has no boundary") from None
    cap = platform.settings.max_upload_mb * MB
    claimant = Claimant(user, c)
    confirm = False
    results: list[dict[str, Any]] = []
    try:
        while (part := await reader.next()) is not None:
            if len(results) >= MAX_FILES:
                raise BadRequest(f"at most {MAX_FILES} files per upload")
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not accepted")
            if part.filename is None and part.name == CONFIRM_FIELD:
                confirm = (await part.text()).strip().lower() in {"yes", "true", "1"}
                continue
            name = (part.filename or part.name or "")[:200]
            async with spooled(part, platform.blobs.tmp_dir, cap) as path:
                if path is None:
                    results.append(_refused(name, f"larger than {cap // MB} MB", "too_large"))
                    continue
                result = await imaging.accept(
                    path,
                    claimant=claimant,
                    actor=actor,
                    source_kind="upload",
                    confirm_patient=confirm,
                )
            results.append(_verdict(name, result))
    except ValueError as exc:  # a malformed multipart body
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except ConnectionResetError:
        raise Interrupted("the upload was interrupted; the files before it are kept") from None
    finally:
        # what was kept is audited even when the sender went away mid-batch
        if results:
            await _audit_upload(request, user, c.id, results)
    if not results:
        raise BadRequest("send at least one file")
    counts = {status: sum(r["status"] == status for r in results) for status in VERDICTS}
    return web.json_response({"results": results, **counts})


VERDICTS = ("accepted", "refused", "held")


async def _upload_named(
    request: web.Request, user: User, c: Consultation, body: FileUploads
) -> web.Response:
    """Completed tus uploads of the caller, filed as multipart files are; an accepted or
    refused one is removed, a held one kept for the uploader to confirm."""
    imaging = imaging_of(request)
    claimant = Claimant(user, c)
    actor = actor_of(user, request)
    results: list[dict[str, Any]] = []
    try:
        async with claimed(request, user.id, body.uploads) as named:
            for upload in named.uploads:
                result = await imaging.accept(
                    upload.path,
                    claimant=claimant,
                    actor=actor,
                    source_kind="upload",
                    confirm_patient=body.confirm_patient,
                )
                verdict = {**_verdict(upload.filename, result), "upload": upload.id}
                results.append(verdict)
                if verdict["status"] != "held":
                    named.done(upload.id)
    finally:
        if results:
            await _audit_upload(request, user, c.id, results)
    counts = {status: sum(r["status"] == status for r in results) for status in VERDICTS}
    return web.json_response({"results": results, **counts})


def _refused(name: str, reason: str, code: str = "invalid") -> dict[str, Any]:
    return {"file": name, "status": "refused", "code": code, "reason": reason}


def _verdict(name: str, result: FileResult) -> dict[str, Any]:
    if isinstance(result, Refused):
        return _refused(name, result.reason)
    if isinstance(result, Declined):
        return {**_refused(name, result.reason, result.code), **_uids(result.info)}
    if isinstance(result, Held):
        return {"file": name, "status": "held", **result.mismatch.as_json(), **_uids(result.info)}
    info = result.info
    return {
        "file": name,
        "status": "accepted",
        **_uids(info),
        "kind": info.kind.value,
        "modality": info.modality,
    }


def _uids(info: InstanceInfo) -> dict[str, str]:
    return {
        "study_uid": info.study_instance_uid,
        "series_uid": info.series_instance_uid,
        "sop_uid": info.sop_instance_uid,
    }


async def _audit_upload(
    request: web.Request, user: User, consultation_id: str, results: list[dict[str, Any]]
) -> None:
    audit = platform_of(request).audit
    actor = actor_of(user, request)
    by_study: dict[str, int] = {}
    for r in results:
        if r["status"] == "accepted":
            by_study[r["study_uid"]] = by_study.get(r["study_uid"], 0) + 1
    for study_uid, count in sorted(by_study.items()):
        await audit.record(
            actor,
            "imaging.upload",
            object_type="study",
            object_id=study_uid,
            detail={"consultation": consultation_id, "instances": count},
        )
    refused = [r for r in results if r["status"] != "accepted"]
    if refused:
        await audit.record(
            actor,
            "imaging.upload",
            outcome=Outcome.DENIED,
            object_type="consultation",
            object_id=consultation_id,
            detail={
                "refused": [
                    {"file": r["file"], "code": r["code"], "reason": r["reason"]} for r in refused
                ]
            },
        )


# Listings -----------------------------------------------------------------------


def _instance_json(info: InstanceInfo) -> dict[str, Any]:
    return {
        "sop_uid": info.sop_instance_uid,
        "kind": info.kind.value,
        "sop_class": info.sop_class_name,
        "number": info.instance_number,
        "frames": info.frames,
        "rows": info.rows,
        "columns": info.columns,
        "position": info.image_position,
        "pixel_spacing": info.pixel_spacing,
        "frame_rate": info.frame_rate,
        "jpeg_frames": info.is_jpeg_baseline,
    }


def _series_json(series: SeriesRecord) -> dict[str, Any]:
    return {
        "series_uid": series.series_instance_uid,
        "modality": series.modality,
        "number": series.series_number,
        "description": series.description,
        "thumbnail": f"/api/imaging/series/{series.series_instance_uid}/thumbnail",
        # anatomical order (ImagePositionPatient along the normal, else InstanceNumber)
        "instances": [_instance_json(r.info) for r in series.ordered()],
    }


def _study_json(study: StudyRecord) -> dict[str, Any]:
    return {
        "study_uid": study.study_instance_uid,
        "patient_name": study.patient_name,
        "patient_id": study.patient_id,
        "patient_sex": study.patient_sex,
        "patient_birth_date": study.patient_birth_date,
        "patient_age": study.patient_age,
        "institution": study.institution_name,
        "study_date": study.study_date,
        "study_time": study.study_time,
        "accession_number": study.accession_number,
        "description": study.description,
        "series": [
            _series_json(s)
            for s in sorted(
                study.series.values(),
                key=lambda s: (s.series_number or 0, s.series_instance_uid),
            )
        ],
    }


@routes.get("/api/consultations/{id}/imaging")
@api_doc(
    "The case file's studies, series and instances in viewing order (audited)",
    "imaging",
    errors=(401, 404),
)
@audited("imaging.read", "consultation")
async def consultation_imaging(request: web.Request) -> web.Response:
    """The consultation's studies, series and instances in viewing order."""
    user = require_user(request)
    platform = platform_of(request)
    async with platform.db() as db:
        c = await consultation_for(db, user, request.match_info["id"])
        index = await load_index(db, await consultation_studies(db, c.id))
        patient = await db.get(Patient, c.patient_id) if c.patient_id is not None else None
    actor = actor_of(user, request)
    for uid in index.studies:
        await imaging_of(request).audit_read(actor, "imaging.read", uid, {"consultation": c.id})
    return web.json_response(
        {
            # Beside each study's own identity, so the viewer can show both (and flag a difference).
            "case_patient": case_patient_json(patient) if patient is not None else None,
            "studies": [_study_json(s) for s in sorted(index.studies.values(), key=_study_order)],
        }
    )


def _study_order(study: StudyRecord) -> tuple[str, str]:
    return study.study_date or "", study.study_instance_uid


async def _series_index(request: web.Request, user: User) -> tuple[ImagingIndex, SeriesRecord]:
    uid = request.match_info["uid"]
    async with platform_of(request).db() as db:
        row = await series_for(db, user, uid)
        index = await load_index(db, [row.study_uid])
    series = index.series(uid)
    if series is None:
        raise NotFound("no such series")
    await imaging_of(request).audit_read(actor_of(user, request), "imaging.read", row.study_uid)
    return index, series


@routes.get("/api/imaging/series/{uid}")
@api_doc("A series' instances in anatomical order", "imaging", errors=(401, 404))
@audited("imaging.read", "series", "uid")
async def series_detail(request: web.Request) -> web.Response:
    user = require_user(request)
    _, series = await _series_index(request, user)
    return web.json_response(_series_json(series))


@routes.get("/api/imaging/series/{uid}/thumbnail")
@api_doc("A series' thumbnail (WebP)", "imaging", errors=(401, 404), media_type="image/webp")
@audited("imaging.read", "series", "uid")
async def series_thumbnail(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    _, series = await _series_index(request, user)
    middle = series.representative()
    assert middle is not None  # a series row exists only with an instance
    if middle.info.kind.value == "ecg":
        raise NotFound("an ECG has no thumbnail")
    etag = rendition_key(middle.blob_sha256, -1, "thumbnail", ImageFormat.WEBP, 128)
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    image = await in_thread(imaging_of(request).service.thumbnail, middle.blob_sha256)
    return _image(image.data, image.media_type, etag)


# One instance ---------------------------------------------------------------------


async def _instance(request: web.Request, user: User) -> tuple[str, InstanceInfo, str]:
    """(blob sha, info, study uid) of the addressed instance, audited."""
    async with platform_of(request).db() as db:
        row = await instance_for(db, user, request.match_info["uid"])
    await imaging_of(request).audit_read(actor_of(user, request), "imaging.read", row.study_uid)
    return row.blob_sha256, info_of(row), row.study_uid


@routes.get("/api/imaging/instances/{uid}")
@api_doc(
    "What the viewer needs to show an instance, with its window presets",
    "imaging",
    errors=(401, 404),
)
@audited("imaging.read", "instance", "uid")
async def instance_detail(request: web.Request) -> web.Response:
    """What the viewer needs before showing an instance, with its presets."""
    user = require_user(request)
    sha, info, study_uid = await _instance(request, user)
    presets: list[str] = []
    if info.kind.value != "ecg":
        presets = await in_thread(imaging_of(request).service.presets, sha)
    return web.json_response(
        {
            **_instance_json(info),
            "study_uid": study_uid,
            "series_uid": info.series_instance_uid,
            "modality": info.modality,
            "presets": presets,
            "window_centers": info.window_centers,
            "window_widths": info.window_widths,
        }
    )


def _int_query(request: web.Request, name: str, default: int | None, high: int) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) > high:
        raise BadRequest(f"{name} must be a whole number from 0 to {high}")
    return int(text)


def _float_query(request: web.Request, name: str) -> float | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadRequest(f"{name} must be a number") from None
    if value != value or abs(value) > 1e7:
        raise BadRequest(f"{name} is out of range")
    return value


def window_choice(request: web.Request) -> WindowChoice:
    """An explicit centre/width, a preset name, or the file's own window."""
    center, width = _float_query(request, "center"), _float_query(request, "width")
    preset = request.query.get("preset") or None
    if (center is None) != (width is None):
        raise BadRequest("give center and width together")
    if center is not None and width is not None:
        if preset is not None:
            raise BadRequest("give either a preset or center and width")
        try:
            return Window(center, width)
        except ValueError as exc:
            raise BadRequest(str(exc)) from None
    if preset is not None and len(preset) > 32:
        raise BadRequest("unknown preset")
    return preset


def image_format(request: web.Request) -> ImageFormat:
    try:
        return ImageFormat(request.query.get("format", "png"))
    except ValueError:
        raise BadRequest("format is png or webp") from None


def _not_modified(request: web.Request, etag: str) -> bool:
    return request.headers.get("If-None-Match", "").strip() in (f'"{etag}"', f'W/"{etag}"')


def _not_modified_response(etag: str) -> web.Response:
    return web.Response(status=304, headers={"ETag": f'"{etag}"', "Cache-Control": IMMUTABLE})


def _image(data: bytes, media_type: str, etag: str, **headers: str) -> web.Response:
    return web.Response(
        body=data,
        content_type=media_type,
        headers={"ETag": f'"{etag}"', "Cache-Control": IMMUTABLE, **headers},
    )


@routes.get("/api/imaging/instances/{uid}/rendered")
@api_doc(
    "A frame rendered with a window (PNG or WebP; ETag, long-lived caching)",
    "imaging",
    params=(UID, FRAME, *WINDOW_PARAMS),
    errors=(400, 401, 404),
    media_type="image/png",
    other_media_types=("image/webp",),
)
@audited("imaging.read", "instance", "uid")
async def rendered(request: web.Request) -> web.StreamResponse:
    """One frame as PNG or WebP; the ETag names the exact rendition."""
    user = require_user(request)
    sha, info, _ = await _instance(request, user)
    window = window_choice(request)
    fmt = image_format(request)
    frame = _int_query(request, "frame", 0, 100_000)
    max_size = _int_query(request, "max_size", None, 8192)
    assert frame is not None
    if max_size is not None and max_size < 16:
        raise BadRequest("max_size must be at least 16")
    if info.kind.value == "ecg":
        raise BadRequest("an ECG is data, not an image: use /ecg")
    etag = rendition_key(sha, frame, window, fmt, max_size)
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    image = await in_thread(
        imaging_of(request).service.render, sha, frame, window=window, fmt=fmt, max_size=max_size
    )
    extra = {}
    if image.window is not None:
        extra["X-Window"] = f"{image.window.center:g}/{image.window.width:g}"
    return _image(image.data, image.media_type, etag, **extra)


@routes.get("/api/imaging/instances/{uid}/pixel")
@api_doc(
    "The value under a point (HU for CT)",
    "imaging",
    params=(
        UID,
        Param("row", "query", {"type": "integer", "minimum": 0, "maximum": 65535}, True),
        Param("column", "query", {"type": "integer", "minimum": 0, "maximum": 65535}, True),
        FRAME,
    ),
    errors=(400, 401, 404),
)
@audited("imaging.read", "instance", "uid")
async def pixel(request: web.Request) -> web.Response:
    """The value under a point: stored and after the modality LUT (HU for CT)."""
    user = require_user(request)
    sha, _, _ = await _instance(request, user)
    row = _int_query(request, "row", None, 65535)
    column = _int_query(request, "column", None, 65535)
    frame = _int_query(request, "frame", 0, 100_000)
    if row is None or column is None or frame is None:
        raise BadRequest("give row and column")
    value = await in_thread(imaging_of(request).service.pixel_value, sha, row, column, frame)
    return web.json_response({"stored": value.stored, "value": value.value, "unit": value.unit})


@routes.get("/api/imaging/instances/{uid}/cine/{frame}")
@api_doc(
    "A cine frame as stored (JPEG baseline, not decoded); X-Frame-Rate says the rate",
    "imaging",
    params=(
        UID,
        Param("frame", "path", {"type": "integer", "minimum": 0, "maximum": 99999}, True),
    ),
    errors=(400, 401, 404),
    media_type="image/jpeg",
)
@audited("imaging.read", "instance", "uid")
async def cine_frame(request: web.Request) -> web.StreamResponse:
    """A JPEG-baseline frame exactly as stored: the browser decodes it."""
    user = require_user(request)
    text = request.match_info["frame"]
    if not text.isdigit() or len(text) > 6:
        raise BadRequest("frame must be a whole number")
    sha, info, _ = await _instance(request, user)
    if not info.is_jpeg_baseline:
        raise BadRequest("this object's frames are not JPEG baseline; use /rendered")
    if int(text) >= info.frames:
        raise BadRequest(f"frame {text} is outside 0..{info.frames - 1}")
    etag = rendition_key(sha, int(text), "cine", ImageFormat.PNG)
    if _not_modified(request, etag):
        return _not_modified_response(etag)
    data = await in_thread(imaging_of(request).service.cine_frame, sha, int(text))
    headers = {} if info.frame_rate is None else {"X-Frame-Rate": f"{info.frame_rate:g}"}
    return _image(data, "image/jpeg", etag, **headers)


@routes.get("/api/imaging/instances/{uid}/ecg")
@api_doc(
    "An ECG's leads (µV), sampling rate, measurements and annotations",
    "imaging",
    errors=(400, 401, 404),
)
@audited("imaging.read", "instance", "uid")
async def ecg(request: web.Request) -> web.Response:
    """Leads (µV), sampling rate, measurements and fiducials as JSON."""
    user = require_user(request)
    sha, info, _ = await _instance(request, user)
    if info.kind.value != "ecg":
        raise BadRequest("this object is not a waveform")
    waveform = await in_thread(imaging_of(request).service.ecg, sha)
    return web.json_response(waveform.to_json(), headers={"Cache-Control": IMMUTABLE})


# Sharing outside the care team ------------------------------------------------------


def _deidentified_zip(service_read: Callable[[str], bytes], shas: list[str]) -> tuple[bytes, bool]:
    """A ZIP of the de-identified instances; whether any pixels may identify."""
    deidentifier = Deidentifier()  # one per export: one pseudonym, one date shift
    buffer = io.BytesIO()
    may_identify = False
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for number, sha in enumerate(shas, start=1):
            result = deidentifier.deidentify(service_read(sha))
            may_identify = may_identify or result.pixels_may_identify
            archive.writestr(f"{number:05d}.dcm", result.data)
    return buffer.getvalue(), may_identify


@routes.get("/api/imaging/series/{uid}/deidentified.zip")
@api_doc(
    "A series de-identified for sharing outside the care team (PS3.15; audited)",
    "imaging",
    errors=(401, 404),
    media_type="application/zip",
)
@audited("imaging.export", "series", "uid")
async def deidentified_series(request: web.Request) -> web.Response:
    """A series de-identified (PS3.15 basic profile) for sharing outside the
    care team. Pixels are not altered: X-Pixels-May-Identify says whether
    text may be burned into them (the file did not say it is not)."""
    user = require_user(request)
    _, series = await _series_index(request, user)
    shas = [record.blob_sha256 for record in series.ordered()]
    data, may_identify = await in_thread(
        _deidentified_zip, platform_of(request).blobs.read_bytes, shas
    )
    study_uid = series.ordered()[0].info.study_instance_uid
    await platform_of(request).audit.record(
        actor_of(user, request),
        "imaging.export",
        object_type="study",
        object_id=study_uid,
        detail={
            "series": series.series_instance_uid,
            "instances": len(shas),
            "deidentified": True,
        },
    )
    return web.Response(
        body=data,
        content_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="series-deidentified.zip"',
            "X-Pixels-May-Identify": "true" if may_identify else "false",
            "Cache-Control": "no-store",
        },
    )
