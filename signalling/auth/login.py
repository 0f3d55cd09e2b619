"""Password log-in: one answer for every refusal, the same work for every attempt."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.auth.passwords import hash_password, needs_rehash, verify_password
from signalling.db.models import User
from signalling.errors import PlatformError

# One answer for an unknown name, a wrong password and a throttled name: it
# tells a guesser nothing about which names exist.
REFUSED = "wrong user name or password"


class LoginRefused(PlatformError):
    status = 401

    def __init__(self, message: str = REFUSED, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason  # for the audit log only


class TooManyAttempts(PlatformError):
    status = 429


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int = 5  # per user name and client address, within `lockout`
    lockout: timedelta = timedelta(minutes=15)

    @property
    def address_failures(self) -> int:
        """Failures from one address, all names together (a hospital's NAT is many people)."""
        return 10 * self.max_failures


async def authenticate(
    db: AsyncSession,
    username: str,
    password: str,
    *,
    throttled: bool = False,
) -> User:
    """Check a password; refuse a throttled name with the same answer and the same work.

    The hash is verified in every case (against a dummy for an unknown
    name), so that time says no more than the answer. Only the right
    password learns that an account is disabled.
    """
    user = await db.scalar(select(User).where(User.username == username.strip().lower()))
    right = verify_password(user.password_hash if user else None, password)
    if throttled:
        raise LoginRefused(reason="throttled")
    if user is None:
        raise LoginRefused(reason="unknown user")
    if not right:
        raise LoginRefused(reason="wrong password")
    if not user.is_active:
        raise LoginRefused("this account is disabled", reason="disabled")
    # Left over from the account-wide lock-out of before: cleared, no longer used.
    user.failed_logins = 0
    user.locked_until = None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    await db.flush()
    return user
