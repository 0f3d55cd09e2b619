"""The REST API's OpenAPI 3.1 document, served at /api/openapi.json.

Request bodies come from the same pydantic models the handlers validate
with, so the document cannot drift from what is enforced; a test checks
that every /api route of the application is listed here and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from signalling.casefile import routes as casefile_routes
from signalling.casefile import share_routes
from signalling.dispatch import routes as dispatch_routes
from signalling.free_text import LINE
from signalling.network import admin_routes, login_routes, patient_routes
from signalling.rooms import routes as room_routes
from signalling.training import routes as training_routes

ID_QUERY = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}

ERRORS = {
    400: "invalid input; `field` names the field",
    401: "not logged in, or the token is invalid",
    403: "not allowed",
    404: "not found",
    409: "conflicts with the current state",
    413: "body too large",
    415: "send JSON",
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str  # path or query
    schema: dict[str, Any]
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    tag: str
    ok: int = 200
    body: type[BaseModel] | None = None
    params: tuple[Param, ...] = ()
    public: bool = False
    errors: tuple[int, ...] = field(default=(401,))
    media_type: str = "application/json"
    other_media_types: tuple[str, ...] = ()
    upload: bool = False  # a multipart/form-data body of files


CONSULTATION_ID = Param("id", "path", {"type": "string", "maxLength": 64}, required=True)
UID = Param(
    "uid",
    "path",
    {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)*$", "maxLength": 64},
    required=True,
)
FRAME = Param("frame", "query", {"type": "integer", "minimum": 0, "maximum": 100_000})
WINDOW_PARAMS = (
    Param(
        "preset", "query", {"type": "string", "maxLength": 32}, description="lung, bone, file..."
    ),
    Param("center", "query", {"type": "number"}, description="window centre, with width"),
    Param("width", "query", {"type": "number"}, description="window width, with center"),
    Param("format", "query", {"type": "string", "enum": ["png", "webp"]}),
    Param("max_size", "query", {"type": "integer", "minimum": 16, "maximum": 8192}),
)
CASE_FILE_ID = Param("cf", "path", {"type": "string", "maxLength": 64}, required=True)
DOCUMENT_ID = Param("doc", "path", {"type": "string", "maxLength": 64}, required=True)
PATIENT_ID = Param(
    "id", "path", {"type": "integer", "minimum": 0, "maximum": 10**15 - 1}, required=True
)

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "post",
        "/api/auth/login",
        "Log in with a password; sets the session cookie",
        "auth",
        body=login_routes.LoginBody,
        public=True,
        errors=(400, 401, 413, 415),
    ),
    Operation(
        "post", "/api/auth/logout", "End the browser session", "auth", public=True, errors=()
    ),
    Operation(
        "get",
        "/api/auth/session",
        "The logged-in user, or null",
        "auth",
        public=True,
        errors=(401,),
    ),
    Operation("get", "/api/me", "The authenticated user", "auth"),
    Operation(
        "get",
        "/api/audit",
        "Audit events, newest first, filtered and paged, or all matching as CSV "
        "(administrators; itself audited)",
        "admin",
        params=(
            Param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 1000}),
            Param("before", "query", ID_QUERY, description="the previous page's `next`"),
            Param("patient", "query", ID_QUERY),
            Param("user", "query", {"type": "string", "maxLength": 80, "pattern": LINE}),
            Param("facility", "query", ID_QUERY),
            Param(
                "action",
                "query",
                {"type": "string", "maxLength": 64, "pattern": LINE},
                description="exact, or a prefix ending in *",
            ),
            Param("outcome", "query", {"type": "string", "enum": ["ok", "denied", "error"]}),
            Param("object_type", "query", {"type": "string", "maxLength": 40, "pattern": LINE}),
            Param("object", "query", {"type": "string", "maxLength": 128, "pattern": LINE}),
            Param("since", "query", {"type": "string", "format": "date-time"}),
            Param("until", "query", {"type": "string", "format": "date-time"}),
            Param("format", "query", {"type": "string", "enum": ["json", "csv"]}),
        ),
        errors=(400, 401, 403),
    ),
    Operation(
        "post",
        "/api/patients",
        "Register a patient at your facility",
        "patients",
        ok=201,
        body=patient_routes.NewPatient,
        errors=(400, 401, 403, 409, 415),
    ),
    Operation(
        "get",
        "/api/patients",
        "Find your facility's patients by identifier",
        "patients",
        params=(
            Param(
                "identifier",
                "query",
                {"type": "string", "minLength": 1, "maxLength": 64, "pattern": LINE},
                required=True,
            ),
        ),
        errors=(400, 401),
    ),
    Operation(
        "get",
        "/api/patients/{id}",
        "A patient record (audited)",
        "patients",
        params=(PATIENT_ID,),
        errors=(401, 404),
    ),
    Operation(
        "post",
        "/api/consultations",
        "Open a consultation request",
        "consultations",
        ok=201,
        body=dispatch_routes.OpenRequest,
        errors=(400, 401, 403, 404, 415),
    ),
    Operation("get", "/api/consultations", "Consultations you take part in", "consultations"),
    Operation("get", "/api/consultations/queue", "Open requests offered to you", "consultations"),
    Operation(
        "get",
        "/api/consultations/{id}",
        "A consultation and its history",
        "consultations",
        params=(CONSULTATION_ID,),
        errors=(401, 404),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/accept",
        "Accept a request (first wins)",
        "consultations",
        body=dispatch_routes.Accept,
        params=(CONSULTATION_ID,),
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/decline",
        "Decline a request, with a reason",
        "consultations",
        body=dispatch_routes.Decline,
        params=(CONSULTATION_ID,),
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/cancel",
        "Cancel your request",
        "consultations",
        params=(CONSULTATION_ID,),
        errors=(401, 403, 404, 409),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/token",
        "A room token for a participant",
        "rooms",
        params=(CONSULTATION_ID,),
        errors=(401, 404, 409),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/patient-link",
        "A one-time link that brings the patient to the lobby",
        "rooms",
        ok=201,
        body=room_routes.PatientLink,
        params=(CONSULTATION_ID,),
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "get",
        "/api/consultations/{id}/calendar.ics",
        "iCalendar invitation of a scheduled consultation",
        "consultations",
        params=(CONSULTATION_ID,),
        errors=(401, 404, 409),
        media_type="text/calendar",
    ),
    Operation(
        "post",
        "/api/consultations/{id}/participants",
        "Invite another clinician into the consultation",
        "consultations",
        ok=201,
        body=dispatch_routes.Invite,
        params=(CONSULTATION_ID,),
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "post",
        "/api/consultations/{id}/imaging",
        "Upload DICOM files into the case file; a verdict per file (audited)",
        "imaging",
        params=(CONSULTATION_ID,),
        upload=True,
        errors=(400, 401, 404, 409, 415),
    ),
    Operation(
        "get",
        "/api/consultations/{id}/imaging",
        "The case file's studies, series and instances in viewing order (audited)",
        "imaging",
        params=(CONSULTATION_ID,),
        errors=(401, 404),
    ),
    Operation(
        "get",
        "/api/imaging/series/{uid}",
        "A series' instances in anatomical order",
        "imaging",
        params=(UID,),
        errors=(401, 404),
    ),
    Operation(
        "get",
        "/api/imaging/series/{uid}/thumbnail",
        "A series' thumbnail (WebP)",
        "imaging",
        params=(UID,),
        errors=(401, 404),
        media_type="image/webp",
    ),
    Operation(
        "get",
        "/api/imaging/series/{uid}/deidentified.zip",
        "A series de-identified for sharing outside the care team (PS3.15; audited)",
        "imaging",
        params=(UID,),
        errors=(401, 404),
        media_type="application/zip",
    ),
    Operation(
        "get",
        "/api/imaging/instances/{uid}",
        "What the viewer needs to show an instance, with its window presets",
        "imaging",
        params=(UID,),
        errors=(401, 404),
    ),
    Operation(
        "get",
        "/api/imaging/instances/{uid}/rendered",
        "A frame rendered with a window (PNG or WebP; ETag, long-lived caching)",
        "imaging",
        params=(UID, FRAME, *WINDOW_PARAMS),
        errors=(400, 401, 404),
        media_type="image/png",
        other_media_types=("image/webp",),
    ),
    Operation(
        "get",
        "/api/imaging/instances/{uid}/pixel",
        "The value under a point (HU for CT)",
        "imaging",
        params=(
            UID,
            Param("row", "query", {"type": "integer", "minimum": 0, "maximum": 65535}, True),
            Param("column", "query", {"type": "integer", "minimum": 0, "maximum": 65535}, True),
            FRAME,
        ),
        errors=(400, 401, 404),
    ),
    Operation(
        "get",
        "/api/imaging/instances/{uid}/cine/{frame}",
        "A cine frame as stored (JPEG baseline, not decoded); X-Frame-Rate says the rate",
        "imaging",
        params=(
            UID,
            Param("frame", "path", {"type": "integer", "minimum": 0, "maximum": 99999}, True),
        ),
        errors=(400, 401, 404),
        media_type="image/jpeg",
    ),
    Operation(
        "get",
        "/api/imaging/instances/{uid}/ecg",
        "An ECG's leads (µV), sampling rate, measurements and annotations",
        "imaging",
        params=(UID,),
        errors=(400, 401, 404),
    ),
    Operation("get", "/api/admin/network", "Facilities and pairings", "admin", errors=(401, 403)),
    Operation(
        "post",
        "/api/admin/facilities",
        "Add a facility",
        "admin",
        ok=201,
        body=admin_routes.NewFacility,
        errors=(400, 401, 403, 409, 415),
    ),
    Operation(
        "post",
        "/api/admin/pairings",
        "Pair a central hospital with a facility",
        "admin",
        ok=201,
        body=admin_routes.NewPairing,
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation("get", "/api/admin/users", "Staff accounts", "admin", errors=(401, 403)),
    Operation(
        "get",
        "/api/admin/nodes",
        "Live nodes of the cluster and their load",
        "admin",
        errors=(401, 403),
    ),
    Operation(
        "post",
        "/api/admin/users",
        "Add a staff account",
        "admin",
        ok=201,
        body=admin_routes.NewUser,
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "put",
        "/api/admin/users/{username}/active",
        "Enable or disable an account",
        "admin",
        body=admin_routes.Active,
        params=(Param("username", "path", {"type": "string", "maxLength": 64}, required=True),),
        errors=(400, 401, 403, 404, 415),
    ),
    Operation(
        "get",
        "/api/admin/sessions",
        "Live consultations and their media health",
        "admin",
        errors=(401, 403),
    ),
    Operation(
        "get",
        "/api/consultations/{id}/case-file",
        "The patient's case file for this consultation (made on first use)",
        "case files",
        params=(CONSULTATION_ID,),
        errors=(400, 401, 403, 404),
    ),
    Operation(
        "get",
        "/api/consultations/{id}/fhir",
        "The consultation as a FHIR R4B bundle",
        "case files",
        params=(CONSULTATION_ID,),
        errors=(401, 403, 404),
        media_type="application/fhir+json",
    ),
    Operation(
        "get",
        "/api/consultations/{id}/summary.html",
        "A printable summary of the consultation and its conclusion",
        "case files",
        params=(CONSULTATION_ID,),
        errors=(401, 403, 404),
        media_type="text/html",
    ),
    Operation(
        "put",
        "/api/case-files/{cf}/documents/{doc}/shared",
        "Share (or stop sharing) a document's latest version with the patient",
        "case files",
        body=share_routes.Shared,
        params=(CASE_FILE_ID, DOCUMENT_ID),
        errors=(400, 401, 403, 404, 415),
    ),
    Operation(
        "put",
        "/api/case-files/{cf}/attachments/{aid}/shared",
        "Share (or stop sharing) an attachment with the patient",
        "case files",
        body=share_routes.Shared,
        params=(
            CASE_FILE_ID,
            Param("aid", "path", {"type": "string", "maxLength": 64}, required=True),
        ),
        errors=(400, 401, 403, 404, 415),
    ),
    Operation(
        "get",
        "/api/patient/case-file",
        "The patient's view: what clinicians shared (bearer: the room session token)",
        "patients",
        errors=(401, 404),
    ),
    Operation(
        "get",
        "/api/patient/case-file/attachments/{aid}",
        "A shared attachment, for the patient (bearer: the room session token)",
        "patients",
        params=(Param("aid", "path", {"type": "string", "maxLength": 64}, required=True),),
        errors=(401, 404),
        media_type="application/octet-stream",
        other_media_types=(
            "application/pdf",
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/gif",
            "text/plain",
        ),
    ),
    Operation(
        "get",
        "/api/consultations/{id}/recordings",
        "The consultation's recordings and their files (clinicians, treating facility)",
        "recordings",
        params=(CONSULTATION_ID,),
        errors=(401, 403, 404),
    ),
    Operation(
        "get",
        "/api/recordings/files/{fid}",
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
    ),
    Operation(
        "post",
        "/api/admin/recordings/purge",
        "Delete recordings older than the retention setting",
        "admin",
        errors=(401, 403),
    ),
    Operation(
        "post",
        "/api/trainings",
        "Hold a training session (trainers and specialists)",
        "trainings",
        ok=201,
        body=training_routes.NewTraining,
        errors=(400, 401, 403, 415),
    ),
    Operation("get", "/api/trainings", "Live and scheduled trainings", "trainings"),
    Operation(
        "post",
        "/api/trainings/{id}/token",
        "A room token: the trainer runs the room, others watch and ask",
        "trainings",
        params=(Param("id", "path", {"type": "string", "maxLength": 64}, required=True),),
        errors=(400, 401, 404),
    ),
    Operation(
        "get",
        "/api/trainings/{id}/attendance",
        "The attendance register: who, from where, how long",
        "trainings",
        params=(Param("id", "path", {"type": "string", "maxLength": 64}, required=True),),
        errors=(401, 403, 404),
    ),
    Operation(
        "get",
        "/api/case-files/{cf}",
        "A case file: latest documents, attachments",
        "case files",
        params=(CASE_FILE_ID,),
        errors=(401, 403, 404),
    ),
    Operation(
        "post",
        "/api/case-files/{cf}/documents",
        "Add a document (note, history, findings, vitals, conclusion)",
        "case files",
        ok=201,
        body=casefile_routes.NewDocument,
        params=(CASE_FILE_ID,),
        errors=(400, 401, 403, 404, 415),
    ),
    Operation(
        "put",
        "/api/case-files/{cf}/documents/{doc}",
        "A new version of a document; 409 if it changed since base_version",
        "case files",
        body=casefile_routes.Revision,
        params=(CASE_FILE_ID, DOCUMENT_ID),
        errors=(400, 401, 403, 404, 409, 415),
    ),
    Operation(
        "get",
        "/api/case-files/{cf}/documents/{doc}/versions",
        "Every version of a document, with authors and signatures",
        "case files",
        params=(CASE_FILE_ID, DOCUMENT_ID),
        errors=(401, 403, 404),
    ),
    Operation(
        "post",
        "/api/case-files/{cf}/documents/{doc}/versions/{version}/signatures",
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
    ),
    Operation(
        "post",
        "/api/case-files/{cf}/attachments",
        "Attach files (checked by content; size-limited while streaming)",
        "case files",
        ok=201,
        params=(CASE_FILE_ID,),
        upload=True,
        errors=(400, 401, 403, 404),
    ),
    Operation(
        "get",
        "/api/case-files/{cf}/attachments/{aid}",
        "Download an attachment",
        "case files",
        params=(
            CASE_FILE_ID,
            Param("aid", "path", {"type": "string", "maxLength": 64}, required=True),
        ),
        errors=(401, 403, 404),
        media_type="application/octet-stream",
        other_media_types=(
            "application/pdf",
            "image/png",
            "image/jpeg",
            "image/webp",
            "image/gif",
            "text/plain",
        ),
    ),
    Operation(
        "put",
        "/api/me/on-call",
        "Go on or off call (specialists)",
        "consultations",
        body=dispatch_routes.OnCall,
        errors=(400, 401, 404, 415),
    ),
)


def _error_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
    }


def openapi_document(version: str) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": _error_schema()}
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        entry: dict[str, Any] = {
            "summary": op.summary,
            "tags": [op.tag],
            "operationId": f"{op.method}_{op.path.strip('/').replace('/', '_')}".replace("{", "")
            .replace("}", "")
            .replace("-", "_"),
            "responses": {
                str(op.ok): {
                    "description": "done",
                    "content": {
                        media_type: {
                            "schema": {"type": "object"}
                            if media_type == "application/json"
                            else {"type": "string"}
                        }
                        for media_type in (op.media_type, *op.other_media_types)
                    },
                },
                **{
                    str(code): {
                        "description": ERRORS[code],
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}
                        },
                    }
                    for code in op.errors
                },
            },
        }
        if op.public:
            entry["security"] = []
        if op.params:
            entry["parameters"] = [
                {
                    "name": p.name,
                    "in": p.where,
                    "required": p.required,
                    "schema": p.schema,
                    **({"description": p.description} if p.description else {}),
                }
                for p in op.params
            ]
        if op.body is not None:
            schema = op.body.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(schema.pop("$defs", {}))
            components[op.body.__name__] = schema
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {"$ref": f"#/components/schemas/{op.body.__name__}"}
                    }
                },
            }
        if op.upload:
            entry["requestBody"] = {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "required": ["files"],
                            "properties": {
                                "files": {
                                    "type": "array",
                                    "items": {"type": "string", "format": "binary"},
                                }
                            },
                        }
                    }
                },
            }
        paths.setdefault(op.path, {})[op.method] = entry
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Telehealth platform API",
            "version": version,
            "description": "Staff authenticate with the log-in cookie or a bearer token "
            "(`telehealth token issue`). Real-time events travel over socket.io; "
            "see docs/PROTOCOL.md.",
        },
        "servers": [{"url": "/"}],
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "th_session"},
            },
        },
        "security": [{"bearer": []}, {"cookie": []}],
        "paths": paths,
    }


async def openapi_handler(request: web.Request) -> web.Response:
    from importlib.metadata import version

    return web.json_response(openapi_document(version("telehealth")))
