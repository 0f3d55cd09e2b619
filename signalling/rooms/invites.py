"""Patient links: a room token bound to one invite, valid for a short time, used once.

Never into a training: its room is open to every staff member, so a patient
brought there would be seen by all of them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.auth.tokens import PATIENT_GRANTS, Audience, InvalidToken, TokenClaims, TokenSigner
from signalling.db.models import Invite
from signalling.db.types import utcnow
from signalling.dispatch.training_policy import training_in_room
from signalling.errors import Conflict, PlatformError
from signalling.free_text import check_text

# A patient may open the link a little before the appointment.
EARLY_ENTRY = timedelta(minutes=15)


@dataclass(frozen=True)
class IssuedInvite:
    invite_id: str
    token: str
    url: str
    not_before: datetime
    expires_at: datetime


def _check_room(room: str) -> str:
    room = room.strip()
    if not room or len(room) > 100 or not all(c.isalnum() or c in "-_." for c in room):
        raise PlatformError("a room name is 1-100 letters, digits, '-', '_' or '.'")
    return room


async def create_invite(
    db: AsyncSession,
    signer: TokenSigner,
    *,
    room: str,
    public_url: str,
    ttl: timedelta,
    patient_name: str = "",
    starts_at: datetime | None = None,
    issued_by_id: int | None = None,
) -> IssuedInvite:
    room = _check_room(room)
    check_text(patient_name, "patient name")
    if await training_in_room(db, room) is not None:
        raise Conflict("a training has no patient: patient links are for consultations")
    now = utcnow()
    not_before = max(now, (starts_at or now) - EARLY_ENTRY)
    invite_id = str(uuid.uuid4())
    token, claims = signer.issue_room(
        subject=f"patient:{invite_id}",
        ttl=(starts_at or now) + ttl - not_before,
        room=room,
        grants=PATIENT_GRANTS,
        not_before=not_before,
        invite=invite_id,
        name=patient_name.strip()[:200] or None,
        now=now,
    )
    db.add(
        Invite(
            id=invite_id,
            room=room,
            patient_name=patient_name.strip()[:200],
            issued_by_id=issued_by_id,
            not_before=claims.not_before,
            expires_at=claims.expires_at,
        )
    )
    await db.flush()
    # The token rides in the fragment, which browsers never send to servers or in Referer.
    url = f"{public_url}/join#{token}"
    return IssuedInvite(invite_id, token, url, not_before, claims.expires_at)


async def redeem_invite(db: AsyncSession, signer: TokenSigner, token: str) -> TokenClaims:
    """Check a patient link and mark it used; a second use is refused.

    The single UPDATE ... WHERE redeemed_at IS NULL is the guard: two tabs
    racing with one link cannot both win.
    """
    claims = signer.verify(token, audience=Audience.ROOM)
    if claims.invite is None:
        raise InvalidToken("this is not a patient link")
    result = await db.execute(
        update(Invite)
        .where(Invite.id == claims.invite, Invite.redeemed_at.is_(None))
        .values(redeemed_at=utcnow())
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise InvalidToken("this link has been used already")
    await db.flush()
    return claims
