"""Rooms over socket.io: lobby, moderation, chat, reconnects, floods, bad events."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import socketio
from aiohttp import web

from signalling.platform import Platform
from signalling.settings import Settings
from tests.signalling.care_network import Member, member, served_app
from tests.signalling.conftest import make_settings

REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "urgent",
    "question": "Chest pain, troponin rising",
}


class Patient:
    """A browser with nothing but a link: an anonymous socket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("*", lambda name, data=None: self.events.put_nowait((name, data)))

    async def connect(self) -> None:
        await self.sio.connect(self.base_url, transports=["websocket"], wait_timeout=5)

    async def emit(self, event: str, data: Any = None) -> Any:
        return await self.sio.call(event, data, timeout=10)

    next = Member.next
    nothing = Member.nothing


async def emit(who: Member | Patient, event: str, data: Any = None) -> Any:
    return await who.sio.call(event, data, timeout=10)


class Consult:
    """An accepted consultation with its two clinicians in the room."""

    def __init__(self, platform: Platform, url: str, *, with_patient: bool = False) -> None:
        self.platform, self.url = platform, url
        self.with_patient = with_patient

    async def start(self) -> None:
        self.doc = await member(self.platform, self.url, "mc.doc")
        self.spec = await member(self.platform, self.url, "bm.cardio")
        request = dict(REQUEST)
        if self.with_patient:
            status, body = await self.doc.call(
                "POST",
                "/api/patients",
                {"full_name": "Lò Văn Páo", "sex": "male", "identifier": "079123"},
            )
            assert status == 201, body
            request["patient_id"] = body["patient"]["id"]
        status, body = await self.doc.call("POST", "/api/consultations", request)
        assert status == 201, body
        self.id = body["consultation"]["id"]
        status, body = await self.spec.call("POST", f"/api/consultations/{self.id}/accept", {})
        assert status == 200, body
        self.room = body["consultation"]["room"]

    async def token(self, who: Member) -> str:
        status, body = await who.call("POST", f"/api/consultations/{self.id}/token")
        assert status == 200, body
        assert body["room"] == self.room
        return str(body["token"])

    async def enter(self, who: Member) -> dict[str, Any]:
        ack = await emit(who, "room.join", {"token": await self.token(who)})
        assert ack.get("state") == "joined", ack
        return dict(ack)

    async def patient_link(self) -> str:
        status, body = await self.doc.call("POST", f"/api/consultations/{self.id}/patient-link", {})
        assert status == 201, body
        assert body["url"].endswith("#" + body["token"])
        return str(body["token"])

    async def close(self) -> None:
        await self.doc.close()
        await self.spec.close()


def settings_for(tmp_path: Path, **kw: Any) -> Settings:
    return make_settings(tmp_path, **kw)


@contextlib.asynccontextmanager
async def consult_served(
    settings: Settings, *, with_patient: bool = False
) -> AsyncIterator[tuple[web.Application, Consult]]:
    """The real application with the test network, served over TCP, and an accepted
    consultation on it, its two clinicians logged in: (app, consult)."""
    async with served_app(settings) as (platform, app, url):
        c = Consult(platform, url, with_patient=with_patient)
        await c.start()
        try:
            yield app, c
        finally:
            await c.close()


async def let_in(consult: Consult, patient: Patient, **join: Any) -> dict[str, Any]:
    """The patient joins with a fresh link and the doctor admits them: the join's ack."""
    ack = await patient.emit("room.join", {"token": await consult.patient_link(), **join})
    assert (await emit(consult.doc, "room.admit", {"participant_id": ack["participant_id"]}))["ok"]
    await patient.next("room.admitted")
    return dict(ack)


@pytest.fixture
async def consult(tmp_path: Path, database_url: str) -> AsyncIterator[Consult]:
    """Every room test runs against SQLite and PostgreSQL."""
    settings = settings_for(tmp_path, room_grace_seconds=8, database_url=database_url)
    async with consult_served(settings) as (_, c):
        yield c


async def test_lobby_admit_and_refuse(consult: Consult) -> None:
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)

    patient = Patient(consult.url)
    await patient.connect()
    link = await consult.patient_link()
    ack = await patient.emit("room.join", {"token": link, "name": "Lò Văn Páo"})
    assert ack["state"] == "lobby" and "session_token" in ack
    assert "participants" not in ack  # nothing of the room before admission
    lobby = await consult.doc.next("room.lobby")
    assert [p["name"] for p in lobby["lobby"]] == ["Lò Văn Páo"]
    refused = await patient.emit("chat.send", {"text": "xin chào", "client_id": "1"})
    assert refused["error"] == "wait until a clinician lets you in"

    # The same link in another browser: refused, it was used.
    thief = Patient(consult.url)
    await thief.connect()
    assert (await thief.emit("room.join", {"token": link}))["error"] == (
        "this link has been used already"
    )

    # Only a moderator admits; the specialist is one, so is the requester.
    assert (await emit(consult.spec, "room.admit", {"participant_id": ack["participant_id"]}))["ok"]
    admitted = await patient.next("room.admitted")
    assert {p["name"] for p in admitted["participants"]} == {"MC.DOC", "BM.CARDIO", "Lò Văn Páo"}
    joined = await consult.doc.next("participant.joined")
    assert joined["role"] == "patient"
    assert (await patient.emit("chat.send", {"text": "xin chào", "client_id": "1"}))["id"] > 0

    # A second link, refused at the door, cannot come back with its session token.
    second = Patient(consult.url)
    await second.connect()
    ack2 = await second.emit("room.join", {"token": await consult.patient_link()})
    await emit(consult.doc, "room.refuse", {"participant_id": ack2["participant_id"]})
    assert "by" in await second.next("room.refused")
    again = Patient(consult.url)
    await again.connect()
    back = await again.emit("room.join", {"token": ack2["session_token"]})
    assert back["error"] == "you were removed from this room"
    for p in (patient, thief, second, again):
        await p.sio.disconnect()


async def test_bad_links_are_refused(consult: Consult) -> None:
    link = await consult.patient_link()
    patient = Patient(consult.url)
    await patient.connect()
    payload = jwt.decode(link, options={"verify_signature": False})
    unsigned = jwt.encode(payload, None, algorithm="none")
    forged = jwt.encode({**payload, "room": "c-other"}, b"x" * 32, algorithm="HS256")
    for token, error in [
        (unsigned, "the token is invalid"),
        (forged, "the token is invalid"),
        (link[:-4] + "AAAA", "the token is invalid"),
        ("x" * 20, "the token is invalid"),
    ]:
        refused = await patient.emit("room.join", {"token": token})
        assert (refused["error"], refused["code"]) == (error, "link_invalid")
    # None of those used the link up.
    assert (await patient.emit("room.join", {"token": link}))["state"] == "lobby"
    await patient.sio.disconnect()
    # Used once, the link is refused with a code the patient's page explains.
    again = Patient(consult.url)
    await again.connect()
    refused = await again.emit("room.join", {"token": link})
    assert refused == {"error": "this link has been used already", "code": "link_used"}
    await again.sio.disconnect()


async def test_moderator_actions(consult: Consult) -> None:
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    # A colleague invited later is not a moderator.
    colleague = await member(consult.platform, consult.url, "cr.cardio")
    async with consult.platform.db() as db:
        from sqlalchemy import select

        from signalling.db.models import Participant, User

        cr = await db.scalar(select(User).where(User.username == "cr.cardio"))
        assert cr is not None
        db.add(Participant(consultation_id=consult.id, user_id=cr.id, part="invited"))
        await db.commit()

    assert (await emit(consult.spec, "room.lock", {"locked": True}))["ok"]
    assert (await consult.doc.next("room.locked"))["locked"] is True
    ack = await emit(colleague, "room.join", {"token": await consult.token(colleague)})
    assert ack["state"] == "lobby"  # locked: even staff wait
    await emit(consult.spec, "room.admit", {"participant_id": ack["participant_id"]})
    await colleague.next("room.admitted")

    denied = await emit(colleague, "participant.remove", {"participant_id": "u1"})
    assert denied["error"] == "only a moderator may do that"

    doc_id = await emit(consult.doc, "room.refresh")  # still here, token refreshed
    assert "token" in doc_id
    await emit(
        consult.spec, "participant.mute", {"participant_id": ack["participant_id"], "kind": "audio"}
    )
    assert (await colleague.next("room.muted"))["kind"] == "audio"

    await emit(colleague, "hand.raise", {"raised": True})
    raised = await consult.doc.next("participant.updated")
    while not raised.get("hand_raised"):
        raised = await consult.doc.next("participant.updated")
    assert raised["id"] == ack["participant_id"]

    await emit(consult.spec, "participant.remove", {"participant_id": ack["participant_id"]})
    await colleague.next("room.removed")
    left = await consult.doc.next("participant.left")
    assert left == {"id": ack["participant_id"], "reason": "removed"}

    token = await consult.token(consult.doc)
    await emit(consult.doc, "room.end")
    assert "by" in await consult.spec.next("room.ended")
    # A token issued before the end does not open the room again.
    assert (await emit(consult.doc, "room.join", {"token": token}))["error"] == (
        "this session has ended"
    )
    status, body = await consult.doc.call("GET", f"/api/consultations/{consult.id}")
    assert (status, body["consultation"]["status"]) == (200, "ended")
    await colleague.close()


async def test_chat_reaches_late_joiners_and_survives_a_socket_drop(consult: Consult) -> None:
    await consult.enter(consult.doc)
    sent = []
    for i in range(3):
        ack = await emit(consult.doc, "chat.send", {"text": f"note {i}", "client_id": f"c{i}"})
        sent.append(ack["id"])
    # A resend after a lost ack stores nothing twice.
    dup = await emit(consult.doc, "chat.send", {"text": "note 0", "client_id": "c0"})
    assert dup == {"id": sent[0], "duplicate": True}

    ack = await consult.enter(consult.spec)  # the late joiner gets the history
    assert [m["text"] for m in ack["chat"]] == ["note 0", "note 1", "note 2"]

    # The doctor's socket drops for 5 s; the specialist must not see a leave or a join.
    token = await consult.token(consult.doc)
    await consult.doc.sio.disconnect()
    await emit(consult.spec, "chat.send", {"text": "while you were away", "client_id": "s1"})
    await asyncio.sleep(5)
    consult.doc.sio = socketio.AsyncClient(reconnection=False)
    consult.doc.sio.on("*", lambda name, data=None: consult.doc.events.put_nowait((name, data)))
    await consult.doc.connect()
    back = await emit(consult.doc, "room.join", {"token": token})
    assert back["resumed"] is True and back["state"] == "joined"
    missed = await emit(consult.doc, "chat.history", {"after_id": sent[-1]})
    assert [m["text"] for m in missed["messages"]] == ["while you were away"]
    await consult.spec.nothing("participant.left", wait=0.2)
    await consult.spec.nothing("participant.joined", wait=0.2)


async def test_grace_period_ends_in_a_leave(tmp_path: Path) -> None:
    async with consult_served(settings_for(tmp_path, room_grace_seconds=1)) as (_, c):
        joined = await c.enter(c.doc)
        await c.enter(c.spec)
        await c.doc.sio.disconnect()
        left = await c.spec.next("participant.left", timeout=5)
        assert left == {"id": joined["participant_id"], "reason": "disconnected"}


async def consultation_status(c: Consult) -> str:
    status, body = await c.doc.call("GET", f"/api/consultations/{c.id}")
    assert status == 200, body
    return str(body["consultation"]["status"])


async def test_a_room_nobody_is_in_ends_by_itself(tmp_path: Path) -> None:
    """Left by everyone, the consultation stays live while someone may come back
    (coming back starts the wait again), then ends, audited, and cannot be joined."""
    settings = settings_for(tmp_path, room_grace_seconds=0.5, room_idle_end_seconds=2)
    async with consult_served(settings) as (_, c):
        await c.enter(c.doc)
        assert await consultation_status(c) == "live"
        await emit(c.doc, "room.leave", {})
        await asyncio.sleep(1)  # within the idle time: the doctor comes back
        await c.enter(c.doc)
        await asyncio.sleep(1.5)  # past the first wait: it was cancelled
        assert await consultation_status(c) == "live"
        await emit(c.doc, "room.leave", {})
        deadline = asyncio.get_running_loop().time() + 15
        while await consultation_status(c) == "live":
            assert asyncio.get_running_loop().time() < deadline, "still live"
            await asyncio.sleep(0.2)
        assert await consultation_status(c) == "ended"
        events = await c.platform.audit.events(limit=20)
        assert [e.actor for e in events if e.action == "room.idle_end"] == ["system"]
        status, body = await c.doc.call("POST", f"/api/consultations/{c.id}/token")
        assert status == 409 and "ended" in body["error"], body
        assert body["code"] == "session_ended"  # what the page says it with


async def test_a_chat_flood_cuts_off_the_flooder_only(consult: Consult) -> None:
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    flooder = await member(consult.platform, consult.url, "mc.doc")  # a second tab
    # (the doctor's second tab replaces the first as the doctor's connection)
    await emit(flooder, "room.join", {"token": await consult.token(flooder)})
    for i in range(1000):
        await flooder.sio.emit("chat.send", {"text": f"spam {i}", "client_id": f"f{i}"})
    await asyncio.sleep(1.0)
    assert not flooder.sio.connected  # cut off
    # The others go on as before.
    ack = await emit(consult.spec, "chat.send", {"text": "still here", "client_id": "ok"})
    assert "id" in ack
    received = []
    while True:
        name, data = await asyncio.wait_for(consult.spec.events.get(), 5)
        if name == "chat.message":
            received.append(data["text"])
            if data["text"] == "still here":
                break
    assert len([t for t in received if t.startswith("spam")]) <= 12  # the burst allowance
    await flooder.close()


async def test_bad_events_change_nothing(consult: Consult) -> None:
    sio = consult.doc.sio
    assert (await sio.call("room.join", {}, timeout=5))["field"] == "token"
    assert (await sio.call("room.join", "not an object", timeout=5))["error"]
    assert (await sio.call("chat.send", {"text": "x"}, timeout=5))["field"] == "client_id"
    assert (await sio.call("chat.send", {"text": "x", "client_id": "a"}, timeout=5))[
        "error"
    ] == "join a room first"
    assert (await sio.call("no.such.event", {}, timeout=5))["error"].startswith("unknown event")
    await consult.enter(consult.doc)
    long = {"text": "x" * 2001, "client_id": "b"}
    assert (await sio.call("chat.send", long, timeout=5))["field"] == "text"
    bad_sdp = await sio.call("media.publish", {"sdp": "v=0\r\ngarbage"}, timeout=10)
    assert "error" in bad_sdp
    assert (await sio.call("media.ice", {"connection": "sideways"}, timeout=5))[
        "field"
    ] == "connection"
    # Still in the room and working.
    assert "id" in await sio.call(
        "chat.send", {"text": "ok", "client_id": uuid.uuid4().hex}, timeout=5
    )


async def test_join_hands_out_stun_and_time_limited_turn(tmp_path: Path) -> None:
    import base64
    import hashlib
    import hmac
    import time

    settings = settings_for(
        tmp_path,
        ice_servers=["stun:stun.benhvien.example:3478"],
        turn_urls=["turns:turn.benhvien.example:443?transport=tcp"],
        turn_secret="coturn-shared-secret",
        turn_ttl_seconds=3600,
    )
    async with consult_served(settings) as (_, c):
        ack = await c.enter(c.doc)
        stun, turn = ack["ice_servers"]
        assert stun == {"urls": ["stun:stun.benhvien.example:3478"]}
        assert turn["urls"] == ["turns:turn.benhvien.example:443?transport=tcp"]
        expiry, user = turn["username"].split(":", 1)
        assert user == ack["participant_id"]
        assert 3500 < int(expiry) - time.time() <= 3600
        # What coturn's use-auth-secret computes from the same secret.
        expected = base64.b64encode(
            hmac.new(b"coturn-shared-secret", turn["username"].encode(), hashlib.sha1).digest()
        ).decode()
        assert turn["credential"] == expected


def test_turn_settings_come_in_pairs(tmp_path: Path) -> None:
    from signalling.settings import SettingsError

    with pytest.raises(SettingsError, match="turn_urls and turn_secret"):
        settings_for(tmp_path, turn_urls=["turn:t.example:3478"])
    with pytest.raises(SettingsError, match="TELEHEALTH_ICE_SERVERS"):
        settings_for(tmp_path, ice_servers=["http://stun.example"])
    with pytest.raises(SettingsError, match="TELEHEALTH_MEDIA_ANNOUNCED_ADDRESS"):
        settings_for(tmp_path, media_announced_address="not-an-ip")


async def test_a_patient_cannot_open_the_case_files_images(consult: Consult) -> None:
    """view.open needs the room token's case-file grant; a patient's has none."""
    from tests.signalling.imaging_helpers import audit_rows, ct5n, upload

    files = [(p.name, p.read_bytes()) for p in ct5n()]
    status, body = await upload(consult.doc, consult.id, files)
    assert status == 200, body
    series = body["results"][0]["series_uid"]
    await consult.enter(consult.doc)
    patient = Patient(consult.url)
    await patient.connect()
    try:
        await let_in(consult, patient)
        refused = await patient.emit("view.open", {"object_id": series, "kind": "series"})
        assert refused == {"error": "only the care team opens the case file's images"}
        await consult.doc.nothing("view.state", wait=0.3)  # nothing was shown to the room
        denied = [r for r in await audit_rows(consult.platform, "imaging.view")]
        assert [(r.outcome, r.actor_role, r.object_id) for r in denied] == [
            ("denied", "patient", series)
        ]
        # The care team still opens it, and the patient then follows it.
        assert "state" in await emit(
            consult.doc, "view.open", {"object_id": series, "kind": "series"}
        )
        assert (await patient.next("view.state"))["object_id"] == series
    finally:
        await patient.sio.disconnect()
