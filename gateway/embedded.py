"""Embedded mode: the gateway with every service mounted in one process."""

from __future__ import annotations

from pathlib import Path

from starlette.types import ASGIApp

from gateway.app import create_app
from gateway.settings import GatewaySettings
from services.analytics.app import create_app as analytics_app
from services.analytics.settings import AnalyticsSettings
from services.content.app import create_app as content_app
from services.content.settings import ContentSettings
from services.media.app import create_app as media_app
from services.media.settings import MediaSettings
from services.search.app import create_app as search_app
from services.search.settings import SearchSettings


def embedded_gateway(data_dir: Path) -> ASGIApp:
    """All services in-process, their data under `data_dir` (env vars still apply)."""
    services = {
        "content": content_app(ContentSettings(data_dir=data_dir)),
        "search": search_app(SearchSettings(data_dir=data_dir)),
        "media": media_app(MediaSettings(data_dir=data_dir)),
        "analytics": analytics_app(AnalyticsSettings(data_dir=data_dir)),
    }
    return create_app(GatewaySettings(), services=services)
