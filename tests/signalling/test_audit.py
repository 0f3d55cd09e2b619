"""The audit log: appended by the actions that must be audited, chained, tamper-evident."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from sqlalchemy import delete, select, update

from signalling.audit import Actor, AuditLog, Outcome
from signalling.db import migrations
from signalling.db.engine import create_engine, session_factory
from signalling.db.models import AuditEvent
from signalling.http.keys import PLATFORM
from tests.signalling.conftest import PASSWORD


async def test_chain_on_both_databases(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrations.upgrade(engine)
        sessions = session_factory(engine)
        log = AuditLog(sessions)
        doctor = Actor("user:7", "doctor", "10.0.0.5")
        # Appenders racing: the chain must come out as one line, not a fork.
        await asyncio.gather(
            *(
                log.record(
                    doctor,
                    "patient.read",
                    object_type="patient",
                    object_id=str(i),
                    detail={"field": "dob", "tiếng": "Việt"},
                )
                for i in range(30)
            ),
            AuditLog(sessions).record(doctor, "case.read", object_id="case-1"),
        )
        report = await log.verify()
        assert report.intact and report.rows == 31, report

        async with sessions() as db:
            await db.execute(update(AuditEvent).where(AuditEvent.id == 12).values(actor="user:8"))
            await db.commit()
        report = await log.verify()
        assert not report.intact
        assert report.problem == "row 12 has been altered"
        assert report.rows == 11

        async with sessions() as db:
            await db.execute(update(AuditEvent).where(AuditEvent.id == 12).values(actor="user:7"))
            await db.execute(delete(AuditEvent).where(AuditEvent.id == 20))
            await db.commit()
        report = await log.verify()
        assert report.problem == "row 20 is missing"
    finally:
        await engine.dispose()


async def test_log_ins_and_audit_reads_are_audited(client: TestClient[Any, Any]) -> None:
    await client.post("/api/auth/login", json={"username": "doc", "password": "wrong one!"})
    await client.post("/api/auth/login", json={"username": "doc", "password": PASSWORD})
    response = await client.get("/api/audit")
    assert response.status == 403  # a doctor does not read the audit log
    platform = client.app[PLATFORM]
    events = list(reversed(await platform.audit.events()))
    summary = [(e.action, e.outcome, e.actor_role) for e in events]
    assert summary == [
        ("login", Outcome.DENIED, ""),
        ("login", Outcome.OK, "doctor"),
        ("audit.read", Outcome.DENIED, "doctor"),
    ]
    assert events[0].actor == "name:doc"
    assert events[1].ip == "127.0.0.1"
    # the caller is told only "wrong user name or password"; the log keeps the real reason
    assert json.loads(events[0].detail) == {"reason": "wrong password"}
    assert (await platform.audit.verify()).intact


def test_cli_verify_detects_tampering(tmp_path: Path) -> None:
    data = tmp_path / "data"
    cmd = [sys.executable, "-m", "signalling"]
    subprocess.run(
        [*cmd, "demo", "--data-dir", str(data), "--password", PASSWORD],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [*cmd, "token", "issue", "--user", "admin", "--data-dir", str(data)],
        check=True,
        capture_output=True,
    )
    ok = subprocess.run(
        [*cmd, "audit", "verify", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("audit chain intact: 1 rows")

    async def tamper() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{data / 'telehealth.db'}")
        async with session_factory(engine)() as db:
            row = await db.scalar(select(AuditEvent).where(AuditEvent.action == "token.issue"))
            assert row is not None
            row.object_id = "1"  # as if the token had been issued to someone else
            row.detail = "{}"
            await db.commit()
        await engine.dispose()

    asyncio.run(tamper())
    bad = subprocess.run(
        [*cmd, "audit", "verify", "--data-dir", str(data)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "row 1 has been altered" in bad.stderr
