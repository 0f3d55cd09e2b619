"""imaging

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 18:14:03.971764
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "imaging_studies",
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("patient_name", sa.String(length=200), nullable=True),
        sa.Column("patient_identifier", sa.String(length=64), nullable=True),
        sa.Column("study_date", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("study_uid", name=op.f("pk_imaging_studies")),
    )
    with op.batch_alter_table("imaging_studies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_imaging_studies_patient_identifier"),
            ["patient_identifier"],
            unique=False,
        )

    op.create_table(
        "imaging_series",
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=True),
        sa.Column("series_number", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=200), nullable=True),
        sa.ForeignKeyConstraint(
            ["study_uid"],
            ["imaging_studies.study_uid"],
            name=op.f("fk_imaging_series_study_uid_imaging_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("series_uid", name=op.f("pk_imaging_series")),
    )
    with op.batch_alter_table("imaging_series", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_imaging_series_study_uid"), ["study_uid"], unique=False
        )

    op.create_table(
        "imaging_instances",
        sa.Column("sop_uid", sa.String(length=64), nullable=False),
        sa.Column("series_uid", sa.String(length=64), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("info", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["series_uid"],
            ["imaging_series.series_uid"],
            name=op.f("fk_imaging_instances_series_uid_imaging_series"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_uid"],
            ["imaging_studies.study_uid"],
            name=op.f("fk_imaging_instances_study_uid_imaging_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("sop_uid", name=op.f("pk_imaging_instances")),
    )
    with op.batch_alter_table("imaging_instances", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_imaging_instances_series_uid"), ["series_uid"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_imaging_instances_study_uid"), ["study_uid"], unique=False
        )

    op.create_table(
        "consultation_studies",
        sa.Column("consultation_id", sa.String(length=36), nullable=False),
        sa.Column("study_uid", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("added_by_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["added_by_id"],
            ["users.id"],
            name=op.f("fk_consultation_studies_added_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["consultation_id"],
            ["consultations.id"],
            name=op.f("fk_consultation_studies_consultation_id_consultations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["study_uid"],
            ["imaging_studies.study_uid"],
            name=op.f("fk_consultation_studies_study_uid_imaging_studies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "consultation_id", "study_uid", name=op.f("pk_consultation_studies")
        ),
    )
    with op.batch_alter_table("consultation_studies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_consultation_studies_study_uid"), ["study_uid"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("consultation_studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consultation_studies_study_uid"))

    op.drop_table("consultation_studies")
    with op.batch_alter_table("imaging_instances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imaging_instances_study_uid"))
        batch_op.drop_index(batch_op.f("ix_imaging_instances_series_uid"))

    op.drop_table("imaging_instances")
    with op.batch_alter_table("imaging_series", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imaging_series_study_uid"))

    op.drop_table("imaging_series")
    with op.batch_alter_table("imaging_studies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_imaging_studies_patient_identifier"))

    op.drop_table("imaging_studies")
