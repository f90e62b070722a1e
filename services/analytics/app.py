"""The analytics service: Visitor statistics: ingest, bot filtering, unique visitors, reports.

Its capability arrives with its own issue; until then it answers its health endpoints so
the gateway and `portal serve analytics` already treat it as a real service.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.analytics.settings import AnalyticsSettings
from services.common.app import service_app


def create_app(settings: AnalyticsSettings | None = None) -> FastAPI:
    """Build the analytics service."""
    return service_app(
        name="analytics",
        title="Portal Platform — analytics",
        description="Visitor statistics: ingest, bot filtering, unique visitors, reports.",
        settings=settings or AnalyticsSettings(),
    )
