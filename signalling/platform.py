"""The platform's long-lived parts, opened once per process and shared by CLI and server."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from signalling.audit import AuditLog
from signalling.auth.login import LoginPolicy
from signalling.auth.login_sessions import SessionPolicy
from signalling.auth.signing_key import load_signing_key
from signalling.auth.tokens import TokenSigner
from signalling.blobstore import BlobStore
from signalling.db import migrations
from signalling.db.engine import check_database, create_engine, describe_url, session_factory
from signalling.private_files import private_dir
from signalling.settings import Settings
from signalling.shared_state import SharedState, create_shared_state

log = logging.getLogger(__name__)


class StartupError(Exception):
    """The platform cannot start; the message is one line for the operator."""


@dataclass
class Platform:
    settings: Settings
    engine: AsyncEngine
    db: async_sessionmaker[AsyncSession]
    blobs: BlobStore
    shared: SharedState
    signer: TokenSigner
    audit: AuditLog

    @property
    def session_policy(self) -> SessionPolicy:
        return SessionPolicy(
            idle=timedelta(minutes=self.settings.session_idle_minutes),
            absolute=timedelta(hours=self.settings.session_absolute_hours),
        )

    @property
    def login_policy(self) -> LoginPolicy:
        return LoginPolicy(
            max_failures=self.settings.login_max_failures,
            lockout=timedelta(minutes=self.settings.login_lockout_minutes),
        )


async def _check_schema(engine: AsyncEngine, settings: Settings, migrate: bool) -> None:
    head = migrations.head_revision()
    current = await migrations.current_revision(engine)
    if current == head:
        return
    if not migrate:
        raise StartupError(
            f"the database schema is at {current or 'nothing'}, this program needs {head}; "
            "run `telehealth migrate`"
        )
    log.info("migrating database", extra={"from": current, "to": head})
    await migrations.upgrade(engine)


@asynccontextmanager
async def open_platform(
    settings: Settings, *, migrate: bool = False, require_schema: bool = True
) -> AsyncIterator[Platform]:
    """Open database, shared state and blob store, checking each; close them after."""
    try:
        private_dir(settings.data_dir)  # created 0700: it holds the database, key and blobs
        blobs = BlobStore(settings.blob_dir)
        signer = TokenSigner(load_signing_key(settings))
    except (OSError, ValueError) as exc:
        raise StartupError(f"cannot use data directory {settings.data_dir}: {exc}") from None

    engine = create_engine(settings.effective_database_url)
    shared = create_shared_state(settings.redis_url)
    try:
        try:
            await check_database(engine)
        except Exception as exc:
            raise StartupError(str(exc)) from None
        if not await _ping_with_timeout(shared):
            raise StartupError(f"cannot reach shared state at {shared.description}")
        if require_schema:
            await _check_schema(engine, settings, migrate)
        blobs.clean_temporary()
        log.info(
            "platform opened",
            extra={
                "database": describe_url(settings.effective_database_url),
                "shared_state": shared.description,
                "data_dir": str(settings.data_dir),
            },
        )
        sessions = session_factory(engine)
        yield Platform(settings, engine, sessions, blobs, shared, signer, AuditLog(sessions))
    finally:
        await shared.close()
        await engine.dispose()


async def _ping_with_timeout(shared: SharedState, timeout: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(timeout):
            return await shared.ping()
    except TimeoutError:
        return False
