"""Retention: recordings older than the setting are deleted, by the CLI or an administrator."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from recordings import sidecar
from signalling.audit import Actor
from signalling.db.recording_models import Recording, RecordingFile
from signalling.db.types import utcnow
from signalling.platform import Platform


async def purge_expired(platform: Platform, actor: Actor) -> int:
    """Delete recording files older than the retention setting; returns how many."""
    days = platform.settings.recording_retention_days
    if days is None:
        return 0
    cutoff = utcnow() - timedelta(days=days)
    removed = 0
    async with platform.db() as db:
        old = list(
            await db.execute(
                select(RecordingFile, Recording)
                .join(Recording, Recording.id == RecordingFile.recording_id)
                .where(Recording.ended_at.is_not(None), Recording.ended_at < cutoff)
            )
        )
        for f, _recording in old:
            path = platform.settings.recordings_dir / f.path
            path.unlink(missing_ok=True)
            path.with_suffix(sidecar.SUFFIX).unlink(missing_ok=True)
            await db.delete(f)
            removed += 1
        await db.commit()
    await platform.audit.record(
        actor, "recording.purge", detail={"files": removed, "older_than_days": days}
    )
    return removed
