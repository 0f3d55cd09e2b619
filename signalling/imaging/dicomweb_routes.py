"""DICOMweb (PS3.18): STOW-RS, QIDO-RS and WADO-RS over the platform's studies.

Two service roots: ``/dicomweb`` (every study the caller may see; a STOW
there names its consultation with ``?consultation=<id>``) and
``/dicomweb/consultations/<id>`` (one consultation's case file, where a
STOW files into that consultation). Access follows the consultation's
participants and its treating facility; every request is audited with the
Study Instance UIDs it touched. Bearer tokens (`telehealth token issue`)
work, so PACS tools and scripts can use it.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from typing import NotRequired, TypedDict

from aiohttp import BodyPartReader, web
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame

from dicom_viewer import qido
from dicom_viewer.cine import number_of_frames
from dicom_viewer.index import ImagingIndex, InstanceRecord
from dicom_viewer.instance import InstanceInfo
from dicom_viewer.lut import Window
from dicom_viewer.render import ImageFormat, WindowChoice, decode_frame
from dicom_viewer.validate import Refused
from signalling.audit import Actor
from signalling.db.models import User
from signalling.errors import NotFound
from signalling.http.audited import audited
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.imaging.access import Claimant, consultation_for, visible_studies
from signalling.imaging.catalog import load_index
from signalling.imaging.desk import MB, Declined, Filed, Held
from signalling.imaging.routes import BadRequest, Interrupted, Unsupported, imaging_of, in_thread
from signalling.imaging.spool import spooled

DICOM_JSON = "application/dicom+json"
ROOTS = ("/dicomweb", "/dicomweb/consultations/{cid}")
# PS3.18 table 10.5.3-3 failure reasons (values of FailureReason, US)
PROCESSING_FAILURE = 0x0110
CANNOT_UNDERSTAND = 0xC000
UID_MISMATCH = 0xA900
# PS3.7 C.4.2.1.x: an instance already held under this UID; not authorised
DUPLICATE_SOP = 0x0111
NOT_AUTHORIZED = 0x0124
FAILURE_OF = {
    "duplicate": DUPLICATE_SOP,
    "uid_conflict": NOT_AUTHORIZED,
    "uid_mismatch": UID_MISMATCH,
}


class Attribute(TypedDict):
    """One attribute in the DICOM JSON model (PS3.18 F.2.2); a data set maps tags to these."""

    vr: str
    Value: NotRequired[Sequence[object]]
    InlineBinary: NotRequired[str]
    BulkDataURI: NotRequired[str]


DicomJson = dict[str, Attribute]
_BULK_VRS = {"OB", "OW", "OF", "OD", "OL", "OV", "UN"}
_COMPRESSED_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg",
    "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg",
    "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls",
    "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2",
    "1.2.840.10008.1.2.4.91": "image/jp2",
}


def _scope(request: web.Request) -> str | None:
    return request.match_info.get("cid")


def _base_url(request: web.Request) -> str:
    cid = _scope(request)
    root = "/dicomweb" if cid is None else f"/dicomweb/consultations/{cid}"
    return f"{request.scheme}://{request.host}{root}"


async def _index(request: web.Request, user: User, study_uid: str | None = None) -> ImagingIndex:
    """The studies of this service root that ``user`` may see (or one of them)."""
    async with platform_of(request).db() as db:
        cid = _scope(request)
        if cid is not None:
            await consultation_for(db, user, cid)
        uids = await visible_studies(db, user, cid)
        if study_uid is not None:
            if study_uid not in uids:
                raise NotFound("no such study")
            uids = {study_uid}
        return await load_index(db, uids)


def _dicom_json(body: object, status: int = 200) -> web.Response:
    # no charset parameter: clients (dicomweb-client) compare the media type exactly
    return web.Response(body=json.dumps(body).encode(), status=status, content_type=DICOM_JSON)


async def _audit(request: web.Request, user: User, action: str, study_uids: Iterable[str]) -> None:
    actor: Actor = actor_of(user, request)
    for uid in sorted(set(study_uids)):
        await platform_of(request).audit.record(
            actor,
            action,
            object_type="study",
            object_id=uid,
            detail={"path": request.path[:200], "consultation": _scope(request)},
        )


# STOW-RS ----------------------------------------------------------------------------


def _element(vr: str, value: str | int) -> Attribute:
    return {"vr": vr, "Value": [value]}


async def stow(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    imaging = imaging_of(request)
    actor = actor_of(user, request)
    cid = _scope(request) or request.query.get("consultation")
    if not cid:
        raise BadRequest(
            "name the consultation: POST /dicomweb/studies?consultation=<id> "
            "or POST /dicomweb/consultations/<id>/studies"
        )
    async with platform.db() as db:
        c = await consultation_for(db, user, cid[:64], to_add=True)
    content_type = request.headers.get("Content-Type", "").lower()
    if request.content_type != "multipart/related" or "application/dicom" not in content_type:
        raise Unsupported('send multipart/related; type="application/dicom"')
    # PS3.18 leaves confirmation to the origin server: a sender that knows it
    # files another patient's identity says so explicitly
    confirm = request.query.get("confirm_patient", "").lower() in {"yes", "true", "1"}
    wanted_study = request.match_info.get("study")
    cap = platform.settings.max_upload_mb * MB
    claimant = Claimant(user, c)
    stored: list[Filed] = []
    failed: list[DicomJson] = []
    try:
        reader = await request.multipart()
        while (part := await reader.next()) is not None:
            if not isinstance(part, BodyPartReader):
                raise BadRequest("nested multipart bodies are not accepted")
            async with spooled(part, platform.blobs.tmp_dir, cap) as path:
                if path is None:
                    failed.append(_failed(None, PROCESSING_FAILURE, f"larger than {cap // MB} MB"))
                    continue
                checked = await imaging.validate(path)
            if isinstance(checked, Refused):
                failed.append(_failed(None, CANNOT_UNDERSTAND, checked.reason))
                continue
            if wanted_study and checked.info.study_instance_uid != wanted_study:
                # refused before anything is kept
                failed.append(_failed(checked.info, UID_MISMATCH, "not of the study in the URL"))
                continue
            # filed into the case file at once: viewers see a slice as soon as it is kept
            result = await imaging.file(
                checked, claimant=claimant, actor=actor, source_kind="stow", confirm_patient=confirm
            )
            del checked  # the part's bytes and data set go before the next part arrives
            if isinstance(result, Filed):
                stored.append(result)
            elif isinstance(result, Held):
                failed.append(
                    _failed(result.info, CANNOT_UNDERSTAND, _held_text(result.mismatch.reason))
                )
            elif isinstance(result, Declined):
                code = FAILURE_OF.get(result.code, PROCESSING_FAILURE)
                failed.append(_failed(result.info, code, result.reason))
            else:
                failed.append(_failed(None, CANNOT_UNDERSTAND, result.reason))
    except (AssertionError, ValueError) as exc:
        raise BadRequest(f"malformed multipart body: {exc}") from None
    except ConnectionResetError:
        raise Interrupted("the upload was interrupted; the instances before it are kept") from None
    finally:
        # what was stored is audited even when the sender went away
        await _audit(request, user, "imaging.store", (f.info.study_instance_uid for f in stored))
    return _stow_answer(request, stored, failed)


def _held_text(reason: str) -> str:
    return (
        f"patient identity differs from the case file's ({reason}); "
        "send again with ?confirm_patient=yes if this is the patient"
    )


def _failed(info: InstanceInfo | None, reason: int, text: str) -> DicomJson:
    item: DicomJson = {"00081197": _element("US", reason), "0040A160": _element("UT", text)}
    if info is not None:
        item["00081150"] = _element("UI", info.sop_class_uid)
        item["00081155"] = _element("UI", info.sop_instance_uid)
    return item


def _stow_answer(
    request: web.Request, stored: list[Filed], failed: list[DicomJson]
) -> web.Response:
    base = _base_url(request)
    body: DicomJson = {}
    if stored:
        studies = {f.info.study_instance_uid for f in stored}
        if len(studies) == 1:
            body["00081190"] = _element("UR", f"{base}/studies/{next(iter(studies))}")
        body["00081199"] = {
            "vr": "SQ",
            "Value": [
                {
                    "00081150": _element("UI", f.info.sop_class_uid),
                    "00081155": _element("UI", f.info.sop_instance_uid),
                    "00081190": _element(
                        "UR",
                        f"{base}/studies/{f.info.study_instance_uid}/series/"
                        f"{f.info.series_instance_uid}/instances/{f.info.sop_instance_uid}",
                    ),
                }
                for f in stored
            ],
        }
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": failed}
    # PS3.18 10.5.3: all stored 200, some 202, none 409
    status = 200 if not failed else 202 if stored else 409
    if not stored and not failed:
        status = 400
    return _dicom_json(body, status)


# QIDO-RS ----------------------------------------------------------------------------


def _params(request: web.Request) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in request.query.items():
        if key == "includefield":
            continue  # every attribute we have is always included
        params[key] = value if key not in params else f"{params[key]},{value}"
    return params


async def search_studies(request: web.Request) -> web.Response:
    user = require_user(request)
    index = await _index(request, user)
    try:
        found = qido.search_studies(index, _params(request))
    except qido.QueryError as exc:
        raise BadRequest(str(exc)) from None
    await _audit_search(request, user, [s.study_instance_uid for s in found])
    return _dicom_json([qido.study_json(s) for s in found])


async def search_series(request: web.Request) -> web.Response:
    user = require_user(request)
    study_uid = request.match_info.get("study")
    index = await _index(request, user, study_uid)
    try:
        found = qido.search_series(index, _params(request), study_uid)
    except qido.QueryError as exc:
        raise BadRequest(str(exc)) from None
    await _audit_search(request, user, [s.study_instance_uid for s, _ in found])
    return _dicom_json([qido.series_json(study, series) for study, series in found])


async def search_instances(request: web.Request) -> web.Response:
    user = require_user(request)
    study_uid = request.match_info.get("study")
    index = await _index(request, user, study_uid)
    try:
        found = qido.search_instances(
            index, _params(request), study_uid, request.match_info.get("series")
        )
    except qido.QueryError as exc:
        raise BadRequest(str(exc)) from None
    await _audit_search(request, user, [s.study_instance_uid for s, _, _ in found])
    return _dicom_json([qido.instance_json(*item) for item in found])


async def _audit_search(request: web.Request, user: User, study_uids: list[str]) -> None:
    await _audit(request, user, "imaging.search", study_uids)


# WADO-RS ----------------------------------------------------------------------------


async def _records(request: web.Request, user: User) -> tuple[str, list[InstanceRecord]]:
    """The instances the path names (study, series or one instance), ordered."""
    study_uid = request.match_info["study"]
    index = await _index(request, user, study_uid)
    study = index.studies.get(study_uid)
    if study is None:
        raise NotFound("no such study")
    series_uid = request.match_info.get("series")
    series_list = list(study.series.values())
    if series_uid is not None:
        series_list = [s for s in series_list if s.series_instance_uid == series_uid]
    records = [r for s in series_list for r in s.ordered()]
    sop_uid = request.match_info.get("instance")
    if sop_uid is not None:
        records = [r for r in records if r.info.sop_instance_uid == sop_uid]
    if not records:
        raise NotFound("nothing of that name in this study")
    await _audit(request, user, "imaging.retrieve", [study_uid])
    return study_uid, records


async def _multipart(
    request: web.Request, parts: AsyncIterable[tuple[str, bytes]], part_type: str
) -> web.StreamResponse:
    """Parts streamed one by one, so a large study is never held whole."""
    boundary = secrets.token_hex(16)
    response = web.StreamResponse(
        headers={
            "Content-Type": f'multipart/related; type="{part_type}"; boundary={boundary}',
        }
    )
    await response.prepare(request)
    async for media_type, data in parts:
        head = f"--{boundary}\r\nContent-Type: {media_type}\r\n\r\n".encode()
        await response.write(head + data + b"\r\n")
    await response.write(f"--{boundary}--\r\n".encode())
    await response.write_eof()
    return response


async def retrieve(request: web.Request) -> web.StreamResponse:
    """Instances as stored, multipart/related; type="application/dicom"."""
    user = require_user(request)
    _, records = await _records(request, user)
    blobs = platform_of(request).blobs

    async def parts() -> AsyncIterator[tuple[str, bytes]]:
        for record in records:
            yield "application/dicom", await in_thread(blobs.read_bytes, record.blob_sha256)

    return await _multipart(request, parts(), "application/dicom")


def _metadata(ds: Dataset, transfer_syntax: str) -> DicomJson:
    """The data set in DICOM JSON without bulk data (pixels, waveforms)."""
    light = Dataset()
    for element in ds:
        if element.VR in _BULK_VRS and element.tag.group != 0x0002:
            continue
        light.add(element)
    body: DicomJson = light.to_json_dict(bulk_data_threshold=10**9)
    body["00020010"] = _element("UI", transfer_syntax)
    return body


async def metadata(request: web.Request) -> web.Response:
    user = require_user(request)
    _, records = await _records(request, user)
    service = imaging_of(request).service
    out = []
    for record in records:
        ds = await in_thread(service.dataset, record.blob_sha256)
        out.append(_metadata(ds, record.info.transfer_syntax_uid))
    return _dicom_json(out)


def _frame_numbers(text: str, frames: int) -> list[int]:
    numbers = []
    for part in text.split(","):
        if not part.strip().isdigit():
            raise BadRequest("frames are 1-based numbers separated by commas")
        number = int(part)
        if not 1 <= number <= frames:
            raise BadRequest(f"frame {number} is outside 1..{frames}")
        numbers.append(number)
    return numbers


def _frame_bytes(ds: Dataset, index: int, as_stored: bool) -> tuple[str, bytes]:
    """One frame: compressed as stored when the client takes that, else raw."""
    ts = str(ds.file_meta.TransferSyntaxUID)
    frames = number_of_frames(ds)
    if ts in _COMPRESSED_TYPES and as_stored:
        return _COMPRESSED_TYPES[ts], get_frame(ds.PixelData, index, number_of_frames=frames)
    if not ds.file_meta.TransferSyntaxUID.is_compressed and ds.BitsAllocated % 8 == 0:
        size = int(ds.Rows) * int(ds.Columns) * int(ds.SamplesPerPixel) * ds.BitsAllocated // 8
        return "application/octet-stream", bytes(ds.PixelData[index * size : (index + 1) * size])
    return "application/octet-stream", decode_frame(ds, index).tobytes()


async def frames(request: web.Request) -> web.StreamResponse:
    user = require_user(request)
    _, records = await _records(request, user)
    record = records[0]
    if record.info.kind.value == "ecg":
        raise NotFound("a waveform has no frames")
    numbers = _frame_numbers(request.match_info["frames"], record.info.frames)
    ds = await in_thread(imaging_of(request).service.dataset, record.blob_sha256)
    accept = request.headers.get("Accept", "")
    as_stored = any(t in accept for t in ("image/", "*/*", "transfer-syntax=*"))
    first_type, _ = await in_thread(_frame_bytes, ds, numbers[0] - 1, as_stored)

    async def parts() -> AsyncIterator[tuple[str, bytes]]:
        for n in numbers:
            yield await in_thread(_frame_bytes, ds, n - 1, as_stored)

    return await _multipart(request, parts(), first_type)


def _window(request: web.Request) -> WindowChoice:
    text = request.query.get("window")
    if not text:
        return None
    values = text.split(",")
    try:
        return Window(float(values[0]), float(values[1]))
    except (ValueError, IndexError):
        raise BadRequest("window is center,width[,function]") from None


async def rendered(request: web.Request) -> web.Response:
    user = require_user(request)
    _, records = await _records(request, user)
    record = records[0]
    if record.info.kind.value == "ecg":
        raise BadRequest("an ECG is not rendered here")
    frame_text = request.match_info.get("frames", "1")
    frame = _frame_numbers(frame_text, record.info.frames)[0] - 1
    fmt = ImageFormat.WEBP if "image/webp" in request.headers.get("Accept", "") else None
    image = await in_thread(
        imaging_of(request).service.render,
        record.blob_sha256,
        frame,
        window=_window(request),
        fmt=fmt or ImageFormat.PNG,
    )
    return web.Response(body=image.data, content_type=image.media_type)


def add_dicomweb_routes(app: web.Application) -> None:
    for root in ROOTS:
        study = root + "/studies/{study}"
        series = study + "/series/{series}"
        instance = series + "/instances/{instance}"
        router = app.router
        # Every refusal audited like a success, under the same action (on the study named).
        store = audited("imaging.store", "study", "study")(stow)
        search = {
            h: audited("imaging.search", "study", "study")(h)
            for h in (search_studies, search_series, search_instances)
        }
        read = {
            h: audited("imaging.retrieve", "study", "study")(h)
            for h in (retrieve, metadata, frames, rendered)
        }
        router.add_post(root + "/studies", store)
        router.add_post(study, store)
        router.add_get(root + "/studies", search[search_studies])
        router.add_get(root + "/series", search[search_series])
        router.add_get(root + "/instances", search[search_instances])
        router.add_get(study + "/series", search[search_series])
        router.add_get(study + "/instances", search[search_instances])
        router.add_get(series + "/instances", search[search_instances])
        router.add_get(study, read[retrieve])
        router.add_get(series, read[retrieve])
        router.add_get(instance, read[retrieve])
        router.add_get(study + "/metadata", read[metadata])
        router.add_get(series + "/metadata", read[metadata])
        router.add_get(instance + "/metadata", read[metadata])
        router.add_get(instance + "/frames/{frames}", read[frames])
        router.add_get(instance + "/rendered", read[rendered])
        router.add_get(instance + "/frames/{frames}/rendered", read[rendered])
