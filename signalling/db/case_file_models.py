"""Case files: the clinical record a consultation carries, append-only and versioned."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from signalling.db.models import Base
from signalling.db.types import UTCDateTime, utcnow


class CaseFile(Base):
    """One patient's record at their treating facility, reused across consultations."""

    __tablename__ = "case_files"
    __table_args__ = (UniqueConstraint("patient_id", "facility_id"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="RESTRICT"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseEntry(Base):
    """One version of one document (a note, the history, the conclusion ...).

    Rows are never updated: an edit is a new row with the next version, and
    the unique (document, version) pair turns a concurrent edit into a
    conflict instead of a silent overwrite.
    """

    __tablename__ = "case_entries"
    __table_args__ = (UniqueConstraint("document", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_file_id: Mapped[str] = mapped_column(
        ForeignKey("case_files.id", ondelete="RESTRICT"), index=True
    )
    document: Mapped[str] = mapped_column(String(36), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    consultation_id: Mapped[str | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), nullable=True
    )
    shared_with_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseSignature(Base):
    """A clinician's sign-off of one version of a conclusion; it freezes that version."""

    __tablename__ = "case_signatures"

    entry_id: Mapped[int] = mapped_column(
        ForeignKey("case_entries.id", ondelete="RESTRICT"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), primary_key=True
    )
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CaseAttachment(Base):
    """A file in the case file: stored by content hash; the client's name is only a label."""

    __tablename__ = "case_attachments"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    case_file_id: Mapped[str] = mapped_column(
        ForeignKey("case_files.id", ondelete="RESTRICT"), index=True
    )
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    media_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(200))
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    consultation_id: Mapped[str | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="SET NULL"), nullable=True
    )
    shared_with_patient: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
