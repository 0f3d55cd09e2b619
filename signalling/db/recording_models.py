"""Recordings: consent first, then per-track files of what the SFU forwarded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Float, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from signalling.db.models import Base
from signalling.db.types import UTCDateTime, utcnow


class Recording(Base):
    """One recording of a room: asked for, consented to (or not), run, stopped."""

    __tablename__ = "recordings"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room: Mapped[str] = mapped_column(String(100), index=True)
    consultation_id: Mapped[str | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), nullable=True
    )
    requested_by: Mapped[str] = mapped_column(String(80))  # the member's identity
    status: Mapped[str] = mapped_column(String(16))  # consent, recording, refused, stopped
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class RecordingConsent(Base):
    """Each participant's answer; a patient's refusal keeps them out of the recording."""

    __tablename__ = "recording_consents"

    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), primary_key=True
    )
    participant_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(80))
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(24))
    decision: Mapped[str] = mapped_column(String(16))  # accepted, refused
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RecordingFile(Base):
    """A finished track file: named by room and producer, checked by SHA-256."""

    __tablename__ = "recording_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    recording_id: Mapped[str] = mapped_column(
        ForeignKey("recordings.id", ondelete="CASCADE"), index=True
    )
    participant_id: Mapped[str] = mapped_column(String(64))
    producer_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # audio, video, composite
    path: Mapped[str] = mapped_column(String(300))  # relative to the recordings directory
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    size: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
