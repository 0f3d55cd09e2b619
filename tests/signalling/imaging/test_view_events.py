"""Shared viewing over socket.io: viewers follow the presenter's slice and
window, stale updates are dropped, a late joiner is in step at once,
control is handed over, and only state travels."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from signalling.platform import Platform
from tests.signalling.care_network import Member, member
from tests.signalling.imaging_helpers import ct5n, served_consult, upload
from tests.signalling.rooms.test_manager import Consult, emit


@pytest.fixture
async def served(tmp_path: Path, database_url: str) -> AsyncIterator[tuple[Platform, Consult]]:
    async for platform, _, consult in served_consult(tmp_path, database_url):
        yield platform, consult


async def _third(platform: Platform, consult: Consult) -> Member:
    status, body = await consult.doc.call(
        "POST", f"/api/consultations/{consult.id}/participants", {"username": "bm.radio"}
    )
    assert status == 201, body
    return await member(platform, consult.url, "bm.radio")


async def _series(consult: Consult) -> str:
    files = [(p.name, p.read_bytes()) for p in ct5n()]
    status, body = await upload(consult.doc, consult.id, files)
    assert status == 200 and body["accepted"] == 5
    return str(body["results"][0]["series_uid"])


async def test_viewers_follow_the_presenter_and_a_late_joiner_is_in_step(
    served: tuple[Platform, Consult],
) -> None:
    platform, consult = served
    series = await _series(consult)
    radio = await _third(platform, consult)
    try:
        await consult.enter(consult.doc)
        await consult.enter(consult.spec)
        await consult.enter(radio)

        opened = await emit(consult.doc, "view.open", {"object_id": series, "kind": "series"})
        state = opened["state"]
        assert state["frames"] == 5 and state["version"] == 0
        presenter = state["presenter"]
        assert presenter is not None and presenter.startswith("u")
        for viewer in (consult.spec, radio):
            seen = await viewer.next("view.state")
            assert seen == state

        change = {"version": 1, "frame": 3, "window": {"center": 40, "width": 400}}
        ack = await emit(consult.doc, "view.update", {"object_id": series, "update": change})
        assert ack["applied"] is True
        for viewer in (consult.spec, radio):
            seen = await viewer.next("view.state")
            assert (seen["frame"], seen["window"], seen["version"]) == (
                3,
                {"center": 40.0, "width": 400.0},
                1,
            )
            assert not any(k in seen for k in ("pixels", "data", "image"))

        # a late, out-of-order update is dropped and nobody hears of it
        stale = {"version": 1, "frame": 0}
        ack = await emit(consult.doc, "view.update", {"object_id": series, "update": stale})
        assert ack == {"applied": False, "stale": True, "state": seen}
        # a follower cannot drive
        ack = await emit(
            consult.spec, "view.update", {"object_id": series, "update": {"version": 9, "frame": 1}}
        )
        assert "presents" in ack["error"]
        await consult.spec.nothing("view.state", wait=0.3)

        # a late joiner gets the current state in its join answer
        await emit(radio, "room.leave")
        await consult.doc.next("participant.left")
        joined = await consult.enter(radio)
        assert joined["views"] == [seen]

        # hand-over: the specialist drives, the doctor follows
        ack = await emit(
            consult.doc,
            "view.handover",
            {"object_id": series, "participant_id": joined["participant_id"]},
        )
        assert ack["applied"] and ack["state"]["presenter"] == joined["participant_id"]
        assert (await radio.next("view.state"))["presenter"] == joined["participant_id"]
        ack = await emit(
            radio, "view.update", {"object_id": series, "update": {"version": 5, "frame": 4}}
        )
        assert ack["applied"]
        assert (await consult.doc.next("view.state"))["frame"] == 4
        assert presenter != joined["participant_id"]
    finally:
        await radio.close()


async def test_objects_outside_the_case_file_cannot_be_shown(
    served: tuple[Platform, Consult],
) -> None:
    _, consult = served
    await consult.enter(consult.doc)
    ack = await emit(consult.doc, "view.open", {"object_id": "1.2.3.4", "kind": "series"})
    assert ack["error"] == "no such object in this consultation's case file"
    ack = await emit(consult.doc, "view.open", {"object_id": "../etc", "kind": "series"})
    assert ack["field"] == "object_id"
    ack = await emit(consult.doc, "view.update", {"object_id": "1.2.3", "update": {"version": 1}})
    assert ack["error"] == "that object is not shown in this room"


async def test_when_the_presenter_leaves_someone_claims_control(
    served: tuple[Platform, Consult],
) -> None:
    _, consult = served
    series = await _series(consult)
    await consult.enter(consult.doc)
    spec = await consult.enter(consult.spec)
    await emit(consult.doc, "view.open", {"object_id": series, "kind": "series"})
    await consult.spec.next("view.state")
    assert (await emit(consult.spec, "view.claim", {"object_id": series}))["error"]
    await emit(consult.doc, "room.leave")
    orphan = await consult.spec.next("view.state")
    assert orphan["presenter"] is None
    ack = await emit(consult.spec, "view.claim", {"object_id": series})
    assert ack["state"]["presenter"] == spec["participant_id"]
    ack = await emit(consult.spec, "view.close", {"object_id": series})
    assert ack == {"ok": True}
