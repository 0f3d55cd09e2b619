"""Browser log-in sessions: a random cookie token, stored only as its SHA-256.

Idle and absolute time-outs are checked on every use; log-out and disabling
the account end the session at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import LoginSession, User
from signalling.db.types import utcnow

COOKIE_NAME = "th_session"


@dataclass(frozen=True)
class SessionPolicy:
    idle: timedelta = timedelta(minutes=30)
    absolute: timedelta = timedelta(hours=12)


def session_id(token: str) -> str:
    """The stored id of the session behind a cookie (its SHA-256)."""
    return hashlib.sha256(token.encode()).hexdigest()


_digest = session_id


async def start_session(db: AsyncSession, user: User, *, ip: str, user_agent: str) -> str:
    token = secrets.token_urlsafe(32)
    db.add(
        LoginSession(id=_digest(token), user_id=user.id, ip=ip[:64], user_agent=user_agent[:300])
    )
    await db.flush()
    return token


async def resolve_session(
    db: AsyncSession, token: str, policy: SessionPolicy, now: datetime | None = None
) -> User | None:
    """The user behind a cookie, or None if it is unknown, ended or timed out."""
    if not token or len(token) > 100:
        return None
    now = now or utcnow()
    row = await db.get(LoginSession, _digest(token))
    if row is None or row.revoked_at is not None:
        return None
    if now - row.last_seen_at > policy.idle or now - row.created_at > policy.absolute:
        row.revoked_at = now
        await db.commit()
        return None
    user = await db.get(User, row.user_id)
    if user is None or not user.is_active:
        return None
    # Touch at most once a minute: a busy page should not write on every request.
    if now - row.last_seen_at > timedelta(minutes=1):
        row.last_seen_at = now
        await db.commit()
    return user


async def end_session(db: AsyncSession, token: str) -> None:
    row = await db.get(LoginSession, _digest(token))
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        await db.flush()


async def end_sessions_of(db: AsyncSession, user_id: int) -> None:
    now = utcnow()
    for row in await db.scalars(
        select(LoginSession).where(
            LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None)
        )
    ):
        row.revoked_at = now
    await db.flush()
