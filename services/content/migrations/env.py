"""Alembic environment of the content service."""

from services.common.migrate import run_env
from services.content.models import Base

run_env(Base.metadata, "content")
