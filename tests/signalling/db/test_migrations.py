"""Migrations on SQLite and PostgreSQL: they apply, match the models, and go back."""

from __future__ import annotations

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect

from signalling.db import migrations
from signalling.db.engine import create_engine
from signalling.db.models import Base

TABLES = {
    "facilities",
    "facility_pairings",
    "users",
    "user_specialties",
    "login_sessions",
    "invites",
    "audit_events",
    "patients",
    "consultations",
    "consultation_events",
    "consultation_participants",
    "chat_messages",
    "case_files",
    "case_entries",
    "case_signatures",
    "case_attachments",
    "recordings",
    "recording_consents",
    "recording_files",
    "training_questions",
    "training_votes",
    "attendance",
    "imaging_studies",
    "imaging_series",
    "imaging_instances",
    "consultation_studies",
}


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def _diff(conn: Connection) -> list[object]:
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def test_upgrade_matches_models_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await migrations.current_revision(engine) is None
        await migrations.upgrade(engine)
        assert await migrations.current_revision(engine) == migrations.head_revision()
        async with engine.connect() as conn:
            assert TABLES <= await conn.run_sync(_tables)
            # The migrations create exactly what the models declare.
            assert await conn.run_sync(_diff) == []

        await migrations.upgrade(engine)  # idempotent
        await migrations.downgrade(engine, "base")
        async with engine.connect() as conn:
            assert not (TABLES & await conn.run_sync(_tables))
        await migrations.upgrade(engine)
        assert await migrations.current_revision(engine) == migrations.head_revision()
    finally:
        await engine.dispose()


async def test_nodes_migrating_together_on_postgres(postgres_url: str) -> None:
    """Several nodes starting at once: the advisory lock lets one migrate, the rest wait."""
    engines = [create_engine(postgres_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrations.upgrade(e) for e in engines))
        assert await migrations.current_revision(engines[0]) == migrations.head_revision()
    finally:
        for engine in engines:
            await engine.dispose()
