"""Consultations, trainings and patients over HTTP: who reads what, what a training is, the audit.

Real server, real socket.io clients, real SQLite (and PostgreSQL where the
driver's limits matter); each test reproduces one defect of issue 13.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from signalling.audit import Outcome
from signalling.auth.tokens import Audience
from signalling.db.models import (
    AuditEvent,
    Consultation,
    ConsultKind,
    ConsultStatus,
    Participant,
    Patient,
    Role,
    Specialty,
    Urgency,
    User,
)
from signalling.errors import Conflict
from signalling.network.facilities import get_facility
from signalling.network.staff import add_user
from signalling.platform import Platform
from signalling.rooms.invites import create_invite
from tests.signalling.care_network import Member, member, served
from tests.signalling.conftest import PASSWORD, make_settings

REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "emergency",
    "question": "ST elevation in V2-V4,\nthrombolysis?",
}
PATIENT = {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"}


@pytest.fixture
async def net(tmp_path: Path) -> AsyncIterator[tuple[Platform, str]]:
    """The test network, plus a second BVCR cardiologist and a nurse at the district centre."""
    async with served(make_settings(tmp_path)) as (platform, url):
        async with platform.db() as db:
            await add_user(
                db,
                username="cr.cardio2",
                full_name="CR.CARDIO2",
                role=Role.SPECIALIST,
                password=PASSWORD,
                facility=await get_facility(db, "BVCR"),
                specialties=[Specialty.CARDIOLOGY],
            )
            await add_user(
                db,
                username="mc.nurse",
                full_name="MC.NURSE",
                role=Role.NURSE,
                password=PASSWORD,
                facility=await get_facility(db, "TTYT-MC"),
            )
            await db.commit()
        yield platform, url


async def user_id(platform: Platform, username: str) -> int:
    async with platform.db() as db:
        found = await db.scalar(select(User.id).where(User.username == username))
    assert found is not None
    return found


async def last_audit_id(platform: Platform) -> int:
    async with platform.db() as db:
        return int(await db.scalar(select(func.coalesce(func.max(AuditEvent.id), 0))) or 0)


async def rows_since(platform: Platform, after: int) -> list[AuditEvent]:
    async with platform.db() as db:
        return list(
            await db.scalars(
                select(AuditEvent).where(AuditEvent.id > after).order_by(AuditEvent.id)
            )
        )


async def new_patient(doc: Member, **fields: Any) -> int:
    status, body = await doc.call("POST", "/api/patients", {**PATIENT, **fields})
    assert status == 201, body
    return int(body["patient"]["id"])


async def count(platform: Platform, model: Any) -> int:
    async with platform.db() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


# Item 2: a request cannot be made a training; a training never carries a patient.


async def test_a_consultation_request_cannot_be_made_a_training(
    net: tuple[Platform, str],
) -> None:
    platform, url = net
    doc = await member(platform, url, "mc.doc", online=False)
    radio = await member(platform, url, "bm.radio", online=False)
    try:
        patient_id = await new_patient(doc)
        before = await count(platform, Consultation)
        mark = await last_audit_id(platform)
        for body in (
            {**REQUEST, "kind": "training", "patient_id": patient_id},
            {**REQUEST, "kind": "training"},
        ):
            status, answer = await doc.call("POST", "/api/consultations", body)
            assert (status, answer["field"]) == (400, "kind"), answer
            assert "POST /api/trainings" in answer["error"]
        assert await count(platform, Consultation) == before
        assert (await radio.call("GET", "/api/trainings"))[1]["trainings"] == []
        refused = [
            r for r in await rows_since(platform, mark) if r.action == "consultation.request"
        ]
        assert [r.outcome for r in refused] == ["denied", "denied"]
        assert {r.actor for r in refused} == {f"user:{await user_id(platform, 'mc.doc')}"}
        assert all(r.ip == "127.0.0.1" and r.actor_role == "doctor" for r in refused)

        # The trainer check of POST /api/trainings is no longer side-stepped: a doctor holds none.
        status, answer = await doc.call("POST", "/api/trainings", {"title": "ECG"})
        assert status == 403, answer
        assert await count(platform, Consultation) == before
    finally:
        await doc.close()
        await radio.close()


async def test_a_training_row_with_a_patient_is_no_open_room(net: tuple[Platform, str]) -> None:
    """What the hole left behind: listed nowhere, no viewer token, no patient link into it."""
    platform, url = net
    doc = await member(platform, url, "mc.doc", online=False)
    radio = await member(platform, url, "bm.radio", online=False)
    try:
        patient_id = await new_patient(doc)
        async with platform.db() as db:
            facility = await get_facility(db, "TTYT-MC")
            legacy = Consultation(
                id=str(uuid.uuid4()),
                kind=ConsultKind.TRAINING,
                specialty="cardiology",
                urgency=Urgency.ROUTINE,
                question="chest pain",
                patient_id=patient_id,
                requester_id=await user_id(platform, "mc.doc"),
                facility_id=facility.id,
                status=ConsultStatus.LIVE,
                ring=1,
                room=f"c-{uuid.uuid4().hex[:16]}",
            )
            db.add(legacy)
            db.add(
                Participant(
                    consultation_id=legacy.id, user_id=legacy.requester_id, part="requester"
                )
            )
            await db.commit()
        assert (await radio.call("GET", "/api/trainings"))[1]["trainings"] == []
        status, body = await radio.call("POST", f"/api/trainings/{legacy.id}/token")
        assert status == 404, body
        # It stays what it is, a consultation: its own clinicians still run it.
        status, body = await doc.call("POST", f"/api/consultations/{legacy.id}/token")
        assert status == 200 and body["room"] == legacy.room
    finally:
        await doc.close()
        await radio.close()


async def join(who: Member, token: str) -> dict[str, Any]:
    ack = await who.sio.call("room.join", {"token": token}, timeout=10)
    assert ack.get("state") == "joined", ack
    return dict(ack)


async def test_the_trainer_check_holds_on_every_path(net: tuple[Platform, str]) -> None:
    platform, url = net
    trainer = await member(platform, url, "bm.cardio")
    nurse = await member(platform, url, "mc.nurse")
    doc = await member(platform, url, "mc.doc", online=False)
    try:
        status, body = await trainer.call("POST", "/api/trainings", {"title": "Đọc ECG"})
        assert status == 201, body
        tid, room = body["training"]["id"], body["training"]["room"]
        _, body = await trainer.call("POST", f"/api/trainings/{tid}/token")
        trainer_token = body["token"]
        _, body = await nurse.call("POST", f"/api/trainings/{tid}/token")
        trainee = await join(nurse, body["token"])
        assert trainee["grants"] == ["chat", "subscribe"]
        await join(trainer, trainer_token)

        # The consultation routes are no way into a training, nor a patient link into its room.
        status, body = await trainer.call("POST", f"/api/consultations/{tid}/token")
        assert status == 409 and f"/api/trainings/{tid}/token" in body["error"], body
        status, body = await trainer.call("POST", f"/api/consultations/{tid}/patient-link", {})
        assert status == 409, body
        status, body = await trainer.call(
            "POST", f"/api/consultations/{tid}/participants", {"username": "mc.doc"}
        )
        assert status == 409, body
        async with platform.db() as db:
            with pytest.raises(Conflict, match="training has no patient"):
                await create_invite(  # what `telehealth invite --room` calls
                    db, platform.signer, room=room, public_url=url, ttl=timedelta(minutes=5)
                )

        # The trainer loses the role mid-session: the token in hand no longer runs the room.
        async with platform.db() as db:
            await db.execute(
                update(User).where(User.username == "bm.cardio").values(role=Role.DOCTOR)
            )
            await db.commit()
        refused = await trainer.sio.call(
            "participant.promote",
            {"participant_id": trainee["participant_id"], "speaker": True},
            timeout=10,
        )
        assert refused == {"error": "only the training's trainer does that"}, refused
        assert (await trainer.sio.call("qa.answer", {"question_id": 1}, timeout=10))["error"]
        status, body = await trainer.call("POST", f"/api/trainings/{tid}/token")
        assert status == 200, body
        claims = platform.signer.verify(body["token"], audience=Audience.ROOM)
        assert sorted(claims.grants) == ["chat", "subscribe"]
        assert (await trainer.call("GET", f"/api/trainings/{tid}/attendance"))[0] == 403
        assert (await trainer.call("POST", "/api/trainings", {"title": "again"}))[0] == 403
    finally:
        for m in (trainer, nurse, doc):
            await m.close()


async def test_speakers_and_questions_belong_to_trainings(net: tuple[Platform, str]) -> None:
    """In a consultation's room (a patient may be in it) there is no promotion, no Q&A board."""
    platform, url = net
    doc = await member(platform, url, "mc.doc")
    spec = await member(platform, url, "bm.cardio")
    try:
        cid = (await doc.call("POST", "/api/consultations", REQUEST))[1]["consultation"]["id"]
        assert (await spec.call("POST", f"/api/consultations/{cid}/accept", {}))[0] == 200
        _, body = await doc.call("POST", f"/api/consultations/{cid}/token")
        await join(doc, body["token"])
        _, body = await spec.call("POST", f"/api/consultations/{cid}/token")
        me = await join(spec, body["token"])
        refused = await doc.sio.call(
            "participant.promote", {"participant_id": me["participant_id"], "speaker": True}
        )
        assert refused == {"error": "questions and speakers are for trainings"}
        asked = await spec.sio.call("qa.ask", {"text": "a question"}, timeout=10)
        assert asked == {"error": "questions and speakers are for trainings"}
    finally:
        await doc.close()
        await spec.close()


# Item 7: once accepted, the rings that were asked read nothing more.


async def test_a_taken_request_leaves_the_rings_that_were_asked(net: tuple[Platform, str]) -> None:
    """Three cardiologists in two rings: BVBM (ring 1), two at BVCR (ring 2)."""
    platform, url = net
    doc = await member(platform, url, "mc.doc")
    nurse = await member(platform, url, "mc.nurse", online=False)
    bm = await member(platform, url, "bm.cardio")
    cr = await member(platform, url, "cr.cardio")
    cr2 = await member(platform, url, "cr.cardio2")
    hue = await member(platform, url, "hue.cardio", on_call=False)
    people = (doc, nurse, bm, cr, cr2, hue)
    try:
        patient_id = await new_patient(doc)
        status, body = await doc.call(
            "POST", "/api/consultations", {**REQUEST, "patient_id": patient_id}
        )
        assert status == 201, body
        cid = body["consultation"]["id"]
        await bm.next("consult.offer")
        status, _ = await bm.call(
            "POST", f"/api/consultations/{cid}/decline", {"reason": "in theatre"}
        )
        assert status == 200
        assert (await cr.next("consult.offer"))["ring"] == 2
        assert (await cr2.next("consult.offer"))["ring"] == 2
        # While it is open, those asked read it; a cardiologist never asked does not.
        for asked in (bm, cr, cr2):
            assert (await asked.call("GET", f"/api/consultations/{cid}"))[0] == 200
        assert [
            c["id"] for c in (await cr2.call("GET", "/api/consultations/queue"))[1]["consultations"]
        ] == [cid]
        assert (await hue.call("GET", f"/api/consultations/{cid}"))[0] == 404

        assert (await cr.call("POST", f"/api/consultations/{cid}/accept", {}))[0] == 200
        assert (await cr2.next("consult.taken"))["id"] == cid
        mark = await last_audit_id(platform)
        for outsider in (bm, cr2, hue):
            status, body = await outsider.call("GET", f"/api/consultations/{cid}")
            assert (status, body) == (404, {"error": "no such consultation"})
            assert (await outsider.call("GET", "/api/consultations/queue"))[1][
                "consultations"
            ] == []
            assert (await outsider.call("POST", f"/api/consultations/{cid}/token"))[0] == 404
            assert (await outsider.call("GET", f"/api/consultations/{cid}/case-file"))[0] in (
                403,
                404,
            )
            status, _ = await outsider.call("POST", f"/api/consultations/{cid}/cancel")
            assert status == 404
        # Its participants and the requesting facility's staff still do.
        for reader in (doc, cr, nurse):
            status, body = await reader.call("GET", f"/api/consultations/{cid}")
            assert status == 200 and body["consultation"]["status"] == "live", body
        reads = [r for r in await rows_since(platform, mark) if r.action == "consultation.read"]
        denied = {r.actor for r in reads if r.outcome == Outcome.DENIED}
        assert denied == {
            f"user:{await user_id(platform, name)}"
            for name in ("bm.cardio", "cr.cardio2", "hue.cardio")
        }
        assert all(r.object_id == cid and r.ip == "127.0.0.1" for r in reads)
        assert sum(r.outcome == Outcome.OK for r in reads) == 3
    finally:
        for m in people:
            await m.close()


# Item 8: bad input is a clear 400 and changes nothing, on both databases.


async def test_out_of_range_ids_and_control_characters_are_refused(
    tmp_path: Path, database_url: str
) -> None:
    async with served(make_settings(tmp_path, database_url=database_url)) as (platform, url):
        doc = await member(platform, url, "mc.doc", online=False)
        trainer = await member(platform, url, "bm.cardio", online=False)
        try:
            patient_id = await new_patient(doc)
            consultations, patients = (
                await count(platform, Consultation),
                await count(platform, Patient),
            )
            for huge in (2**64 + 1, 2**63, 2**31):
                status, body = await doc.call(
                    "POST", "/api/consultations", {**REQUEST, "patient_id": huge}
                )
                assert (status, body["field"]) == (400, "patient_id"), body
                assert (await doc.call("GET", f"/api/patients/{huge}"))[0] in (404,)
            for bad, field in [
                ({**REQUEST, "question": "ST\x00 elevation"}, "question"),
                ({**REQUEST, "question": "ST \x1b[2J elevation"}, "question"),
                ({**REQUEST, "question": "ST elevation\x85"}, "question"),
            ]:
                status, body = await doc.call("POST", "/api/consultations", bad)
                assert (status, body["field"]) == (400, field), body
                assert "control characters are not allowed" in body["error"]
            for name in ("Lò Văn\x00 Páo", "Lò Văn Páo\n", "\x7fLò"):
                status, body = await doc.call(
                    "POST", "/api/patients", {**PATIENT, "identifier": "X-2", "full_name": name}
                )
                assert (status, body["field"]) == (400, "full_name"), body
                assert "control characters are not allowed (found U+" in body["error"]
            status, body = await doc.call(
                "POST", "/api/patients", {**PATIENT, "identifier": "X\x00-2"}
            )
            assert (status, body["field"]) == (400, "identifier"), body
            async with doc.http.get(url + "api/patients", params={"identifier": "07\x00"}) as r:
                assert r.status == 400 and "control characters" in (await r.json())["error"]
            status, body = await trainer.call("POST", "/api/trainings", {"title": "ECG\x00"})
            assert (status, body["field"]) == (400, "title"), body
            status, body = await trainer.call("POST", "/api/trainings", {"title": "ECG\nbasics"})
            assert (status, body["field"]) == (400, "title"), body
            assert (await count(platform, Consultation), await count(platform, Patient)) == (
                consultations,
                patients,
            )
            # Lines are fine where text runs over several, and the patient is still readable.
            status, _ = await doc.call(
                "POST", "/api/consultations", {**REQUEST, "question": "a\r\n\tb"}
            )
            assert status == 201
            assert (await doc.call("GET", f"/api/patients/{patient_id}"))[0] == 200
        finally:
            await doc.close()
            await trainer.close()


# Item 6: every read, write and refusal of these routes writes its row.


async def call(who: Member, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with who.http.request(method, who.base_url.rstrip("/") + path, json=body) as r:
        is_json = r.content_type == "application/json"
        return r.status, await r.json() if is_json else await r.text()


async def test_every_route_writes_its_audit_row_allowed_or_refused(
    net: tuple[Platform, str],
) -> None:
    platform, url = net
    doc = await member(platform, url, "mc.doc", online=False)
    spec = await member(platform, url, "bm.cardio")
    stranger = await member(platform, url, "hue.cardio", online=False)
    names = {doc: "mc.doc", spec: "bm.cardio", stranger: "hue.cardio"}
    ids = {m: f"user:{await user_id(platform, n)}" for m, n in names.items()}
    seen: list[tuple[str, str]] = []

    async def expect(
        who: Member, method: str, path: str, body: Any, status: int, action: str
    ) -> Any:
        mark = await last_audit_id(platform)
        got, answer = await call(who, method, path, body)
        assert got == status, (method, path, answer)
        rows = [
            r
            for r in await rows_since(platform, mark)
            if r.action == action and r.actor == ids[who]
        ]
        outcome = Outcome.OK if status < 400 else Outcome.DENIED
        assert [r.outcome for r in rows] == [outcome], (method, path, action, rows)
        assert rows[0].ip == "127.0.0.1" and rows[0].actor_role == (
            "doctor" if who is doc else "specialist"
        )
        if status >= 400:
            assert json_detail(rows[0])["status"] == status
        seen.append((action, outcome.value))
        return answer

    try:
        # Patients.
        created = await expect(doc, "POST", "/api/patients", PATIENT, 201, "patient.create")
        pid = created["patient"]["id"]
        await expect(doc, "POST", "/api/patients", PATIENT, 409, "patient.create")
        await expect(
            doc, "POST", "/api/patients", {**PATIENT, "full_name": "A\x00"}, 400, "patient.create"
        )
        await expect(doc, "GET", f"/api/patients/{pid}", None, 200, "patient.read")
        await expect(stranger, "GET", f"/api/patients/{pid}", None, 404, "patient.read")
        await expect(doc, "GET", "/api/patients?identifier=079123", None, 200, "patient.search")
        await expect(doc, "GET", "/api/patients?identifier=", None, 400, "patient.search")

        # A request, its reads, its answers.
        request = {**REQUEST, "urgency": "routine", "patient_id": pid}
        await expect(
            doc,
            "POST",
            "/api/consultations",
            {**request, "patient_id": pid + 99},
            404,
            "consultation.request",
        )
        await expect(
            stranger,
            "POST",
            "/api/consultations",
            {**request, "kind": "training"},
            400,
            "consultation.request",
        )
        opened = await expect(
            doc, "POST", "/api/consultations", request, 201, "consultation.request"
        )
        cid = opened["consultation"]["id"]
        await expect(doc, "GET", "/api/consultations", None, 200, "consultation.list")
        await expect(spec, "GET", "/api/consultations/queue", None, 200, "consultation.queue")
        await expect(spec, "GET", f"/api/consultations/{cid}", None, 200, "consultation.read")
        await expect(stranger, "GET", f"/api/consultations/{cid}", None, 404, "consultation.read")
        await expect(
            stranger,
            "POST",
            f"/api/consultations/{cid}/decline",
            {"reason": "no"},
            403,
            "consultation.decline",
        )
        await expect(
            stranger, "POST", f"/api/consultations/{cid}/accept", {}, 403, "consultation.accept"
        )
        await expect(
            spec,
            "POST",
            f"/api/consultations/{cid}/decline",
            {"reason": "busy"},
            200,
            "consultation.decline",
        )
        await expect(doc, "POST", f"/api/consultations/{cid}/token", None, 409, "token.issue")
        when = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        await expect(
            spec,
            "POST",
            f"/api/consultations/{cid}/accept",
            {"scheduled_for": when},
            200,
            "consultation.accept",
        )
        await expect(
            spec, "POST", f"/api/consultations/{cid}/cancel", None, 403, "consultation.cancel"
        )
        await expect(
            stranger, "POST", f"/api/consultations/{cid}/cancel", None, 404, "consultation.cancel"
        )

        # The room: tokens, the patient's link, colleagues, the invitation.
        await expect(spec, "POST", f"/api/consultations/{cid}/token", None, 200, "token.issue")
        await expect(stranger, "POST", f"/api/consultations/{cid}/token", None, 404, "token.issue")
        await expect(
            doc, "POST", f"/api/consultations/{cid}/patient-link", {}, 201, "invite.create"
        )
        await expect(
            stranger, "POST", f"/api/consultations/{cid}/patient-link", {}, 404, "invite.create"
        )
        await expect(
            spec,
            "POST",
            f"/api/consultations/{cid}/participants",
            {"username": "nobody"},
            404,
            "consultation.invite",
        )
        await expect(
            stranger,
            "POST",
            f"/api/consultations/{cid}/participants",
            {"username": "mc.doc"},
            404,
            "consultation.invite",
        )
        await expect(
            spec,
            "POST",
            f"/api/consultations/{cid}/participants",
            {"username": "cr.cardio"},
            201,
            "consultation.invite",
        )
        await expect(
            doc, "GET", f"/api/consultations/{cid}/calendar.ics", None, 200, "consultation.calendar"
        )
        await expect(
            stranger,
            "GET",
            f"/api/consultations/{cid}/calendar.ics",
            None,
            404,
            "consultation.calendar",
        )
        await expect(
            doc, "POST", f"/api/consultations/{cid}/cancel", None, 200, "consultation.cancel"
        )
        await expect(
            doc, "POST", f"/api/consultations/{cid}/cancel", None, 409, "consultation.cancel"
        )

        # On call, and trainings.
        await expect(spec, "PUT", "/api/me/on-call", {"on_call": True}, 200, "user.on_call")
        await expect(doc, "PUT", "/api/me/on-call", {"on_call": True}, 404, "user.on_call")
        await expect(doc, "POST", "/api/trainings", {"title": "ECG"}, 403, "training.create")
        made = await expect(
            spec, "POST", "/api/trainings", {"title": "ECG"}, 201, "training.create"
        )
        tid = made["training"]["id"]
        await expect(doc, "GET", "/api/trainings", None, 200, "training.list")
        await expect(doc, "POST", f"/api/trainings/{tid}/token", None, 200, "token.issue")
        await expect(doc, "POST", f"/api/trainings/{cid}/token", None, 404, "token.issue")
        await expect(
            spec, "GET", f"/api/trainings/{tid}/attendance", None, 200, "training.attendance"
        )
        await expect(
            doc, "GET", f"/api/trainings/{tid}/attendance", None, 403, "training.attendance"
        )
    finally:
        for m in (doc, spec, stranger):
            await m.close()

    # The dispatcher's own steps are there too, as the system's.
    async with platform.db() as db:
        system = set(
            await db.scalars(select(AuditEvent.action).where(AuditEvent.actor == "system"))
        )
    assert {"consultation.offer", "consultation.escalate"} <= system
    # Every call above found exactly its own row (41 calls, allowed and refused).
    assert len(seen) == 41 and {outcome for _, outcome in seen} == {"ok", "denied"}


def json_detail(row: AuditEvent) -> dict[str, Any]:
    return dict(json.loads(row.detail))
