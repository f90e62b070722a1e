"""App factories for `portal serve <service>` (uvicorn --factory), one per service.

Each reads its settings from the environment when called, never at import time.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp


def gateway() -> ASGIApp:
    from gateway.app import create_app
    from gateway.settings import GatewaySettings

    return create_app(GatewaySettings())


def content() -> FastAPI:
    from services.content.app import create_app

    return create_app()


def search() -> FastAPI:
    from services.search.app import create_app

    return create_app()


def media() -> FastAPI:
    from services.media.app import create_app

    return create_app()


def analytics() -> FastAPI:
    from services.analytics.app import create_app

    return create_app()
