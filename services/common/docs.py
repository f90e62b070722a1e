"""The interactive API reference (Swagger UI), served from the bundled assets.

FastAPI's default page loads Swagger UI from a public CDN, which a government network
closed to the internet cannot reach; `fastapi-offline` ships Swagger UI 5 (which reads
OpenAPI 3.1) in its wheel, so `/docs` works offline. Only its static files are used.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"


def install_docs(app: FastAPI, *, openapi_url: str, title: str) -> None:
    """Serve Swagger UI at `/docs` for the document at `openapi_url`."""
    directory = str(files("fastapi_offline") / "static")
    app.mount(ASSETS, StaticFiles(directory=directory), name="docs-assets")

    @app.api_route("/docs", methods=["GET", "HEAD"], include_in_schema=False)
    async def docs() -> HTMLResponse:
        """Interactive API reference."""
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
