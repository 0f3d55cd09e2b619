"""An auditor's questions to GET /api/audit: who touched this patient, what
did this user or facility do, what was refused, in a time range; pages;
the CSV export; bad filters refused; the reads themselves audited."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from signalling.audit import CLI
from signalling.db.models import User
from signalling.platform import Platform
from tests.signalling.care_network import Member, add_admin, member, served
from tests.signalling.conftest import make_settings

PATIENT = {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"}
OTHER = {"full_name": "Hà Thị Lan", "sex": "female", "identifier": "079999"}


async def _ids(platform: Platform, username: str) -> tuple[int, int | None]:
    async with platform.db() as db:
        user = await db.scalar(select(User).where(User.username == username))
        assert user is not None
        return user.id, user.facility_id


async def _admin(platform: Platform, url: str) -> Member:
    await add_admin(platform)
    return await member(platform, url, "root", online=False)


async def test_an_auditor_finds_who_touched_a_patient(tmp_path: Any) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        doc = await member(platform, url, "mc.doc", online=False)
        stranger = await member(platform, url, "hue.cardio", online=False)
        auditor = await _admin(platform, url)
        try:
            started = datetime.now(UTC)
            _, made = await doc.call("POST", "/api/patients", PATIENT)
            pid = made["patient"]["id"]
            _, other = await doc.call("POST", "/api/patients", OTHER)
            for _ in range(3):
                assert (await doc.call("GET", f"/api/patients/{pid}"))[0] == 200
            assert (await doc.call("GET", f"/api/patients/{other['patient']['id']}"))[0] == 200
            assert (await stranger.call("GET", f"/api/patients/{pid}"))[0] == 404
            doc_id, doc_facility = await _ids(platform, "mc.doc")
            stranger_id, _ = await _ids(platform, "hue.cardio")

            # Who touched the patient: the creation, three reads, the refused read.
            status, body = await auditor.call("GET", f"/api/audit?patient={pid}")
            assert status == 200, body
            rows = body["events"]
            assert [(r["action"], r["outcome"], r["actor"]) for r in reversed(rows)] == [
                ("patient.create", "ok", f"user:{doc_id}"),
                *[("patient.read", "ok", f"user:{doc_id}")] * 3,
                ("patient.read", "denied", f"user:{stranger_id}"),
            ]
            assert all(r["patient_id"] == pid for r in rows)
            refused = rows[0]
            assert refused["ip"] == "127.0.0.1" and refused["actor_role"] == "specialist"
            assert refused["detail"]["status"] == 404
            assert rows[1]["facility_id"] == doc_facility

            # Only what was refused, by one user, by facility, by action prefix, by time.
            _, body = await auditor.call("GET", f"/api/audit?patient={pid}&outcome=denied")
            assert [r["actor"] for r in body["events"]] == [f"user:{stranger_id}"]
            _, body = await auditor.call("GET", f"/api/audit?user={doc_id}&action=patient.*")
            assert len(body["events"]) == 6
            _, body = await auditor.call(
                "GET", f"/api/audit?facility={doc_facility}&action=patient.read"
            )
            assert len(body["events"]) == 4
            later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            status, body = await auditor.call(
                "GET", f"/api/audit?since={later.replace('+00:00', 'Z')}"
            )
            assert status == 200 and body["events"] == []
            status, body = await auditor.call(
                "GET",
                f"/api/audit?patient={pid}&since={started.isoformat().replace('+', '%2B')}",
            )
            assert len(body["events"]) == 5

            # Pages go back from `next`, without overlap.
            _, first = await auditor.call("GET", f"/api/audit?patient={pid}&limit=2")
            _, second = await auditor.call(
                "GET", f"/api/audit?patient={pid}&limit=2&before={first['next']}"
            )
            _, third = await auditor.call(
                "GET", f"/api/audit?patient={pid}&limit=2&before={second['next']}"
            )
            paged = [r["id"] for page in (first, second, third) for r in page["events"]]
            assert paged == [r["id"] for r in rows] and third["next"] is None

            # Every read of the log is itself on record, with its filters.
            _, body = await auditor.call("GET", "/api/audit?action=audit.read&limit=1")
            last = body["events"][0]
            assert last["detail"]["filters"] == {
                "patient_id": str(pid),
                "before_id": str(second["next"]),
            }
        finally:
            for m in (doc, stranger, auditor):
                await m.close()


async def test_the_csv_export_has_every_matching_row(tmp_path: Any) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        doc = await member(platform, url, "mc.doc", online=False)
        auditor = await _admin(platform, url)
        try:
            # A name a spreadsheet would run as a formula, in the detail.
            status, _ = await doc.call("POST", "/api/patients", {**PATIENT, "full_name": "=1+1"})
            assert status == 201
            _, made = await doc.call("GET", "/api/patients?identifier=079123")
            pid = made["patients"][0]["id"]
            for _ in range(1200):  # more than a page and than one export batch
                await platform.audit.record(
                    CLI,
                    "patient.read",
                    object_type="patient",
                    object_id=str(pid),
                    patient_id=pid,
                    detail={"note": '=HYPERLINK("x")'},
                )
            async with auditor.http.get(
                f"{url.rstrip('/')}/api/audit?patient={pid}&format=csv"
            ) as response:
                assert response.status == 200
                assert response.content_type == "text/csv"
                assert "attachment" in response.headers["Content-Disposition"]
                text = await response.text()
            table = list(csv.reader(io.StringIO(text)))
            header, rows = table[0], table[1:]
            assert header[:3] == ["id", "at", "actor"] and "patient_id" in header
            assert len(rows) == 1 + 1200 + 1  # created, the reads, the search
            ids = [int(r[0]) for r in rows]
            assert ids == sorted(ids)  # oldest first
            detail = header.index("detail")
            assert all(not r[detail].startswith("=") for r in rows)
            assert json.loads(rows[-2][detail].lstrip("'")) == {"note": '=HYPERLINK("x")'}

            # Accept: text/csv asks the same.
            async with auditor.http.get(
                f"{url.rstrip('/')}/api/audit?patient={pid}&action=patient.create",
                headers={"Accept": "text/csv"},
            ) as response:
                assert len(list(csv.reader(io.StringIO(await response.text())))) == 2
            _, body = await auditor.call("GET", "/api/audit?action=audit.export")
            assert body["events"][0]["actor"].startswith("user:")
            assert len(body["events"]) == 2
        finally:
            await doc.close()
            await auditor.close()


async def test_bad_filters_are_refused_and_doctors_read_nothing(tmp_path: Any) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        doc = await member(platform, url, "mc.doc", online=False)
        auditor = await _admin(platform, url)
        try:
            for query, field in [
                ("patient=abc", "patient"),
                ("patient=99999999999999999999", "patient"),
                ("since=yesterday", "since"),
                ("since=2026-12-01T00:00:00", "since"),
                ("since=2026-12-02T00:00:00Z&until=2026-12-01T00:00:00Z", "until"),
                ("outcome=maybe", "outcome"),
                ("limit=0", "limit"),
                ("limit=5000", "limit"),
                ("format=xml", "format"),
                ("user=a%00b", "user"),
            ]:
                status, body = await auditor.call("GET", f"/api/audit?{query}")
                assert status == 400, (query, body)
                assert body["error"].startswith(field), (query, body)
            status, _ = await doc.call("GET", "/api/audit?format=csv")
            assert status == 403
            _, body = await auditor.call("GET", "/api/audit?action=audit.*&outcome=denied")
            assert [r["action"] for r in body["events"]] == ["audit.read"]
        finally:
            await doc.close()
            await auditor.close()
