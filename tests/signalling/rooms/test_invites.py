"""Patient links: bound to one room, short-lived, redeemable once, unforgeable."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select

from signalling.auth.tokens import PATIENT_GRANTS, Audience, InvalidToken
from signalling.db.models import Invite
from signalling.db.types import utcnow
from signalling.platform import Platform
from signalling.rooms.invites import create_invite, redeem_invite


async def _issue(platform: Platform, **kw: object) -> str:
    async with platform.db() as db:
        issued = await create_invite(
            db,
            platform.signer,
            room=str(kw.pop("room", "consult-1")),
            public_url="https://telehealth.example",
            ttl=kw.pop("ttl", timedelta(minutes=30)),  # type: ignore[arg-type]
            patient_name="Lò Văn Páo",
            **kw,  # type: ignore[arg-type]
        )
        await db.commit()
    assert issued.url == f"https://telehealth.example/join#{issued.token}"
    return issued.token


async def _redeem(platform: Platform, token: str) -> None:
    async with platform.db() as db:
        await redeem_invite(db, platform.signer, token)
        await db.commit()


async def test_a_link_works_once(platform: Platform) -> None:
    token = await _issue(platform)
    async with platform.db() as db:
        claims = await redeem_invite(db, platform.signer, token)
        await db.commit()
    assert claims.room == "consult-1"
    assert claims.grants == PATIENT_GRANTS
    assert claims.name == "Lò Văn Páo"
    with pytest.raises(InvalidToken, match="used already"):
        await _redeem(platform, token)


async def test_two_tabs_racing_with_one_link(platform: Platform) -> None:
    token = await _issue(platform)
    results = await asyncio.gather(
        *(_redeem(platform, token) for _ in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, InvalidToken) for r in results if r is not None)


async def test_expired_early_foreign_room_and_forged_links(platform: Platform) -> None:
    # An appointment two hours ago with a 30-minute link: expired at issue.
    expired = await _issue(platform, starts_at=utcnow() - timedelta(hours=2))
    with pytest.raises(InvalidToken, match="expired"):
        await _redeem(platform, expired)
    later = await _issue(platform, starts_at=utcnow() + timedelta(hours=2))
    with pytest.raises(InvalidToken, match="not valid yet"):
        await _redeem(platform, later)

    other_room = await _issue(platform, room="consult-2")
    with pytest.raises(InvalidToken, match="another room"):
        platform.signer.verify(other_room, audience=Audience.ROOM, room="consult-1")

    payload = jwt.decode(expired, options={"verify_signature": False})
    unsigned = jwt.encode(payload, None, algorithm="none")
    with pytest.raises(InvalidToken, match="invalid"):
        await _redeem(platform, unsigned)
    forged = jwt.encode(payload, b"k" * 32, algorithm="HS256")
    with pytest.raises(InvalidToken, match="invalid"):
        await _redeem(platform, forged)
    staff_token, _ = platform.signer.issue(
        subject="user:1", audience=Audience.ROOM, ttl=timedelta(minutes=5), room="consult-1"
    )
    with pytest.raises(InvalidToken, match="not a patient link"):
        await _redeem(platform, staff_token)

    async with platform.db() as db:
        redeemed = await db.scalar(select(func.count()).where(Invite.redeemed_at.is_not(None)))
    assert redeemed == 0  # no refused link was marked used
