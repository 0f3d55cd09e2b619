"""Small helpers for writing rows."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from signalling.errors import Conflict

R = TypeVar("R")


async def add_unique(db: AsyncSession, row: R, conflict: str) -> R:
    """Insert a row; a unique constraint it breaks becomes a Conflict with this message.

    The database decides, not a read before the write, so two requests racing
    for the same name cannot both win.
    """
    db.add(row)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise Conflict(conflict) from None
    return row
