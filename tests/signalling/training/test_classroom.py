"""A training: a presenter, 20 trainees who cannot publish until promoted, Q&A, attendance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from signalling.db.models import Role
from signalling.network.facilities import get_facility
from signalling.network.staff import add_user
from tests.media_server.sfu_clients import NumberedVideoTrack, requires_network
from tests.signalling.care_network import Member, member, served
from tests.signalling.conftest import PASSWORD, make_settings
from tests.signalling.rooms.test_room_media import SocketMediaClient

pytestmark = requires_network
TRAINEES = 20


async def join(m: Member, token: str) -> dict[str, object]:
    ack = await m.sio.call("room.join", {"token": token}, timeout=10)
    assert ack.get("state") == "joined", ack
    return dict(ack)


async def test_training_with_twenty_trainees(tmp_path: Path) -> None:
    async with served(make_settings(tmp_path)) as (platform, url):
        async with platform.db() as db:
            district = await get_facility(db, "TTYT-MC")
            for i in range(TRAINEES):
                await add_user(
                    db,
                    username=f"trainee{i:02d}",
                    full_name=f"Học viên {i}",
                    role=Role.NURSE,
                    password=PASSWORD,
                    facility=district,
                )
            await db.commit()
        trainer = await member(platform, url, "bm.cardio")
        status, body = await trainer.call(
            "POST", "/api/trainings", {"title": "Đọc điện tâm đồ cơ bản"}
        )
        assert status == 201
        tid = body["training"]["id"]
        status, body = await trainer.call("POST", "/api/trainings/no-such-training/token")
        assert (status, body["code"]) == (404, "not_found"), body
        _, body = await trainer.call("POST", f"/api/trainings/{tid}/token")
        presenter = SocketMediaClient(trainer)
        trainer_id = str((await join(trainer, body["token"]))["participant_id"])
        trainees = [await member(platform, url, f"trainee{i:02d}") for i in range(TRAINEES)]
        media: SocketMediaClient | None = None
        try:
            await presenter.publish(NumberedVideoTrack(base=30))
            # One trainee really watches (ready before joining: the offer comes at once).
            watcher = SocketMediaClient(trainees[1])
            ids = []
            for t in trainees:
                _, body = await t.call("POST", f"/api/trainings/{tid}/token")
                ids.append((await join(t, body["token"]))["participant_id"])

            # Trainees receive but cannot publish.
            refused = await trainees[0].sio.call("media.publish", {"sdp": "v=0\r\n"}, timeout=10)
            assert "error" in refused
            media = SocketMediaClient(trainees[0])
            with pytest.raises(AssertionError, match="may not publish"):
                await media.publish(NumberedVideoTrack(base=-30))

            # Questions: asked, upvoted (once each), answered by the trainer.
            q1 = await trainees[0].sio.call(
                "qa.ask", {"text": "QTc bình thường là bao nhiêu?"}, timeout=10
            )
            q2 = await trainees[2].sio.call(
                "qa.ask", {"text": "Khi nào nghĩ tới STEMI?"}, timeout=10
            )
            for t in trainees[3:6]:
                assert (await t.sio.call("qa.upvote", {"question_id": q2["id"]}, timeout=10))[
                    "counted"
                ]
            again = await trainees[3].sio.call("qa.upvote", {"question_id": q2["id"]}, timeout=10)
            assert again["counted"] is False
            queue = await trainer.next("qa.updated")
            while [q["votes"] for q in queue["questions"]][:1] != [3]:
                queue = await trainer.next("qa.updated")
            assert [q["id"] for q in queue["questions"]] == [q2["id"], q1["id"]]
            denied = await trainees[0].sio.call("qa.answer", {"question_id": q2["id"]}, timeout=10)
            assert denied["error"] == "only a moderator may do that"
            assert (await trainer.sio.call("qa.answer", {"question_id": q2["id"]}, timeout=10))[
                "ok"
            ]

            # A raised hand, promoted: that trainee now publishes and is seen.
            await trainees[0].sio.call("hand.raise", {"raised": True}, timeout=10)
            await media.close()
            media = SocketMediaClient(trainees[0])  # new connections for the new permissions
            await trainer.sio.call(
                "participant.promote", {"participant_id": ids[0], "speaker": True}, timeout=10
            )
            assert (await trainees[0].next("room.promoted")) == {"speaker": True}
            await media.publish(NumberedVideoTrack(base=-30))
            deadline = asyncio.get_running_loop().time() + 20
            while len(presenter.numbers.get(ids[0], [])) < 10:
                assert asyncio.get_running_loop().time() < deadline, presenter.numbers.keys()
                await asyncio.sleep(0.2)
            while len(watcher.numbers.get(trainer_id, [])) < 10:
                assert asyncio.get_running_loop().time() < deadline, watcher.numbers.keys()
                await asyncio.sleep(0.2)

            # The register: everyone, from their facility, with time spent.
            await trainees[5].close()
            status, body = await trainer.call("GET", f"/api/trainings/{tid}/attendance")
            assert status == 200
            register = body["attendance"]
            assert len(register) == TRAINEES + 1
            assert {r["facility"] for r in register} == {"BVBM", "TTYT-MC"}
            assert all(r["seconds"] >= 0 for r in register)
            assert (await trainees[1].call("GET", f"/api/trainings/{tid}/attendance"))[0] == 403
            await watcher.close()
        finally:
            if media is not None:
                await media.close()
            await presenter.close()
            for m in [trainer, *trainees]:
                await m.close()
