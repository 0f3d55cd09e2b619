"""Persistence: SQLAlchemy 2 (async) models, engine and Alembic migrations."""

# Every model module is imported here, so that Base.metadata (and with it the
# migrations and their test) always knows all tables.
from signalling.db import case_file_models, models, recording_models, training_models

__all__ = ["case_file_models", "models", "recording_models", "training_models"]
