"""What a training is and who holds one: the rule every training path checks.

A training is a room any staff member may watch, so it must never carry a
patient, and only a consultation made as a training (POST /api/trainings) is
one: a consultation request cannot be made a training, and a row of kind
training that names a patient (made before that was refused) is treated as
the consultation it is, never as an open room. Its trainer is the account
that made it, while that account may still hold trainings.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.db.models import Consultation, ConsultKind, Role, User

TRAINER_ROLES = frozenset({Role.TRAINER, Role.SPECIALIST})
TRAINING_ENDPOINT = "POST /api/trainings"


def may_hold_trainings(user: User) -> bool:
    return user.is_active and user.role in TRAINER_ROLES and user.facility_id is not None


def is_training(c: Consultation) -> bool:
    return c.kind is ConsultKind.TRAINING and c.patient_id is None


def is_trainer(c: Consultation, user: User) -> bool:
    """The training's own trainer, still allowed to hold trainings (roles change)."""
    return is_training(c) and c.requester_id == user.id and may_hold_trainings(user)


async def training(db: AsyncSession, training_id: str) -> Consultation | None:
    c = await db.get(Consultation, training_id)
    return c if c is not None and is_training(c) else None


async def training_in_room(db: AsyncSession, room: str) -> Consultation | None:
    c = await db.scalar(select(Consultation).where(Consultation.room == room))
    return c if c is not None and is_training(c) else None
