"""Signed, expiring JSON Web Tokens (HS256, algorithm pinned).

Two audiences: ``api`` bearer tokens for scripts and integrations (REST and
DICOMweb), and ``room`` tokens whose grants say what their holder may do in
one room. A patient link is a room token with the ``invite`` claim set to
its invite id, redeemable once.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

ALGORITHM = "HS256"
ISSUER = "telehealth"
LEEWAY_S = 5


class Audience(enum.StrEnum):
    API = "api"
    ROOM = "room"


class Grant(enum.StrEnum):
    PUBLISH_AUDIO = "publish_audio"
    PUBLISH_VIDEO = "publish_video"
    PUBLISH_SCREEN = "publish_screen"
    SUBSCRIBE = "subscribe"
    MODERATE = "moderate"
    RECORD = "record"
    VIEW_CASE_FILE = "view_case_file"
    CHAT = "chat"


PATIENT_GRANTS = frozenset({Grant.PUBLISH_AUDIO, Grant.PUBLISH_VIDEO, Grant.SUBSCRIBE, Grant.CHAT})


# A room token's life: the web client refreshes it over its socket before it ends
# (room.refresh), so a stolen one is short-lived. Patient links set their own.
ROOM_TOKEN_TTL = timedelta(minutes=15)


class InvalidToken(Exception):
    """The token is unusable; the message says why, without echoing the token."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    subject: str
    audience: Audience
    token_id: str
    issued_at: datetime
    not_before: datetime
    expires_at: datetime
    room: str | None = None
    grants: frozenset[Grant] = field(default_factory=frozenset)
    invite: str | None = None
    name: str | None = None


class TokenSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the signing key must be at least 32 bytes")
        self._key = key

    def issue_room(
        self,
        *,
        subject: str,
        room: str,
        grants: frozenset[Grant],
        ttl: timedelta = ROOM_TOKEN_TTL,
        name: str | None = None,
        invite: str | None = None,
        not_before: datetime | None = None,
        now: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        """A room token: the one way every path (staff, trainee, patient link, refresh) makes one.

        A patient link's token id is its invite id, so the link is redeemed once.
        """
        return self.issue(
            subject=subject,
            audience=Audience.ROOM,
            ttl=ttl,
            room=room,
            grants=grants,
            not_before=not_before,
            token_id=invite,
            invite=invite,
            name=name,
            now=now,
        )

    def issue(
        self,
        *,
        subject: str,
        audience: Audience,
        ttl: timedelta,
        room: str | None = None,
        grants: frozenset[Grant] = frozenset(),
        not_before: datetime | None = None,
        token_id: str | None = None,
        invite: str | None = None,
        name: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, TokenClaims]:
        now = now or datetime.now(UTC)
        nbf = not_before or now
        claims = TokenClaims(
            subject=subject,
            audience=audience,
            token_id=token_id or str(uuid.uuid4()),
            issued_at=now,
            not_before=nbf,
            expires_at=nbf + ttl,
            room=room,
            grants=frozenset(grants),
            invite=invite,
            name=name,
        )
        payload: dict[str, Any] = {
            "iss": ISSUER,
            "sub": claims.subject,
            "aud": claims.audience.value,
            "jti": claims.token_id,
            "iat": int(claims.issued_at.timestamp()),
            "nbf": int(claims.not_before.timestamp()),
            "exp": int(claims.expires_at.timestamp()),
        }
        if room is not None:
            payload["room"] = room
        if grants:
            payload["grants"] = sorted(g.value for g in grants)
        if invite is not None:
            payload["invite"] = invite
        if name is not None:
            payload["name"] = name
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def verify(self, token: str, *, audience: Audience, room: str | None = None) -> TokenClaims:
        """Check signature, algorithm, issuer, audience, expiry, not-before and room."""
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],  # pinned: "none" and RS/HS confusion are refused
                audience=audience.value,
                issuer=ISSUER,
                leeway=LEEWAY_S,
                options={"require": ["exp", "nbf", "iat", "sub", "jti", "aud", "iss"]},
            )
        except jwt.ExpiredSignatureError:
            raise InvalidToken("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise InvalidToken("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise InvalidToken("the token is not meant for this use") from None
        except (jwt.InvalidTokenError, UnicodeError):
            # UnicodeError: a lone surrogate (JSON "\udcff") that PyJWT cannot encode
            raise InvalidToken("the token is invalid") from None
        if room is not None and payload.get("room") != room:
            raise InvalidToken("the token is for another room")
        try:
            grants = frozenset(Grant(g) for g in payload.get("grants", []))
        except (ValueError, TypeError):
            raise InvalidToken("the token carries an unknown grant") from None
        return TokenClaims(
            subject=str(payload["sub"]),
            audience=audience,
            token_id=str(payload["jti"]),
            issued_at=_instant(payload["iat"]),
            not_before=_instant(payload["nbf"]),
            expires_at=_instant(payload["exp"]),
            room=payload.get("room"),
            grants=grants,
            invite=payload.get("invite"),
            name=payload.get("name"),
        )


def _instant(value: object) -> datetime:
    """A NumericDate claim as a time; one datetime cannot hold (PyJWT checks
    exp and nbf against the clock, and lets a numeric string or a huge number
    through) is an invalid token, not an error."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken("the token has a malformed time claim")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidToken("the token has a time claim out of range") from None
