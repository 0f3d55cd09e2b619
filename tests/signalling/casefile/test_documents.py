"""Case files: versioned documents, sign-off, attachments checked by content; access; live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from signalling.app import build_app
from signalling.platform import Platform, open_platform
from tests.signalling.care_network import Member, build_network, member
from tests.signalling.conftest import make_settings
from tests.signalling.imaging_helpers import of_patient


def _png() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = _png()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
NOTE = {
    "kind": "note",
    "subjective": "Đau ngực 2 giờ",
    "objective": "HA 150/90",
    "assessment": "Nghi NMCT",
    "plan": "Hội chẩn tim mạch",
}


class World:
    platform: Platform
    url: str
    doc: Member
    spec: Member
    stranger: Member
    consultation: str
    case_file: str


@pytest.fixture
async def world(tmp_path: Path, database_url: str) -> AsyncIterator[World]:
    settings = make_settings(
        tmp_path, database_url=database_url, max_upload_mb=1, case_file_max_mb=2
    )
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        server = TestServer(build_app(platform))
        await server.start_server()
        w = World()
        w.platform, w.url = platform, str(server.make_url("/"))
        w.doc = await member(platform, w.url, "mc.doc")
        w.spec = await member(platform, w.url, "bm.cardio")
        w.stranger = await member(platform, w.url, "hue.cardio", online=False)
        status, body = await w.doc.call(
            "POST",
            "/api/patients",
            {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"},
        )
        assert status == 201
        status, body = await w.doc.call(
            "POST",
            "/api/consultations",
            {
                "kind": "clinical_consultation",
                "specialty": "cardiology",
                "urgency": "urgent",
                "question": "Chest pain",
                "patient_id": body["patient"]["id"],
            },
        )
        w.consultation = body["consultation"]["id"]
        assert (await w.spec.call("POST", f"/api/consultations/{w.consultation}/accept", {}))[
            0
        ] == 200
        status, body = await w.spec.call("GET", f"/api/consultations/{w.consultation}/case-file")
        assert status == 200, body
        w.case_file = body["id"]
        assert body["patient"]["full_name"] == "Lò Văn Páo"
        try:
            yield w
        finally:
            for m in (w.doc, w.spec, w.stranger):
                await m.close()
            await server.close()


async def test_versions_conflicts_and_access(world: World) -> None:
    cf = f"/api/case-files/{world.case_file}"
    status, note = await world.doc.call("POST", f"{cf}/documents", {"body": NOTE})
    assert status == 201 and note["version"] == 1
    doc_id = note["document"]
    status, v2 = await world.spec.call(
        "PUT",
        f"{cf}/documents/{doc_id}",
        {"base_version": 1, "body": {**NOTE, "plan": "Chuyển tuyến"}},
    )
    assert status == 200 and v2["version"] == 2
    # The doctor still edits version 1: refused, not silently overwritten.
    status, body = await world.doc.call(
        "PUT", f"{cf}/documents/{doc_id}", {"base_version": 1, "body": {**NOTE, "plan": "Theo dõi"}}
    )
    assert status == 409 and "version 2" in body["error"]
    # Two writers on the same base at once: exactly one wins.
    results = await asyncio.gather(
        *(
            m.call(
                "PUT", f"{cf}/documents/{doc_id}", {"base_version": 2, "body": {**NOTE, "plan": p}}
            )
            for m, p in ((world.doc, "A"), (world.spec, "B"))
        )
    )
    assert sorted(s for s, _ in results) == [200, 409]
    status, body = await world.doc.call("GET", f"{cf}/documents/{doc_id}/versions")
    versions = body["versions"]
    assert [v["version"] for v in versions] == [1, 2, 3]
    assert versions[0]["body"]["plan"] == "Hội chẩn tim mạch"  # nothing overwritten
    assert versions[1]["author"] == "BM.CARDIO"
    # Someone outside the consultation and the facility sees nothing.
    assert (await world.stranger.call("GET", cf))[0] == 403
    assert (await world.stranger.call("GET", f"/api/consultations/{world.consultation}/case-file"))[
        0
    ] == 403
    # Bad bodies change nothing.
    status, body = await world.doc.call(
        "POST", f"{cf}/documents", {"body": {"kind": "vitals", "pulse_bpm": 999}}
    )
    assert (status, body["field"]) == (400, "body.vitals.pulse_bpm")
    status, body = await world.doc.call(
        "PUT",
        f"{cf}/documents/{doc_id}",
        {"base_version": 3, "body": {"kind": "conclusion", "diagnosis": "x"}},
    )
    assert status == 400  # a note stays a note
    events = await world.platform.audit.events(limit=50)
    assert {"casefile.read", "casefile.write"} <= {e.action for e in events}


async def test_conclusion_sign_off(world: World) -> None:
    cf = f"/api/case-files/{world.case_file}"
    conclusion = {
        "kind": "conclusion",
        "diagnosis": "STEMI thành trước",
        "recommendations": "Tiêu sợi huyết",
        "treatment_plan": "Alteplase",
        "follow_up": "Chuyển BV Bạch Mai",
    }
    status, entry = await world.spec.call(
        "POST", f"{cf}/documents", {"consultation_id": world.consultation, "body": conclusion}
    )
    assert status == 201
    doc_id = entry["document"]
    sign = f"{cf}/documents/{doc_id}/versions/1/signatures"
    assert (await world.spec.call("POST", sign))[0] == 201
    status, body = await world.spec.call("POST", sign)
    assert status == 409 and "already" in body["error"]
    assert (await world.stranger.call("POST", sign))[0] == 403
    assert (await world.doc.call("POST", sign))[0] == 201
    # A change after sign-off is a new, unsigned version; the signed one stays as it was.
    status, v2 = await world.spec.call(
        "PUT",
        f"{cf}/documents/{doc_id}",
        {"base_version": 1, "body": {**conclusion, "follow_up": "Tái khám 1 tuần"}},
    )
    assert status == 200 and v2["signed_by"] == []
    versions = (await world.spec.call("GET", f"{cf}/documents/{doc_id}/versions"))[1]["versions"]
    assert [s["username"] for s in versions[0]["signed_by"]] == ["bm.cardio", "mc.doc"]
    assert versions[0]["body"]["follow_up"] == "Chuyển BV Bạch Mai"
    # Editing the signed version itself is not possible: it is no longer the latest.
    status, _ = await world.doc.call(
        "PUT", f"{cf}/documents/{doc_id}", {"base_version": 1, "body": conclusion}
    )
    assert status == 409


async def upload(who: Member, url: str, files: list[tuple[str, bytes]]) -> tuple[int, Any]:
    form = aiohttp.FormData()
    for name, data in files:
        form.add_field("files", data, filename=name, content_type="application/octet-stream")
    async with who.http.post(url, data=form) as response:
        return response.status, await response.json()


async def test_attachments_checked_by_content(world: World) -> None:
    cf = f"{world.url.rstrip('/')}/api/case-files/{world.case_file}"
    status, body = await upload(
        world.doc,
        f"{cf}/attachments",
        [
            ("discharge.pdf", PDF),
            ("ecg photo.png", PNG),
            ("lab.txt", b"Troponin I: 2.3 ng/mL\nCK-MB: 45 U/L\n"),
            ("scan.pdf", PNG),  # the name lies
            ("../../etc/passwd", b"root:x:0:0\n"),
            ("setup.exe", b"MZ\x90\x00" + b"\x00" * 200),
            ("big.txt", b"a" * (1024 * 1024 + 1)),  # over the 1 MB per-file limit
        ],
    )
    assert status == 201
    verdicts = {
        r["file"]: (r["status"], r.get("reason", r.get("media_type"))) for r in body["results"]
    }
    assert verdicts["discharge.pdf"] == ("accepted", "application/pdf")
    assert verdicts["ecg photo.png"] == ("accepted", "image/png")
    assert verdicts["lab.txt"] == ("accepted", "text/plain")
    assert verdicts["scan.pdf"][0] == "refused" and "image/png" in verdicts["scan.pdf"][1]
    assert verdicts["passwd"][0] == "accepted"  # a name, never a path
    assert verdicts["setup.exe"][0] == "refused"
    assert verdicts["big.txt"] == ("refused", "larger than 1 MB per file")
    assert list((world.platform.settings.blob_dir / "tmp").iterdir()) == []

    # The case file's quota (2 MB here) counts what is already there.
    status, body = await upload(
        world.spec,
        f"{cf}/attachments",
        [("a.txt", b"b" * 1_040_000), ("b.txt", b"c" * 1_040_000), ("c.txt", b"d" * 1_040_000)],
    )
    assert [r["status"] for r in body["results"]] == ["accepted", "accepted", "refused"]
    assert "case file is full" in body["results"][2]["reason"]

    pdf_id = next(
        r["id"]
        for r in (await world.doc.call("GET", f"/api/case-files/{world.case_file}"))[1][
            "attachments"
        ]
        if r["filename"] == "discharge.pdf"
    )
    async with world.spec.http.get(f"{cf}/attachments/{pdf_id}") as response:
        assert response.status == 200
        assert await response.read() == PDF
        assert response.headers["Content-Type"] == "application/pdf"
        assert (
            response.headers["Content-Disposition"] == "attachment; filename*=UTF-8''discharge.pdf"
        )
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    async with world.stranger.http.get(f"{cf}/attachments/{pdf_id}") as response:
        assert response.status == 403
    actions = [e.action for e in await world.platform.audit.events(limit=10)]
    assert "casefile.download" in actions


async def test_participants_see_changes_live(world: World) -> None:
    async def enter(who: Member) -> None:
        status, body = await who.call("POST", f"/api/consultations/{world.consultation}/token")
        assert status == 200
        ack = await who.sio.call("room.join", {"token": body["token"]}, timeout=10)
        assert ack["state"] == "joined"

    await enter(world.doc)
    await enter(world.spec)
    status, note = await world.doc.call(
        "POST", f"/api/case-files/{world.case_file}/documents", {"body": NOTE}
    )
    assert status == 201
    update = await world.spec.next("casefile.updated")
    assert update == {"case_file_id": world.case_file, "document": note["document"], "version": 1}


def test_file_names_are_labels_only() -> None:
    from signalling.casefile.content_types import safe_filename

    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename("C:\\Windows\\evil.pdf") == "evil.pdf"
    assert safe_filename("x\x00y\n.pdf") == "xy.pdf"
    assert safe_filename("/") == "attachment"
    assert safe_filename("..") == "attachment"
    assert len(safe_filename("a" * 500 + ".pdf")) == 200


async def test_fhir_bundle_and_printable_summary(world: World) -> None:
    from fhir.resources.R4B.bundle import Bundle

    cf = f"/api/case-files/{world.case_file}"
    await world.doc.call("POST", f"{cf}/documents", {"body": NOTE})
    status, entry = await world.spec.call(
        "POST",
        f"{cf}/documents",
        {
            "consultation_id": world.consultation,
            "body": {
                "kind": "conclusion",
                "diagnosis": "STEMI <script>alert(1)</script>",
                "recommendations": "Tiêu sợi huyết",
            },
        },
    )
    assert status == 201
    sign = f"{cf}/documents/{entry['document']}/versions/1/signatures"
    assert (await world.spec.call("POST", sign))[0] == 201
    await upload(world.doc, f"{world.url.rstrip('/')}{cf}/attachments", [("discharge.pdf", PDF)])

    async with world.spec.http.get(
        f"{world.url.rstrip('/')}/api/consultations/{world.consultation}/fhir"
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/fhir+json"
        raw = await response.json()
    bundle = Bundle.model_validate(raw)  # valid FHIR, by the maintained models
    kinds = sorted(e.resource.get_resource_type() for e in bundle.entry)
    assert kinds == [
        "DiagnosticReport",
        "DocumentReference",
        "DocumentReference",
        "Encounter",
        "Organization",
        "Patient",
        "Practitioner",
        "Practitioner",
    ]
    by_type = {e.resource.get_resource_type(): e.resource for e in bundle.entry}
    assert by_type["Encounter"].class_fhir.code == "VR"
    assert by_type["DiagnosticReport"].status == "final"  # signed
    assert by_type["Patient"].name[0].text == "Lò Văn Páo"
    urls = {e.fullUrl for e in bundle.entry}
    references = [v for v in _walk(raw) if isinstance(v, str) and v.startswith("urn:uuid:")]
    assert set(references) <= urls  # every reference resolves inside the bundle

    async with world.spec.http.get(
        f"{world.url.rstrip('/')}/api/consultations/{world.consultation}/summary.html"
    ) as response:
        html = await response.text()
    assert "STEMI &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "BM.CARDIO" in html  # who signed
    assert (await world.stranger.call("GET", f"/api/consultations/{world.consultation}/fhir"))[
        0
    ] == 403


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [x for v in value.values() for x in _walk(v)]
    if isinstance(value, list):
        return [x for v in value for x in _walk(v)]
    return [value]


async def test_the_whole_case_file_story(world: World) -> None:
    """A doctor builds the case file (PDF, two images, a DICOM study); specialists add
    notes; two specialists sign; a later edit makes version 2; FHIR carries it all."""
    from fhir.resources.R4B.bundle import Bundle
    from pydicom.data import get_testdata_file

    base = world.url.rstrip("/")
    cf = f"/api/case-files/{world.case_file}"
    status, body = await upload(
        world.doc,
        f"{base}{cf}/attachments",
        [("referral.pdf", PDF), ("wound.png", PNG), ("xray photo.png", _png_variant())],
    )
    assert [r["status"] for r in body["results"]] == ["accepted"] * 3
    ct = get_testdata_file("CT_small.dcm")
    assert ct is not None
    form = aiohttp.FormData()
    ours = await asyncio.to_thread(of_patient, Path(ct), "079123", "LO^VAN^PAO", "M")
    form.add_field("files", ours, filename="CT_small.dcm")
    async with world.doc.http.post(
        f"{base}/api/consultations/{world.consultation}/imaging", data=form
    ) as response:
        assert response.status == 200, await response.text()
        assert [r["status"] for r in (await response.json())["results"]] == ["accepted"]

    # A second specialist is invited; both specialists write and sign.
    colleague = await member(world.platform, world.url, "cr.cardio", online=False)
    try:
        status, _ = await world.spec.call(
            "POST",
            f"/api/consultations/{world.consultation}/participants",
            {"username": "cr.cardio"},
        )
        assert status == 201
        await colleague.call("POST", f"{cf}/documents", {"body": {**NOTE, "plan": "Đồng ý"}})
        await world.spec.call("POST", f"{cf}/documents", {"body": NOTE})
        text = "STEMI thành trước — tiêu sợi huyết trong 30 phút"
        status, c1 = await world.spec.call(
            "POST",
            f"{cf}/documents",
            {
                "consultation_id": world.consultation,
                "body": {"kind": "conclusion", "diagnosis": text},
            },
        )
        doc_id = c1["document"]
        for who in (world.spec, colleague):
            assert (await who.call("POST", f"{cf}/documents/{doc_id}/versions/1/signatures"))[
                0
            ] == 201
        status, c2 = await colleague.call(
            "PUT",
            f"{cf}/documents/{doc_id}",
            {
                "base_version": 1,
                "body": {"kind": "conclusion", "diagnosis": text, "follow_up": "Tái khám"},
            },
        )
        assert c2["version"] == 2
        versions = (await world.doc.call("GET", f"{cf}/documents/{doc_id}/versions"))[1]
        v1 = versions["versions"][0]
        assert v1["body"] == {
            "diagnosis": text,
            "recommendations": "",
            "treatment_plan": "",
            "follow_up": "",
        }
        assert [s["username"] for s in v1["signed_by"]] == ["bm.cardio", "cr.cardio"]
    finally:
        await colleague.close()

    _, raw = await world.doc.call("GET", f"/api/consultations/{world.consultation}/fhir")
    bundle = Bundle.model_validate(raw)
    resources = [e.resource for e in bundle.entry]
    kinds = [r.get_resource_type() for r in resources]
    assert kinds.count("DocumentReference") == 3 + 2  # three files, two notes
    study = next(r for r in resources if r.get_resource_type() == "ImagingStudy")
    assert study.endpoint and study.numberOfInstances == 1
    report = next(r for r in resources if r.get_resource_type() == "DiagnosticReport")
    assert report.conclusion == text  # round-trips the conclusion text
    assert report.status == "preliminary"  # version 2 is not signed yet


def _png_variant() -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("L", (32, 32), 128).save(out, format="PNG")
    return out.getvalue()


async def test_another_facility_is_refused_everywhere_and_audited(world: World) -> None:
    cf = f"/api/case-files/{world.case_file}"
    _, note = await world.doc.call("POST", f"{cf}/documents", {"body": NOTE})
    base = world.url.rstrip("/")
    status, body = await upload(world.doc, f"{base}{cf}/attachments", [("a.pdf", PDF)])
    attachment = body["results"][0]["id"]
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/api/consultations/{world.consultation}/case-file", None),
        ("GET", cf, None),
        ("POST", f"{cf}/documents", {"body": NOTE}),
        ("PUT", f"{cf}/documents/{note['document']}", {"base_version": 1, "body": NOTE}),
        ("GET", f"{cf}/documents/{note['document']}/versions", None),
        ("POST", f"{cf}/documents/{note['document']}/versions/1/signatures", None),
        ("GET", f"{cf}/attachments/{attachment}", None),
        ("GET", f"/api/consultations/{world.consultation}/fhir", None),
        ("GET", f"/api/consultations/{world.consultation}/summary.html", None),
        ("PUT", f"{cf}/documents/{note['document']}/shared", {"shared": True}),
        ("PUT", f"{cf}/attachments/{attachment}/shared", {"shared": True}),
    ]
    before = len(await world.platform.audit.events(limit=1000))
    for method, path, payload in calls:
        async with world.stranger.http.request(method, base + path, json=payload) as response:
            assert response.status == 403, (method, path, response.status)
    status, _ = await upload(world.stranger, f"{base}{cf}/attachments", [("b.pdf", PDF)])
    assert status == 403
    denied = [e for e in await world.platform.audit.events(limit=1000)][: 1000 - before]
    refusals = [e for e in denied if e.outcome == "denied" and e.actor_role == "specialist"]
    assert len(refusals) == len(calls) + 1
    # Nothing the stranger sent was stored.
    _, overview = await world.doc.call("GET", cf)
    assert [d["version"] for d in overview["documents"]] == [1]
    assert [a["filename"] for a in overview["attachments"]] == ["a.pdf"]


async def test_an_attachment_names_only_a_consultation_of_its_own_case(world: World) -> None:
    base = world.url.rstrip("/")
    cf = f"/api/case-files/{world.case_file}"
    # Another patient's consultation at the same facility, and one that does not exist.
    _, other = await world.doc.call(
        "POST", "/api/patients", {"full_name": "Hà Thị Lan", "sex": "female", "identifier": "X9"}
    )
    _, c = await world.doc.call(
        "POST",
        "/api/consultations",
        {
            "kind": "clinical_consultation",
            "specialty": "cardiology",
            "urgency": "routine",
            "question": "Đau ngực",
            "patient_id": other["patient"]["id"],
        },
    )
    stored = {p.name for p in world.platform.blobs.root.rglob("*") if p.is_file()}
    for consultation in (c["consultation"]["id"], "no-such-consultation", "x" * 500):
        status, body = await upload(
            world.doc, f"{base}{cf}/attachments?consultation={consultation}", [("a.pdf", PDF)]
        )
        assert status == 404, body
        assert body["error"].startswith("consultation:")
    # Nothing stored, nothing linked; each refusal audited.
    assert {p.name for p in world.platform.blobs.root.rglob("*") if p.is_file()} == stored
    _, overview = await world.doc.call("GET", cf)
    assert overview["attachments"] == []
    refused = [
        e
        for e in await world.platform.audit.events(limit=20)
        if e.action == "casefile.attach" and e.outcome == "denied"
    ]
    assert len(refused) == 3
    # Its own consultation is fine, and the attachment is linked to it.
    status, body = await upload(
        world.doc, f"{base}{cf}/attachments?consultation={world.consultation}", [("a.pdf", PDF)]
    )
    assert status == 201 and body["results"][0]["status"] == "accepted"


async def test_patient_sees_only_what_was_shared(world: World) -> None:
    import socketio

    cf = f"/api/case-files/{world.case_file}"
    base = world.url.rstrip("/")
    _, note = await world.doc.call("POST", f"{cf}/documents", {"body": NOTE})
    await world.doc.call("POST", f"{cf}/documents", {"body": {**NOTE, "plan": "nội bộ"}})
    _, body = await upload(world.doc, f"{base}{cf}/attachments", [("kq.pdf", PDF), ("x.txt", b"x")])
    shared_file, private_file = (r["id"] for r in body["results"])

    # The patient's browser: the link, exchanged for a session token by joining.
    _, link = await world.doc.call(
        "POST", f"/api/consultations/{world.consultation}/patient-link", {}
    )
    patient = socketio.AsyncClient(reconnection=False)
    await patient.connect(world.url, transports=["websocket"], wait_timeout=5)
    try:
        ack = await patient.call("room.join", {"token": link["token"]}, timeout=10)
    finally:
        await patient.disconnect()
    session = {"Authorization": f"Bearer {ack['session_token']}"}

    async def patient_view() -> Any:
        async with world.doc.http.get(f"{base}/api/patient/case-file", headers=session) as response:
            assert response.status == 200
            return await response.json()

    assert await patient_view() == {"documents": [], "attachments": []}
    doc_id = note["document"]
    assert (await world.doc.call("PUT", f"{cf}/documents/{doc_id}/shared", {"shared": True}))[
        0
    ] == 200
    assert (
        await world.doc.call("PUT", f"{cf}/attachments/{shared_file}/shared", {"shared": True})
    )[0] == 200
    view = await patient_view()
    assert [(d["document"], d["version"]) for d in view["documents"]] == [(doc_id, 1)]
    assert [a["id"] for a in view["attachments"]] == [shared_file]

    # A later edit is not shown until it is shared again.
    await world.doc.call(
        "PUT", f"{cf}/documents/{doc_id}", {"base_version": 1, "body": {**NOTE, "plan": "v2"}}
    )
    assert [d["version"] for d in (await patient_view())["documents"]] == [1]
    await world.doc.call("PUT", f"{cf}/documents/{doc_id}/shared", {"shared": True})
    assert [d["body"]["plan"] for d in (await patient_view())["documents"]] == ["v2"]

    url = f"{base}/api/patient/case-file/attachments"
    async with world.doc.http.get(f"{url}/{shared_file}", headers=session) as response:
        assert response.status == 200 and await response.read() == PDF
    async with world.doc.http.get(f"{url}/{private_file}", headers=session) as response:
        assert response.status == 404
    # The link itself and staff tokens are not patient session tokens.
    async with world.doc.http.get(
        f"{base}/api/patient/case-file", headers={"Authorization": f"Bearer {link['token']}"}
    ) as r:
        assert r.status == 401
    events = await world.platform.audit.events(limit=30)
    assert any(e.actor.startswith("patient:") and e.action == "casefile.download" for e in events)
