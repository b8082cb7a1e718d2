"""Alembic environment of the appraisal service."""

from services.appraisal.models import Base
from shared.migrations import run_env

run_env(Base.metadata)
