"""Recording a consultation room: consent first, per-track files of forwarded media.

Real aiortc clients publish through the SFU; the recorder taps the forwarded
RTP; the files are opened with PyAV afterwards.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import av
import pytest
import socketio
from sqlalchemy import select

from signalling.db.case_file_models import CaseEntry
from signalling.db.recording_models import RecordingFile
from tests.media_server.sfu_clients import NumberedVideoTrack, requires_network
from tests.signalling.care_network import member, served
from tests.signalling.conftest import make_settings
from tests.signalling.rooms.test_manager import Consult, emit
from tests.signalling.rooms.test_room_media import SocketMediaClient

pytestmark = requires_network


@pytest.fixture
async def consult(tmp_path: Path, database_url: str) -> AsyncIterator[Consult]:
    """An accepted consultation about a registered patient, on SQLite and PostgreSQL."""
    async with served(make_settings(tmp_path, database_url=database_url)) as (platform, url):
        c = Consult(platform, url, with_patient=True)
        await c.start()
        try:
            yield c
        finally:
            await c.close()


async def patient_in_lobby(c: Consult) -> tuple[socketio.AsyncClient, asyncio.Queue[Any], str]:
    events: asyncio.Queue[Any] = asyncio.Queue()
    sio = socketio.AsyncClient(reconnection=False)
    sio.on("*", lambda name, data=None: events.put_nowait((name, data)))
    await sio.connect(c.url, transports=["websocket"], wait_timeout=5)
    ack = await sio.call("room.join", {"token": await c.patient_link(), "name": "Páo"}, timeout=10)
    return sio, events, ack["participant_id"]


async def next_event(events: asyncio.Queue[Any], name: str, timeout: float = 10) -> Any:
    while True:
        got, data = await asyncio.wait_for(events.get(), timeout)
        if got == name:
            return data


async def test_consent_then_per_track_files(consult: Consult, tmp_path: Path) -> None:
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    doc, spec = SocketMediaClient(consult.doc), SocketMediaClient(consult.spec)
    patient, patient_events, patient_id = await patient_in_lobby(consult)
    try:
        await doc.publish(NumberedVideoTrack(base=20))
        await spec.publish(NumberedVideoTrack(base=-20))
        await emit(consult.spec, "room.admit", {"participant_id": patient_id})
        await next_event(patient_events, "room.admitted")

        # The patient may not start a recording.
        refused = await patient.call("recording.request", {}, timeout=10)
        assert refused["error"] == "you may not record in this room"

        ack = await emit(consult.spec, "recording.request")
        assert ack["status"] == "consent"  # a patient is present and must answer
        ask = await next_event(patient_events, "recording.consent_request")
        assert ask["by"] == "BM.CARDIO"
        answer = await patient.call(
            "recording.consent", {"recording_id": ack["recording_id"], "accept": False}, timeout=10
        )
        assert answer["status"] == "recording"  # the others are recorded, the patient is not
        update = await consult.spec.next("recording.consent_update")
        assert (update["participant_id"], update["decision"]) == (patient_id, "refused")
        started = await next_event(patient_events, "recording.started")
        assert started["excluded"] == [patient_id]

        await asyncio.sleep(3.0)
        stopped = await emit(consult.spec, "recording.stop")
        assert stopped["files"] == 2  # one video track per clinician
    finally:
        await doc.close()
        await spec.close()
        await patient.disconnect()

    platform = consult.platform
    directory = platform.settings.data_dir / "recordings"
    async with platform.db() as db:
        files = list(await db.scalars(select(RecordingFile)))
        consent_docs = list(await db.scalars(select(CaseEntry).where(CaseEntry.kind == "consent")))
    assert {f.participant_id for f in files} == {
        (await _member_id(consult, "mc.doc")),
        (await _member_id(consult, "bm.cardio")),
    }
    for f in files:
        path = directory / f.path
        assert hashlib.sha256(path.read_bytes()).hexdigest() == f.sha256
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert stream.codec_context.name == "vp8"
            decoded = sum(1 for _ in container.decode(stream))
        assert decoded > 30  # about 3 s at 30 fps, none failing to decode
        assert f.duration_s is not None and 2.0 < f.duration_s < 4.5
    assert [json.loads(d.body)["decision"] for d in consent_docs] == ["refused"]
    actions = [
        (e.action, json.loads(e.detail).get("decision"))
        for e in await platform.audit.events(limit=50)
    ]
    assert ("recording.consent", "refused") in actions

    # Playback and download: the clinicians may, others are refused (and audited).
    status, body = await consult.spec.call("GET", f"/api/consultations/{consult.id}/recordings")
    assert status == 200
    (recording,) = body["recordings"]
    assert recording["status"] == "stopped"
    assert [f["kind"] for f in recording["files"]][:2] == ["video", "video"]
    first = recording["files"][0]

    # The composite is made after the session, in another process, with a progress figure.
    deadline = asyncio.get_running_loop().time() + 90
    while True:
        _, body = await consult.spec.call("GET", f"/api/consultations/{consult.id}/recordings")
        (recording,) = body["recordings"]
        assert 0.0 <= recording["composite_progress"] <= 1.0
        composite = [f for f in recording["files"] if f["kind"] == "composite"]
        if composite:
            break
        assert asyncio.get_running_loop().time() < deadline, "no composite"
        await asyncio.sleep(0.5)
    grid = directory / next(f.path for f in await _files(consult) if f.kind == "composite")
    with av.open(str(grid)) as container:
        frames = [f.to_ndarray(format="yuv420p") for f in container.decode(video=0)]
    assert frames and abs((composite[0]["duration_s"] or 0) - files[0].duration_s) < 1.5
    base = consult.url.rstrip("/")
    async with consult.doc.http.get(f"{base}/api/recordings/files/{first['id']}") as response:
        assert response.status == 200 and response.content_type == "video/webm"
        assert hashlib.sha256(await response.read()).hexdigest() == first["sha256"]
    stranger = await member(platform, consult.url, "hue.cardio", online=False)
    try:
        assert (await stranger.call("GET", f"/api/consultations/{consult.id}/recordings"))[0] == 403
        async with stranger.http.get(f"{base}/api/recordings/files/{first['id']}") as response:
            assert response.status == 403
    finally:
        await stranger.close()
    assert any(
        e.action == "recording.download" and e.outcome == "ok"
        for e in await platform.audit.events(limit=20)
    )

    # Retention: an administrator deletes what is older than the setting.
    from datetime import timedelta

    from signalling.audit import SYSTEM
    from signalling.db.recording_models import Recording
    from signalling.db.types import utcnow
    from signalling.recording.routes import purge_expired

    async with platform.db() as db:
        row = await db.get(Recording, recording["id"])
        assert row is not None
        row.ended_at = utcnow() - timedelta(days=40)
        await db.commit()
    platform.settings = platform.settings.model_copy(update={"recording_retention_days": 30})
    assert await purge_expired(platform, SYSTEM) == 3  # two tracks and the composite
    async with consult.doc.http.get(f"{base}/api/recordings/files/{first['id']}") as response:
        assert response.status == 404
    assert not any((directory / f.path).exists() for f in files)
    assert not grid.exists()


async def _member_id(c: Consult, username: str) -> str:
    from signalling.db.models import User

    async with c.platform.db() as db:
        user = await db.scalar(select(User).where(User.username == username))
    assert user is not None
    return f"u{user.id}"


async def test_fhir_export_carries_the_patients_consent(consult: Consult) -> None:
    from fhir.resources.R4B.bundle import Bundle

    await consult.enter(consult.spec)
    patient, patient_events, patient_id = await patient_in_lobby(consult)
    try:
        await emit(consult.spec, "room.admit", {"participant_id": patient_id})
        await next_event(patient_events, "room.admitted")
        ack = await emit(consult.spec, "recording.request")
        await patient.call(
            "recording.consent", {"recording_id": ack["recording_id"], "accept": True}, timeout=10
        )
        await emit(consult.spec, "recording.stop")
    finally:
        await patient.disconnect()
    status, raw = await consult.spec.call("GET", f"/api/consultations/{consult.id}/fhir")
    assert status == 200
    consents = [
        e.resource
        for e in Bundle.model_validate(raw).entry
        if e.resource.get_resource_type() == "Consent"
    ]
    assert len(consents) == 1
    assert consents[0].status == "active" and consents[0].provision.type == "permit"


async def _files(c: Consult) -> list[RecordingFile]:
    async with c.platform.db() as db:
        return list(await db.scalars(select(RecordingFile)))
