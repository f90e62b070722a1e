"""Alembic environment of the media service."""

from services.common.migrate import run_env
from services.media.models import Base

run_env(Base.metadata, "media")
