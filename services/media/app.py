"""The media service: Uploads, validation, image renditions and object storage.

Its capability arrives with its own issue; until then it answers its health endpoints so
the gateway and `portal serve media` already treat it as a real service.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.common.app import service_app
from services.common.security import verifier_for
from services.media.settings import MediaSettings


def create_app(settings: MediaSettings | None = None) -> FastAPI:
    """Build the media service."""
    settings = settings or MediaSettings()
    app = service_app(
        name="media",
        title="Portal Platform — media",
        description="Uploads, validation, image renditions and object storage.",
    )
    app.state.settings = settings
    app.state.verifier = verifier_for(
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        jwks_url=settings.jwks_url,
        keys_dir=settings.keys_dir,
    )
    return app
