"""The records the control plane keeps: the network, its staff, log-ins and invites."""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Enum,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from signalling.db.types import UTCDateTime, utcnow

# Named constraints so that Alembic migrations can refer to them on both databases.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class FacilityLevel(enum.StrEnum):
    CENTRAL = "central"
    PROVINCIAL = "provincial"
    DISTRICT = "district"
    COMMUNE = "commune"


class Role(enum.StrEnum):
    ADMIN = "admin"
    SPECIALIST = "specialist"
    DOCTOR = "doctor"
    NURSE = "nurse"
    TRAINER = "trainer"


class Specialty(enum.StrEnum):
    CARDIOLOGY = "cardiology"
    RADIOLOGY = "radiology"
    NEUROLOGY = "neurology"
    OBSTETRICS = "obstetrics"
    PATHOLOGY = "pathology"
    SURGERY = "surgery"
    INFECTIOUS_DISEASE = "infectious_disease"
    PEDIATRICS = "pediatrics"
    ONCOLOGY = "oncology"
    INTERNAL_MEDICINE = "internal_medicine"
    EMERGENCY = "emergency"


def _enum(cls: type[enum.StrEnum]) -> Enum:
    # Stored as short strings with a CHECK, not a native ENUM type, so that
    # adding a member is a plain migration on both databases.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=True,
        length=24,
        values_callable=lambda members: [m.value for m in members],
        name=cls.__name__.lower(),
    )


class Facility(Base):
    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[FacilityLevel] = mapped_column(_enum(FacilityLevel))
    province: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Pairing(Base):
    """A central hospital supports a district (or lower) facility, for one specialty or all."""

    __tablename__ = "facility_pairings"
    __table_args__ = (UniqueConstraint("central_id", "partner_id", "specialty"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    central_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="CASCADE"))
    # "" means every specialty; not NULL, so that the unique constraint holds.
    specialty: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    central: Mapped[Facility] = relationship(foreign_keys=[central_id])
    partner: Mapped[Facility] = relationship(foreign_keys=[partner_id])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    facility_id: Mapped[int | None] = mapped_column(
        ForeignKey("facilities.id", ondelete="RESTRICT"), nullable=True
    )
    password_hash: Mapped[str] = mapped_column(String(255))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    on_call: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    facility: Mapped[Facility | None] = relationship()
    specialty_rows: Mapped[list[UserSpecialty]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )

    @property
    def specialties(self) -> list[str]:
        return sorted(row.specialty for row in self.specialty_rows)


class UserSpecialty(Base):
    __tablename__ = "user_specialties"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    specialty: Mapped[str] = mapped_column(String(32), primary_key=True, index=True)


class LoginSession(Base):
    """A browser log-in; the cookie holds a random token, the table only its SHA-256."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(300), default="")
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Invite(Base):
    """A patient link: its token's ``jti``, redeemable once, for one room."""

    __tablename__ = "invites"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    room: Mapped[str] = mapped_column(String(100), index=True)
    patient_name: Mapped[str] = mapped_column(String(200), default="")
    issued_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    redeemed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AuditEvent(Base):
    """One line of the append-only audit log, chained to the previous one by hash."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(80), index=True)  # user:12, patient:<invite>, cli
    actor_role: Mapped[str] = mapped_column(String(24), default="")
    ip: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64), index=True)
    object_type: Mapped[str] = mapped_column(String(40), default="")
    object_id: Mapped[str] = mapped_column(String(128), default="", index=True)
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Whose data it was and the actor's facility, for "who touched patient X"
    # and "what did facility F do". Plain integers, not foreign keys: a row
    # must outlive the patient or facility it names, and must never be
    # rewritten by an ON DELETE (the hash covers these fields when set).
    patient_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    facility_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)


class Sex(enum.StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Patient(Base):
    """The minimal record that consultations and case files point to."""

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("home_facility_id", "identifier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    full_name: Mapped[str] = mapped_column(String(200))
    date_of_birth: Mapped[date | None] = mapped_column(Date, nullable=True)
    sex: Mapped[Sex] = mapped_column(_enum(Sex))
    # National ID or the facility's record number; unique within a facility.
    identifier: Mapped[str] = mapped_column(String(64))
    phone: Mapped[str] = mapped_column(String(32), default="")
    home_facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    created_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsultKind(enum.StrEnum):
    MEDICAL_ADVICE = "medical_advice"
    CLINICAL = "clinical_consultation"
    IMAGING = "imaging_consultation"
    PATHOLOGY = "pathology_consultation"
    SURGERY = "surgery_consultation"
    TRAINING = "training"


class Urgency(enum.StrEnum):
    ROUTINE = "routine"
    URGENT = "urgent"
    EMERGENCY = "emergency"


class ConsultStatus(enum.StrEnum):
    REQUESTED = "requested"
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"
    CANCELLED = "cancelled"


class Consultation(Base):
    """A consultation from request to end: who asked, who was asked, who took it, its room."""

    __tablename__ = "consultations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[ConsultKind] = mapped_column(_enum(ConsultKind))
    specialty: Mapped[str] = mapped_column(String(32))
    urgency: Mapped[Urgency] = mapped_column(_enum(Urgency))
    question: Mapped[str] = mapped_column(Text)
    patient_id: Mapped[int | None] = mapped_column(
        ForeignKey("patients.id", ondelete="RESTRICT"), nullable=True
    )
    requester_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    facility_id: Mapped[int] = mapped_column(ForeignKey("facilities.id", ondelete="RESTRICT"))
    status: Mapped[ConsultStatus] = mapped_column(_enum(ConsultStatus), index=True)
    # Dispatch: which ring of hospitals is being asked, until when.
    ring: Mapped[int] = mapped_column(Integer, default=1)
    ring_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    accepted_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="RESTRICT"), nullable=True
    )
    room: Mapped[str] = mapped_column(String(100), unique=True)
    scheduled_for: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class ConsultationEvent(Base):
    """The lifecycle, step by step: requested, offered, escalated, declined, accepted, ..."""

    __tablename__ = "consultation_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class Participant(Base):
    """Staff who take part in a consultation (requester, the specialist, invitees)."""

    __tablename__ = "consultation_participants"

    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    part: Mapped[str] = mapped_column(String(16))  # requester, consultant, invited
    invited_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ChatMessage(Base):
    """A chat line in a room, kept with the session and replayed to late joiners."""

    __tablename__ = "chat_messages"
    # A client resending after a reconnect reuses its client_id: stored once.
    __table_args__ = (UniqueConstraint("room", "sender", "client_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    room: Mapped[str] = mapped_column(String(100), index=True)
    sender: Mapped[str] = mapped_column(String(64))  # participant id: u12, p<invite>
    sender_name: Mapped[str] = mapped_column(String(200))
    text: Mapped[str] = mapped_column(Text)
    client_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImagingStudy(Base):
    """A DICOM study the platform holds; found by UID, never a file path."""

    __tablename__ = "imaging_studies"

    study_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    patient_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    patient_identifier: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    study_date: Mapped[str | None] = mapped_column(String(8), nullable=True)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ImagingSeries(Base):
    __tablename__ = "imaging_series"

    series_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    study_uid: Mapped[str] = mapped_column(
        ForeignKey("imaging_studies.study_uid", ondelete="CASCADE"), index=True
    )
    modality: Mapped[str | None] = mapped_column(String(16), nullable=True)
    series_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    description: Mapped[str | None] = mapped_column(String(200), nullable=True)


class ImagingInstance(Base):
    """One stored object: its blob (SHA-256) and what the viewer needs to show it."""

    __tablename__ = "imaging_instances"

    sop_uid: Mapped[str] = mapped_column(String(64), primary_key=True)
    series_uid: Mapped[str] = mapped_column(
        ForeignKey("imaging_series.series_uid", ondelete="CASCADE"), index=True
    )
    study_uid: Mapped[str] = mapped_column(
        ForeignKey("imaging_studies.study_uid", ondelete="CASCADE"), index=True
    )
    blob_sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    info: Mapped[str] = mapped_column(Text)  # dicom_viewer InstanceInfo as JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ConsultationStudy(Base):
    """A study in a consultation's case file; one study may be in several."""

    __tablename__ = "consultation_studies"

    consultation_id: Mapped[str] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"), primary_key=True
    )
    study_uid: Mapped[str] = mapped_column(
        ForeignKey("imaging_studies.study_uid", ondelete="CASCADE"), primary_key=True, index=True
    )
    source: Mapped[str] = mapped_column(String(16))  # upload, stow, c-store
    added_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
