"""Staff accounts: creation, listing, disabling, and password log-in."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .auth.passwords import WeakPassword, hash_password, needs_rehash, verify_password
from .db.models import Facility, FacilityLevel, Role, Specialty, User, UserSpecialty
from .db.rows import add_unique
from .errors import NotFound, PlatformError

_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,63}")


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise PlatformError("a user name is 3-64 letters, digits, '.', '-' or '_'")
    return name


async def add_user(
    db: AsyncSession,
    *,
    username: str,
    full_name: str,
    role: Role,
    password: str,
    facility: Facility | None,
    specialties: list[Specialty] | None = None,
) -> User:
    name = normalise_username(username)
    if role is not Role.ADMIN and facility is None:
        raise PlatformError(f"a {role.value} belongs to a facility")
    if role is Role.SPECIALIST:
        if not specialties:
            raise PlatformError("a specialist needs at least one specialty")
        if facility is not None and facility.level is not FacilityLevel.CENTRAL:
            raise PlatformError("specialists work at central hospitals")
    try:
        password_hash = hash_password(password)
    except WeakPassword as exc:
        raise PlatformError(str(exc)) from None
    user = User(
        username=name,
        full_name=full_name.strip() or name,
        role=role,
        facility_id=facility.id if facility else None,
        password_hash=password_hash,
        specialty_rows=[UserSpecialty(specialty=s.value) for s in sorted(set(specialties or []))],
    )
    return await add_unique(db, user, f"the user name {name} is taken")


async def get_user(db: AsyncSession, username: str) -> User:
    user = await db.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise NotFound(f"no user {username}")
    return user


async def list_users(db: AsyncSession) -> list[User]:
    return list(await db.scalars(select(User).order_by(User.facility_id, User.username)))


async def set_active(db: AsyncSession, username: str, active: bool) -> User:
    user = await get_user(db, username)
    user.is_active = active
    await db.flush()
    return user


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
