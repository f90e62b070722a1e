"""The search service: Vietnamese-aware search of articles and legal documents.

Its capability arrives with its own issue; until then it answers its health endpoints so
the gateway and `portal serve search` already treat it as a real service.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import service_app
from services.search.settings import SearchSettings


def create_app(settings: SearchSettings | None = None) -> FastAPI:
    """Build the search service."""
    return service_app(
        name="search",
        title="Portal Platform — search",
        description="Vietnamese-aware search of articles and legal documents.",
        settings=settings or SearchSettings(),
    )
