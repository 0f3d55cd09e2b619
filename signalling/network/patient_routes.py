"""Patient records over HTTP; every read, write and refusal is audited."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from aiohttp import web
from pydantic import Field, Strict

from signalling.db.models import Patient, Sex
from signalling.free_text import LINE, OneLine
from signalling.http.api_docs import PATIENT_ID, Param, api_doc
from signalling.http.audited import audited
from signalling.http.errors import RequestBody, parse_json
from signalling.http.identity import actor_of, require_user
from signalling.http.keys import platform_of
from signalling.network.patients import add_patient, find_patients, get_patient, patient_json

routes = web.RouteTableDef()


class NewPatient(RequestBody):
    # Control characters refused as sent; then stripped, and something besides blanks.
    full_name: OneLine = Field(min_length=1, max_length=200, pattern=LINE)
    # Strict: a number is not a date (lax parsing would read 0 as 1970-01-01).
    date_of_birth: Annotated[date, Strict()] | None = None
    sex: Sex
    identifier: OneLine = Field(min_length=1, max_length=64, pattern=LINE)
    phone: str = Field("", max_length=32, pattern=r"^[0-9+() -]*$")


@routes.post("/api/patients")
@api_doc(
    "Register a patient at your facility",
    "patients",
    ok=201,
    body=NewPatient,
    errors=(400, 401, 403, 409, 415),
)
@audited("patient.create", "patient")
async def create(request: web.Request) -> web.Response:
    user = require_user(request)
    body = await parse_json(request, NewPatient)
    platform = platform_of(request)
    async with platform.db() as db:
        patient = await add_patient(db, user, **body.model_dump())
        await db.commit()
    await platform.audit.record(
        actor_of(user, request),
        "patient.create",
        object_type="patient",
        object_id=str(patient.id),
        patient_id=patient.id,
    )
    return web.json_response({"patient": patient_json(patient)}, status=201)


@routes.get("/api/patients/{id:\\d{1,15}}")
@api_doc("A patient record (audited)", "patients", params=(PATIENT_ID,), errors=(401, 404))
@audited("patient.read", "patient")
async def read(request: web.Request) -> web.Response:
    user = require_user(request)
    platform = platform_of(request)
    patient_id = request.match_info["id"]
    async with platform.db() as db:
        patient = await get_patient(db, user, int(patient_id))
    await platform.audit.record(
        actor_of(user, request),
        "patient.read",
        object_type="patient",
        object_id=patient_id,
        patient_id=patient.id,
    )
    return web.json_response({"patient": patient_json(patient)})


@routes.get("/api/patients")
@api_doc(
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
)
@audited("patient.search", "patient")
async def search(request: web.Request) -> web.Response:
    user = require_user(request)
    identifier = request.query.get("identifier", "").strip()
    if not identifier or len(identifier) > 64:
        raise web.HTTPBadRequest(
            text='{"error": "identifier: give the patient identifier to search for",'
            ' "field": "identifier"}',
            content_type="application/json",
        )
    platform = platform_of(request)
    async with platform.db() as db:
        found = await find_patients(db, user, identifier)
    # One row per patient shown, so "who saw patient X" finds searches too.
    shown_list: list[Patient | None] = [*found] if found else [None]
    for shown in shown_list:
        await platform.audit.record(
            actor_of(user, request),
            "patient.search",
            object_type="patient",
            object_id=str(shown.id) if shown else "",
            patient_id=shown.id if shown else None,
            detail={"results": len(found)},
        )
    return web.json_response({"patients": [patient_json(p) for p in found]})
