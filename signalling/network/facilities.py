"""The network: facilities and which central hospitals support which sites."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import Facility, FacilityLevel, Pairing, Specialty
from signalling.db.rows import add_unique
from signalling.errors import NotFound, PlatformError

_CODE = re.compile(r"[A-Z0-9][A-Z0-9_-]{1,31}")


async def add_facility(
    db: AsyncSession, *, code: str, name: str, level: FacilityLevel, province: str
) -> Facility:
    code = code.strip().upper()
    if not _CODE.fullmatch(code):
        raise PlatformError("a facility code is 2-32 letters, digits, '-' or '_'")
    if not name.strip() or not province.strip():
        raise PlatformError("a facility needs a name and a province")
    facility = Facility(code=code, name=name.strip(), level=level, province=province.strip())
    return await add_unique(db, facility, f"a facility with code {code} exists already")


async def get_facility(db: AsyncSession, code: str) -> Facility:
    facility = await db.scalar(select(Facility).where(Facility.code == code.strip().upper()))
    if facility is None:
        raise NotFound(f"no facility with code {code}")
    return facility


async def list_facilities(db: AsyncSession) -> list[Facility]:
    return list(await db.scalars(select(Facility).order_by(Facility.level, Facility.code)))


async def pair(
    db: AsyncSession, *, central_code: str, partner_code: str, specialty: Specialty | None
) -> Pairing:
    central = await get_facility(db, central_code)
    partner = await get_facility(db, partner_code)
    if central.level is not FacilityLevel.CENTRAL:
        raise PlatformError(f"{central.code} is not a central hospital")
    if partner.id == central.id:
        raise PlatformError("a facility cannot be paired with itself")
    pairing = Pairing(
        central_id=central.id, partner_id=partner.id, specialty=specialty.value if specialty else ""
    )
    return await add_unique(db, pairing, f"{central.code} and {partner.code} are paired already")


async def list_pairings(db: AsyncSession) -> list[Pairing]:
    from sqlalchemy.orm import selectinload

    query = select(Pairing).options(selectinload(Pairing.central), selectinload(Pairing.partner))
    return list(await db.scalars(query.order_by(Pairing.central_id, Pairing.partner_id)))
