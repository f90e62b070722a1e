"""The pieces every service's `create_app` assembles, so all four read alike."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI

from services.common.docs import install_docs
from services.common.limits import BodyGuard, BodyRoute, RequestLimits, document_guards
from services.common.observability import (
    Metrics,
    MetricsAccess,
    ReadinessCheck,
    RequestContextMiddleware,
    health_router,
)
from services.common.problems import install_problem_handlers
from services.common.response_cache import ResponseCache, ResponseCacheMiddleware
from services.common.security import verifier_for
from services.common.settings import ServiceSettings

Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def service_app(
    *,
    name: str,
    title: str,
    description: str,
    lifespan: Lifespan | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
    openapi_tags: list[dict[str, Any]] | None = None,
    response_cache: ResponseCache | None = None,
    cache_prefix: str = "/v1/",
    settings: ServiceSettings | None = None,
    body_routes: Sequence[BodyRoute] = (),
    limits: RequestLimits | None = None,
    metrics_access: MetricsAccess | None = None,
) -> FastAPI:
    """A FastAPI app with problem details, request ids, metrics and health endpoints.

    With `settings`, the app also keeps them in `app.state.settings` and checks tokens
    with the key set they point at (`app.state.verifier`). Request bodies are limited to
    `limits.max_json_bytes` except on the service's own `body_routes` (see `limits.py`);
    `limits` and `metrics_access` are read from the environment (`PORTAL_*`) when not given.
    """

    @asynccontextmanager
    async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield

    app = FastAPI(
        title=title,
        description=description,
        version="1.0.0",
        lifespan=lifespan or no_lifespan,
        openapi_url="/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        openapi_tags=openapi_tags,
    )
    metrics = Metrics(name)
    app.state.metrics = metrics
    app.state.service_name = name
    if settings is not None:
        app.state.settings = settings
        app.state.verifier = verifier_for(
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            jwks_url=settings.jwks_url,
            keys_dir=settings.keys_dir,
        )
    install_problem_handlers(app)
    install_docs(app, openapi_url="/v1/openapi.json", title=title)
    app.include_router(
        health_router(metrics, readiness or {}, access=metrics_access or MetricsAccess.from_env())
    )
    limits = limits or RequestLimits()
    app.add_middleware(BodyGuard, default=limits.max_json_bytes, routes=body_routes)
    document_guards(app)
    if response_cache is not None:
        app.state.response_cache = response_cache
        app.add_middleware(
            ResponseCacheMiddleware, cache=response_cache, prefix=cache_prefix, scope_depth=3
        )
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    return app
