"""Staff accounts: creation, listing and disabling (password log-in: signalling.auth.login)."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.auth.passwords import WeakPassword, hash_password
from signalling.db.models import Facility, FacilityLevel, Role, Specialty, User, UserSpecialty
from signalling.db.rows import add_unique
from signalling.errors import NotFound, PlatformError

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
