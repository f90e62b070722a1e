"""The media service: Uploads, validation, image renditions and object storage.

Its capability arrives with its own issue; until then it answers its health endpoints so
the gateway and `portal serve media` already treat it as a real service.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import service_app
from services.media.settings import MediaSettings


def create_app(settings: MediaSettings | None = None) -> FastAPI:
    """Build the media service."""
    return service_app(
        name="media",
        title="Portal Platform — media",
        description="Uploads, validation, image renditions and object storage.",
        settings=settings or MediaSettings(),
    )
