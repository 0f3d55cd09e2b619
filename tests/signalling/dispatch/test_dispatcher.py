"""The dispatch story with real socket.io clients against the running server."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestServer

from signalling.app import build_app
from signalling.platform import Platform, open_platform
from signalling.settings import Settings
from tests.conftest import RedisServer
from tests.signalling.care_network import (
    NETWORK_USERS,
    ServerProcess,
    build_network,
    member,
    network,
)
from tests.signalling.conftest import make_settings

__all__ = ["network"]


def fast_settings(tmp_path: Path, **kw: Any) -> Settings:
    return make_settings(tmp_path, dispatch_emergency_seconds=1, **kw)


REQUEST = {
    "kind": "clinical_consultation",
    "specialty": "cardiology",
    "urgency": "emergency",
    "question": "ST elevation in V2-V4, thrombolysis?",
}


async def test_request_offered_to_the_paired_ring_first_accepted_once(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path, database_url=database_url)
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        server = TestServer(build_app(platform))
        await server.start_server()
        url = str(server.make_url("/"))
        people = {name: await member(platform, url, name) for name in NETWORK_USERS}
        try:
            doc, bm, cr = people["mc.doc"], people["bm.cardio"], people["cr.cardio"]
            status, body = await doc.call("POST", "/api/consultations", REQUEST)
            assert status == 201, body
            cid = body["consultation"]["id"]
            assert body["consultation"]["ring"] == 1

            offer = await bm.next("consult.offer")
            assert offer["id"] == cid and offer["urgency"] == "emergency"
            first = await doc.next("consult.status")
            assert (first["ring"], first["escalated"], first["offered"]) == (1, False, 1)
            await cr.nothing("consult.offer")  # ring 2 is not asked yet
            await people["bm.radio"].nothing("consult.offer")  # wrong specialty

            assert (await bm.call("GET", "/api/consultations/queue"))[1]["consultations"][0][
                "id"
            ] == cid
            status, body = await bm.call("POST", f"/api/consultations/{cid}/accept", {})
            assert status == 200 and body["consultation"]["status"] == "live"
            accepted = await doc.next("consult.accepted")
            assert accepted["accepted_by"]["username"] == "bm.cardio"
            # A second accept is refused, naming who has it.
            status, body = await bm.call("POST", f"/api/consultations/{cid}/accept", {})
            assert status == 409 and "BM.CARDIO" in body["error"]
            # Someone never offered it cannot even see it.
            assert (await cr.call("GET", f"/api/consultations/{cid}"))[0] == 404

            status, body = await doc.call("GET", f"/api/consultations/{cid}")
            assert [e["action"] for e in body["events"]] == ["requested", "offered", "accepted"]
            assert body["events"][2]["by"] == "bm.cardio"
        finally:
            for m in people.values():
                await m.close()
            await server.close()


async def test_escalation_after_the_deadline(tmp_path: Path) -> None:
    async with open_platform(fast_settings(tmp_path), migrate=True) as platform:
        await build_network(platform)
        server = TestServer(build_app(platform))
        await server.start_server()
        url = str(server.make_url("/"))
        people = {name: await member(platform, url, name) for name in NETWORK_USERS}
        try:
            doc = people["mc.doc"]
            cid = (await doc.call("POST", "/api/consultations", REQUEST))[1]["consultation"]["id"]
            await people["bm.cardio"].next("consult.offer")
            assert (await doc.next("consult.status"))["ring"] == 1
            # Nobody answers within the (1 s) emergency deadline: ring 2, then ring 3.
            offer = await people["cr.cardio"].next("consult.offer", timeout=5)
            assert offer["ring"] == 2
            escalated = await doc.next("consult.status", timeout=5)
            assert (escalated["ring"], escalated["escalated"]) == (2, True)
            assert (await people["hue.cardio"].next("consult.offer", timeout=5))["ring"] == 3
            # Anyone asked so far may take it; the others see it taken.
            status, _ = await people["bm.cardio"].call(
                "POST", f"/api/consultations/{cid}/accept", {}
            )
            assert status == 200
            assert (await people["hue.cardio"].next("consult.taken"))["id"] == cid
            assert (await people["cr.cardio"].next("consult.taken"))["id"] == cid
            events = (await doc.call("GET", f"/api/consultations/{cid}"))[1]["events"]
            assert [e["action"] for e in events][:4] == [
                "requested",
                "offered",
                "escalated",
                "escalated",
            ]
        finally:
            for m in people.values():
                await m.close()
            await server.close()


async def test_decline_with_reason_escalates_at_once(network: tuple[Platform, str]) -> None:
    platform, url = network
    doc = await member(platform, url, "mc.doc")
    bm = await member(platform, url, "bm.cardio")
    cr = await member(platform, url, "cr.cardio")
    offline = await member(platform, url, "hue.cardio", online=False)
    try:
        cid = (await doc.call("POST", "/api/consultations", REQUEST))[1]["consultation"]["id"]
        await bm.next("consult.offer")
        status, body = await bm.call("POST", f"/api/consultations/{cid}/decline", {"reason": ""})
        assert status == 400 and body["field"] == "reason"
        status, _ = await bm.call(
            "POST",
            f"/api/consultations/{cid}/decline",
            {"reason": "in the cath lab for the next hour"},
        )
        assert status == 200
        declined = await doc.next("consult.declined")
        assert declined["reason"] == "in the cath lab for the next hour"
        # Everyone in ring 1 declined: ring 2 is asked without waiting for the deadline.
        assert (await cr.next("consult.offer"))["ring"] == 2
        status, body = await bm.call("POST", f"/api/consultations/{cid}/accept", {})
        assert status == 200  # a decliner may still change their mind and take it
        assert offline.events.empty()
    finally:
        for m in (doc, bm, cr, offline):
            await m.close()


async def test_nobody_available_skips_to_a_ring_with_someone(
    network: tuple[Platform, str],
) -> None:
    platform, url = network
    doc = await member(platform, url, "mc.doc")
    away = await member(platform, url, "bm.cardio", on_call=False)  # online, off call
    cr = await member(platform, url, "cr.cardio", online=False)  # on call, offline
    hue = await member(platform, url, "hue.cardio")
    try:
        status, body = await doc.call("POST", "/api/consultations", REQUEST)
        assert status == 201 and body["consultation"]["ring"] == 3
        assert (await hue.next("consult.offer"))["ring"] == 3
        await away.nothing("consult.offer")
        # Cancelled by the requester: the specialists asked see it gone.
        cid = body["consultation"]["id"]
        assert (await doc.call("POST", f"/api/consultations/{cid}/cancel"))[0] == 200
        assert (await hue.next("consult.taken"))["status"] == "cancelled"
        assert (await hue.call("POST", f"/api/consultations/{cid}/accept", {}))[0] == 409
    finally:
        for m in (doc, away, cr, hue):
            await m.close()


async def test_bad_requests_change_nothing(network: tuple[Platform, str]) -> None:
    platform, url = network
    doc = await member(platform, url, "mc.doc", online=False)
    try:
        for bad, field in [
            ({**REQUEST, "urgency": "whenever"}, "urgency"),
            ({**REQUEST, "specialty": "astrology"}, "specialty"),
            ({**REQUEST, "question": ""}, "question"),
            ({**REQUEST, "patient_id": 0}, "patient_id"),
            ({**REQUEST, "extra": 1}, "extra"),
        ]:
            status, body = await doc.call("POST", "/api/consultations", bad)
            assert (status, body["field"]) == (400, field)
        status, _ = await doc.call("POST", "/api/consultations", {**REQUEST, "patient_id": 999})
        assert status == 404
        assert (await doc.call("GET", "/api/consultations"))[1]["consultations"] == []
        assert (await doc.call("POST", "/api/consultations/nope/accept", {}))[0] == 404
    finally:
        await doc.close()


async def test_request_on_one_node_reaches_a_specialist_on_another(
    tmp_path: Path, redis_server: RedisServer, postgres_url: str
) -> None:
    """Two server processes share PostgreSQL and a real Redis, as a cluster does."""
    key = "cluster-signing-key-" + "k" * 24
    settings = make_settings(
        tmp_path, redis_url=redis_server.url, database_url=postgres_url, signing_key=key
    )
    env = {
        "TELEHEALTH_DATABASE_URL": postgres_url,
        "TELEHEALTH_REDIS_URL": redis_server.url,
        "TELEHEALTH_SIGNING_KEY": key,
        "TELEHEALTH_AUTO_MIGRATE": "false",
        "TELEHEALTH_LOG_LEVEL": "WARNING",
    }
    async with open_platform(settings, migrate=True) as platform:
        await build_network(platform)
        node_a = ServerProcess(tmp_path / "a", env)
        node_b = ServerProcess(tmp_path / "b", env)
        try:
            await asyncio.gather(node_a.ready(), node_b.ready())
            doc = await member(platform, node_a.url, "mc.doc")
            bm = await member(platform, node_b.url, "bm.cardio")
            try:
                await asyncio.sleep(0.5)  # each node's Redis manager subscribes
                status, body = await doc.call("POST", "/api/consultations", REQUEST)
                # Ring 1, not 3: node A saw, through Redis, that bm.cardio is online on B.
                assert status == 201 and body["consultation"]["ring"] == 1
                offer = await bm.next("consult.offer")
                status, _ = await bm.call("POST", f"/api/consultations/{offer['id']}/accept", {})
                assert status == 200
                accepted = await doc.next("consult.accepted")
                assert accepted["accepted_by"]["username"] == "bm.cardio"
            finally:
                await doc.close()
                await bm.close()
        finally:
            assert node_a.stop() == 0
            assert node_b.stop() == 0


async def test_scheduled_ahead_with_an_invitation_and_a_colleague(
    network: tuple[Platform, str],
) -> None:
    from datetime import UTC, datetime, timedelta

    import icalendar

    platform, url = network
    doc = await member(platform, url, "mc.doc")
    bm = await member(platform, url, "bm.cardio")
    cr = await member(platform, url, "cr.cardio", on_call=False)
    try:
        routine = {**REQUEST, "urgency": "routine"}
        cid = (await doc.call("POST", "/api/consultations", routine))[1]["consultation"]["id"]
        when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
        status, body = await bm.call(
            "POST", f"/api/consultations/{cid}/accept", {"scheduled_for": when.isoformat()}
        )
        assert status == 200 and body["consultation"]["status"] == "scheduled"
        status, body = await bm.call(
            "POST",
            f"/api/consultations/{cid}/accept",
            {"scheduled_for": "2000-01-01T00:00:00Z"},
        )
        assert (status, body["field"]) == (400, "scheduled_for")

        async with doc.http.get(url.rstrip("/") + f"/api/consultations/{cid}/calendar.ics") as r:
            assert r.status == 200 and r.content_type == "text/calendar"
            cal = icalendar.Calendar.from_ical(await r.read())
        event = next(iter(cal.walk("VEVENT")))
        assert event.decoded("dtstart") == when
        attendees = sorted(str(a) for a in event.get("attendee"))
        assert attendees == ["urn:telehealth:user:bm.cardio", "urn:telehealth:user:mc.doc"]
        join_url = (await doc.next("consult.accepted"))["join_url"]
        assert join_url.endswith(f"/#/consultations/{cid}")

        # The specialist brings a colleague from another hospital in.
        status, _ = await bm.call(
            "POST", f"/api/consultations/{cid}/participants", {"username": "cr.cardio"}
        )
        assert status == 201
        assert (await cr.next("consult.invited"))["invited_by"]["username"] == "bm.cardio"
        again = await bm.call(
            "POST", f"/api/consultations/{cid}/participants", {"username": "cr.cardio"}
        )
        assert again[0] == 409
        status, body = await cr.call("POST", f"/api/consultations/{cid}/token")
        assert status == 200 and "token" in body
        # Walking into the room of a scheduled consultation starts it.
        await cr.sio.call("room.join", {"token": body["token"]}, timeout=10)
        status, body = await doc.call("GET", f"/api/consultations/{cid}")
        assert body["consultation"]["status"] == "live"
        # An invitee does not invite others or bring in the patient.
        assert (
            await cr.call(
                "POST", f"/api/consultations/{cid}/participants", {"username": "hue.cardio"}
            )
        )[0] == 403
        assert (await cr.call("POST", f"/api/consultations/{cid}/patient-link", {}))[0] == 403
    finally:
        for m in (doc, bm, cr):
            await m.close()
