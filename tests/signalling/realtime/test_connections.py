"""Flood limits belong to the connection: reserved event names sent by a client change nothing."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from sqlalchemy import func, select

from signalling.db.models import AuditEvent, ChatMessage
from tests.signalling.rooms.test_manager import Consult, consult, emit

__all__ = ["consult"]


async def count_rows(consult: Consult, model: Any, *where: Any) -> int:
    async with consult.platform.db() as db:
        return int(await db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def chat_rows(consult: Consult, prefix: str) -> int:
    return await count_rows(
        consult, ChatMessage, ChatMessage.room == consult.room, ChatMessage.text.startswith(prefix)
    )


async def audited(consult: Consult) -> int:
    return await count_rows(
        consult, AuditEvent, AuditEvent.action == "chat.send", AuditEvent.object_id == consult.room
    )


@pytest.fixture
async def in_room(consult: Consult, caplog: pytest.LogCaptureFixture) -> Consult:
    """Both clinicians in the room, the log captured from INFO up."""
    caplog.set_level(logging.INFO)
    await consult.enter(consult.doc)
    await consult.enter(consult.spec)
    return consult


async def test_reserved_names_are_answered_and_ignored(
    in_room: Consult, caplog: pytest.LogCaptureFixture
) -> None:
    consult = in_room
    for name in ("disconnect", "connect"):
        answer = await consult.doc.sio.call(name, {"environ": "x"}, timeout=5)
        assert answer == {"error": f"{name!r} is reserved and cannot be sent"}
    # Still connected, still in the room, nothing logged as an error.
    assert consult.doc.sio.connected
    assert "id" in await emit(consult.doc, "chat.send", {"text": "still in", "client_id": "a"})
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_client_sent_disconnect_does_not_reset_the_chat_limit(
    in_room: Consult, caplog: pytest.LogCaptureFixture
) -> None:
    """80 messages, each after a fake `disconnect` and `connect`: the 5/s limit holds."""
    consult = in_room
    loop = asyncio.get_running_loop()
    started = loop.time()
    sent = 0
    for i in range(80):
        if not consult.doc.sio.connected:
            break  # cut off for flooding: that is the limit holding too
        await consult.doc.sio.emit("disconnect")
        await consult.doc.sio.emit("connect", {"token": "x"})
        await consult.doc.sio.emit("chat.send", {"text": f"flood {i}", "client_id": f"f{i}"})
        sent += 1
    elapsed = loop.time() - started
    # Settle: the specialist's message comes after every flood message was handled.
    assert "id" in await emit(consult.spec, "chat.send", {"text": "after", "client_id": "z"})
    for _ in range(50):
        if not consult.doc.sio.connected:
            break
        await asyncio.sleep(0.1)
    # Messages and their audit rows are written concurrently: read until they stand still.
    counts, previous = (-1, -1), (-2, -2)
    for _ in range(50):
        previous, counts = counts, (await chat_rows(consult, "flood "), await audited(consult))
        if counts == previous and counts[1] == counts[0] + 1:  # + the specialist's "after"
            break
        await asyncio.sleep(0.2)
    stored, audit_rows = counts
    assert audit_rows == stored + 1
    # burst 10, then 5 a second (with one to spare)
    assert stored <= 10 + 5 * (elapsed + 1) + 1, (stored, sent, elapsed)
    assert stored < 40
    # The flooder was cut off (reserved names count as refusals), and only the flooder.
    assert not consult.doc.sio.connected
    assert consult.spec.sio.connected
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
