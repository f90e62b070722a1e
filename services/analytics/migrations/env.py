"""Alembic environment of the analytics service."""

from services.analytics.models import Base
from services.common.migrate import run_env

run_env(Base.metadata, "analytics")
