"""The audit log: every read or change of patient data, every log-in, token and admission.

Rows are append-only and chained: each row's hash covers its own fields and
the previous row's hash, so changing or deleting a row breaks the chain at
that point (`telehealth audit verify`). Removing rows at the very end leaves
a shorter valid chain; the head hash that `verify` prints is what an
operator keeps elsewhere to detect that.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import json
import random
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from signalling.db.models import AuditEvent, User
from signalling.db.types import utcnow

GENESIS = "0" * 64
# Any constant: appenders on several nodes take turns extending the chain.
_PG_LOCK_ID = 0x7E1EA0D1
_ATTEMPTS = 50
# The columns are 32-bit integers (as patients.id and facilities.id are).
_ID_MAX = 2**31 - 1


class Outcome(enum.StrEnum):
    OK = "ok"
    DENIED = "denied"
    ERROR = "error"


@dataclass(frozen=True)
class Actor:
    """Who did it, as the audit log names them."""

    id: str
    role: str = ""
    ip: str = ""
    # The facility the actor acts for (a staff member's own), if any.
    facility_id: int | None = None


def user_actor(user: User, ip: str) -> Actor:
    """A staff member as the audit log names them: id, role, address and facility."""
    return Actor(f"user:{user.id}", user.role.value, ip, user.facility_id)


CLI = Actor("cli", "operator")
SYSTEM = Actor("system", "system")


def _canonical(row: Mapping[str, object]) -> bytes:
    return json.dumps(row, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _fields(event: AuditEvent) -> dict[str, str | int]:
    fields: dict[str, str | int] = {
        "id": event.id,
        "at": event.at.isoformat(timespec="microseconds"),
        "actor": event.actor,
        "actor_role": event.actor_role,
        "ip": event.ip,
        "action": event.action,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "outcome": event.outcome,
        "detail": event.detail,
    }
    # Added in migration 0009: hashed only when set, so that rows written
    # before it (where both are NULL) hash exactly as they did.
    if event.patient_id is not None:
        fields["patient_id"] = event.patient_id
    if event.facility_id is not None:
        fields["facility_id"] = event.facility_id
    return fields


def _subject_id(value: int | None) -> int | None:
    return value if value is not None and 0 < value <= _ID_MAX else None


def chain_hash(prev_hash: str, event: AuditEvent) -> str:
    return hashlib.sha256(prev_hash.encode() + _canonical(_fields(event))).hexdigest()


class AuditLog:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # Appends from this process queue here; other processes are handled
        # by the retry in record() (and, on PostgreSQL, an advisory lock).
        self._lock = asyncio.Lock()

    async def record(
        self,
        actor: Actor,
        action: str,
        *,
        outcome: Outcome = Outcome.OK,
        object_type: str = "",
        object_id: str = "",
        detail: Mapping[str, object] | None = None,
        patient_id: int | None = None,
    ) -> AuditEvent:
        """Append one row; `patient_id` names whose data it was, when it was a patient's."""
        details = dict(detail or {})
        named = details.get("patient_id")
        if patient_id is None and isinstance(named, int):
            # Callers that name the patient in the detail name it in the column too.
            patient_id = named
        if patient_id is not None and _subject_id(patient_id) is None:
            # A refused request may name a patient id that cannot exist; keep
            # what was asked for rather than fail the audit write.
            details.setdefault("patient_id_asked", str(patient_id)[:40])
        async with self._lock:
            for attempt in range(_ATTEMPTS):
                try:
                    return await self._append(
                        actor,
                        action,
                        outcome,
                        object_type,
                        object_id,
                        details,
                        _subject_id(patient_id),
                    )
                except (IntegrityError, OperationalError):
                    # Another process appended the same row number first (the
                    # unique id is the guard against a fork); read again.
                    if attempt == _ATTEMPTS - 1:
                        raise
                    await asyncio.sleep(random.uniform(0.001, 0.02) * (attempt + 1))  # noqa: S311
        raise AssertionError("unreachable")

    async def _append(
        self,
        actor: Actor,
        action: str,
        outcome: Outcome,
        object_type: str,
        object_id: str,
        detail: Mapping[str, object],
        patient_id: int | None,
    ) -> AuditEvent:
        async with self._sessions() as db, db.begin():
            if db.get_bind().dialect.name == "postgresql":
                await db.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_LOCK_ID})
            last = await db.scalar(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1))
            event = AuditEvent(
                id=(last.id + 1) if last else 1,
                at=utcnow(),
                actor=actor.id[:80],
                actor_role=actor.role[:24],
                ip=actor.ip[:64],
                action=action[:64],
                object_type=object_type[:40],
                object_id=str(object_id)[:128],
                outcome=outcome.value,
                detail=json.dumps(dict(detail), sort_keys=True, ensure_ascii=False),
                patient_id=patient_id,
                facility_id=_subject_id(actor.facility_id),
                prev_hash=last.hash if last else GENESIS,
            )
            event.hash = chain_hash(event.prev_hash, event)
            db.add(event)
        return event

    async def events(
        self,
        *,
        since: datetime | None = None,
        object_id: str | None = None,
        limit: int = 200,
        where: AuditFilter | None = None,
    ) -> list[AuditEvent]:
        """The newest rows matching `where` (and `since`, `object_id`), newest first."""
        where = where or AuditFilter()
        if since is not None:
            where = replace(where, since=since)
        if object_id is not None:
            where = replace(where, object_id=object_id)
        query = where.apply(select(AuditEvent)).order_by(AuditEvent.id.desc()).limit(limit)
        async with self._sessions() as db:
            return list(await db.scalars(query))

    async def head_id(self) -> int:
        """The id of the last row (0 for an empty log)."""
        async with self._sessions() as db:
            return int(await db.scalar(select(func.max(AuditEvent.id))) or 0)

    async def matching(
        self, where: AuditFilter, *, through: int, batch: int = 500
    ) -> AsyncIterator[list[AuditEvent]]:
        """Rows matching `where` up to row `through`, oldest first, a batch at a time.

        Each batch is read in its own session, so a slow reader of an export
        holds no connection between batches.
        """
        after = 0
        while True:
            query = (
                where.apply(select(AuditEvent))
                .where(AuditEvent.id > after, AuditEvent.id <= through)
                .order_by(AuditEvent.id)
                .limit(batch)
            )
            async with self._sessions() as db:
                rows = list(await db.scalars(query))
            if not rows:
                return
            yield rows
            after = rows[-1].id

    async def _all(self, batch: int = 1000) -> AsyncIterator[AuditEvent]:
        after = 0
        async with self._sessions() as db:
            while True:
                rows = list(
                    await db.scalars(
                        select(AuditEvent)
                        .where(AuditEvent.id > after)
                        .order_by(AuditEvent.id)
                        .limit(batch)
                    )
                )
                if not rows:
                    return
                for row in rows:
                    yield row
                after = rows[-1].id

    async def verify(self) -> ChainReport:
        prev_hash, prev_id, count = GENESIS, 0, 0
        async for event in self._all():
            if event.id != prev_id + 1:
                return ChainReport(False, count, prev_hash, f"row {prev_id + 1} is missing")
            if event.prev_hash != prev_hash:
                return ChainReport(
                    False, count, prev_hash, f"row {event.id} does not follow row {prev_id}"
                )
            if chain_hash(prev_hash, event) != event.hash:
                return ChainReport(False, count, prev_hash, f"row {event.id} has been altered")
            prev_hash, prev_id, count = event.hash, event.id, count + 1
        return ChainReport(True, count, prev_hash, "")


@dataclass(frozen=True)
class AuditFilter:
    """What an auditor asks for; every field set narrows the rows (AND)."""

    patient_id: int | None = None
    actor: str | None = None
    facility_id: int | None = None
    action: str | None = None  # exact, or a prefix when it ends with "*"
    outcome: Outcome | None = None
    object_type: str | None = None
    object_id: str | None = None
    since: datetime | None = None  # inclusive
    until: datetime | None = None  # exclusive
    before_id: int | None = None  # the paging cursor: rows older than this one

    def apply(self, query: Select[AuditEvent]) -> Select[AuditEvent]:
        conditions: list[ColumnElement[bool]] = []
        if self.patient_id is not None:
            conditions.append(AuditEvent.patient_id == self.patient_id)
        if self.actor is not None:
            conditions.append(AuditEvent.actor == self.actor)
        if self.facility_id is not None:
            conditions.append(AuditEvent.facility_id == self.facility_id)
        if self.action is not None:
            if self.action.endswith("*"):
                conditions.append(AuditEvent.action.startswith(self.action[:-1], autoescape=True))
            else:
                conditions.append(AuditEvent.action == self.action)
        if self.outcome is not None:
            conditions.append(AuditEvent.outcome == self.outcome.value)
        if self.object_type is not None:
            conditions.append(AuditEvent.object_type == self.object_type)
        if self.object_id is not None:
            conditions.append(AuditEvent.object_id == self.object_id)
        if self.since is not None:
            conditions.append(AuditEvent.at >= self.since)
        if self.until is not None:
            conditions.append(AuditEvent.at < self.until)
        if self.before_id is not None:
            conditions.append(AuditEvent.id < self.before_id)
        return query.where(*conditions)


@dataclass(frozen=True)
class ChainReport:
    intact: bool
    rows: int
    head: str
    problem: str
