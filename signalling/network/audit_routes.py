"""The audit log over HTTP, for administrators; every read of it is itself audited.

`GET /api/audit` answers what an auditor asks (PS3.15 A.5, HIPAA
164.312(b)): who (account, role, facility), did what to which object and
whose data (patient), when, from where, with what outcome and detail.
Filters narrow by patient, user, facility, action (a trailing `*` is a
prefix), outcome, object and time range; pages go back with `before`
(the `next` of the previous page). `format=csv` (or `Accept: text/csv`)
exports every matching row, oldest first, up to the row that was last when
the export began, read in batches so a long export holds no connection.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from datetime import datetime

from aiohttp import web

from signalling.audit import AuditFilter, Outcome
from signalling.db.models import AuditEvent
from signalling.errors import PlatformError
from signalling.free_text import LINE
from signalling.http.api_docs import ID_QUERY, Param, api_doc
from signalling.http.identity import require_admin
from signalling.http.keys import platform_of

routes = web.RouteTableDef()

MAX_PAGE = 1000
COLUMNS = (
    "id",
    "at",
    "actor",
    "actor_role",
    "facility_id",
    "ip",
    "action",
    "object_type",
    "object_id",
    "patient_id",
    "outcome",
    "detail",
    "hash",
)
# A cell a spreadsheet would run as a formula (CSV injection): quoted as text.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _int(query: Mapping[str, str], name: str, *, low: int = 1, high: int = 2**31 - 1) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise PlatformError(f"{name}: must be a whole number") from None
    if not low <= value <= high:
        raise PlatformError(f"{name}: must be between {low} and {high}")
    return value


def _time(query: Mapping[str, str], name: str) -> datetime | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise PlatformError(f"{name}: an ISO 8601 time, e.g. 2026-12-01T00:00:00+07:00") from None
    if value.tzinfo is None:
        raise PlatformError(f"{name}: give the time zone (e.g. +07:00 or Z)")
    return value


def _text(query: Mapping[str, str], name: str, limit: int) -> str | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > limit or any(ord(ch) < 32 for ch in raw):
        raise PlatformError(f"{name}: at most {limit} printable characters")
    return str(raw)


def filter_of(query: Mapping[str, str]) -> AuditFilter:
    """The auditor's question from the query string; a 400 names a bad field."""
    user = _text(query, "user", 80)
    if user is not None and user.isdigit():
        user = f"user:{user}"
    outcome = _text(query, "outcome", 16)
    if outcome is not None and outcome not in {o.value for o in Outcome}:
        raise PlatformError("outcome: one of " + ", ".join(o.value for o in Outcome))
    since, until = _time(query, "since"), _time(query, "until")
    if since is not None and until is not None and since >= until:
        raise PlatformError("until: must be later than since")
    return AuditFilter(
        patient_id=_int(query, "patient"),
        actor=user,
        facility_id=_int(query, "facility"),
        action=_text(query, "action", 64),
        outcome=Outcome(outcome) if outcome is not None else None,
        object_type=_text(query, "object_type", 40),
        object_id=_text(query, "object", 128),
        since=since,
        until=until,
        before_id=_int(query, "before"),
    )


def _detail(event: AuditEvent) -> object:
    try:
        return json.loads(event.detail)
    except ValueError:
        return event.detail  # kept as written: the hash covers the text


def event_json(event: AuditEvent) -> dict[str, object]:
    return {
        "id": event.id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "actor_role": event.actor_role,
        "facility_id": event.facility_id,
        "ip": event.ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "patient_id": event.patient_id,
        "outcome": event.outcome,
        "detail": _detail(event),
        "hash": event.hash,
    }


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv_rows(events: list[AuditEvent]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    for e in events:
        row = event_json(e)
        row["detail"] = e.detail
        writer.writerow([_cell(row[c]) for c in COLUMNS])
    return out.getvalue().encode()


def _filters_used(where: AuditFilter) -> dict[str, str]:
    return {k: str(v) for k, v in vars(where).items() if v is not None}


def _wants_csv(request: web.Request) -> bool:
    fmt = request.query.get("format", "")
    if fmt not in ("", "json", "csv"):
        raise PlatformError("format: json or csv")
    return fmt == "csv" or (fmt == "" and "text/csv" in request.headers.get("Accept", ""))


@routes.get("/api/audit")
@api_doc(
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
)
async def audit_events(request: web.Request) -> web.StreamResponse:
    _, actor = await require_admin(request, "audit.read")
    platform = platform_of(request)
    where = filter_of(request.query)
    csv_export = _wants_csv(request)
    limit = _int(request.query, "limit", high=MAX_PAGE) or 100
    if csv_export:
        return await _export(request, where)
    events = await platform.audit.events(limit=limit + 1, where=where)
    page, more = events[:limit], len(events) > limit
    await platform.audit.record(
        actor, "audit.read", detail={"rows": len(page), "filters": _filters_used(where)}
    )
    return web.json_response(
        {"events": [event_json(e) for e in page], "next": page[-1].id if more else None}
    )


async def _export(request: web.Request, where: AuditFilter) -> web.StreamResponse:
    _, actor = await require_admin(request, "audit.export")
    platform = platform_of(request)
    through = await platform.audit.head_id()
    # Recorded before the first byte: an export that breaks off is still on record.
    await platform.audit.record(
        actor, "audit.export", detail={"through": through, "filters": _filters_used(where)}
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="audit-through-{through}.csv"',
            "Cache-Control": "no-store",
        }
    )
    await response.prepare(request)
    header = io.StringIO()
    csv.writer(header).writerow(COLUMNS)
    await response.write(header.getvalue().encode())
    async for batch in platform.audit.matching(where, through=through):
        await response.write(_csv_rows(batch))
    await response.write_eof()
    return response
