"""A small demo network for trying the platform: `telehealth demo`.

Running it again is safe: what exists is kept, and the demo accounts get
the (new) password that is printed.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from signalling.auth.passwords import hash_password
from signalling.db.models import Facility, FacilityLevel, Pairing, Role, Specialty, User
from signalling.network.facilities import add_facility, get_facility, pair
from signalling.network.staff import add_user
from signalling.platform import Platform

FACILITIES = [
    ("BVBM", "Bệnh viện Bạch Mai", FacilityLevel.CENTRAL, "Hà Nội"),
    ("BVCR", "Bệnh viện Chợ Rẫy", FacilityLevel.CENTRAL, "TP. Hồ Chí Minh"),
    ("TTYT-MOCCHAU", "Trung tâm Y tế huyện Mộc Châu", FacilityLevel.DISTRICT, "Sơn La"),
    ("TTYT-MEOVAC", "Trung tâm Y tế huyện Mèo Vạc", FacilityLevel.DISTRICT, "Hà Giang"),
    ("TTYT-CONDAO", "Trung tâm Y tế Côn Đảo", FacilityLevel.DISTRICT, "Bà Rịa - Vũng Tàu"),
]

PAIRINGS: list[tuple[str, str, Specialty | None]] = [
    ("BVBM", "TTYT-MOCCHAU", None),
    ("BVBM", "TTYT-MEOVAC", None),
    ("BVCR", "TTYT-CONDAO", None),
    ("BVCR", "TTYT-MOCCHAU", Specialty.CARDIOLOGY),
]

STAFF: list[tuple[str, str, Role, str | None, list[Specialty]]] = [
    ("admin", "Quản trị hệ thống", Role.ADMIN, None, []),
    ("bm.cardio", "PGS.TS. Nguyễn Văn An", Role.SPECIALIST, "BVBM", [Specialty.CARDIOLOGY]),
    (
        "bm.radio",
        "TS.BS. Trần Thị Bình",
        Role.SPECIALIST,
        "BVBM",
        [Specialty.RADIOLOGY, Specialty.NEUROLOGY],
    ),
    ("bm.trainer", "ThS.BS. Lê Minh Châu", Role.TRAINER, "BVBM", []),
    ("cr.cardio", "TS.BS. Phạm Quốc Dũng", Role.SPECIALIST, "BVCR", [Specialty.CARDIOLOGY]),
    (
        "cr.surgery",
        "PGS.TS. Võ Thị Hạnh",
        Role.SPECIALIST,
        "BVCR",
        [Specialty.SURGERY, Specialty.RADIOLOGY],
    ),
    ("mc.doctor", "BS. Hoàng Văn Khánh", Role.DOCTOR, "TTYT-MOCCHAU", []),
    ("mc.nurse", "ĐD. Lò Thị Mai", Role.NURSE, "TTYT-MOCCHAU", []),
    ("mv.doctor", "BS. Sùng Mí Lử", Role.DOCTOR, "TTYT-MEOVAC", []),
    ("cd.doctor", "BS. Đặng Thu Ngân", Role.DOCTOR, "TTYT-CONDAO", []),
]


async def load_demo(platform: Platform, password: str | None = None) -> list[str]:
    password = password or secrets.token_urlsafe(9)
    async with platform.db() as db:
        existing = set(await db.scalars(select(Facility.code)))
        for code, name, level, province in FACILITIES:
            if code not in existing:
                await add_facility(db, code=code, name=name, level=level, province=province)
        by_code = {f.code: f for f in await db.scalars(select(Facility))}
        paired = {
            (p.central_id, p.partner_id, p.specialty) for p in await db.scalars(select(Pairing))
        }
        for central, partner, specialty in PAIRINGS:
            key = (by_code[central].id, by_code[partner].id, specialty.value if specialty else "")
            if key not in paired:
                await pair(db, central_code=central, partner_code=partner, specialty=specialty)
        users = {u.username: u for u in await db.scalars(select(User))}
        for username, full_name, role, home, specialties in STAFF:
            if username in users:
                users[username].password_hash = hash_password(password)
                users[username].is_active = True
                users[username].failed_logins = 0
                users[username].locked_until = None
                continue
            await add_user(
                db,
                username=username,
                full_name=full_name,
                role=role,
                password=password,
                facility=await get_facility(db, home) if home else None,
                specialties=specialties,
            )
        await db.commit()

    url = platform.settings.effective_public_url
    lines = [
        "Demo network loaded: 2 central hospitals, 3 district health centres.",
        f"Open {url} and log in with one of these (password for all: {password}):",
        "",
    ]
    for username, full_name, role, home, specialties in STAFF:
        spec = f" [{', '.join(s.value for s in specialties)}]" if specialties else ""
        lines.append(f"  {username:<12} {role.value:<10} {home or '-':<13} {full_name}{spec}")
    return lines
