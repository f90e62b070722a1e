"""The backends the search contract suite (`test_contract.py`) holds to the same behaviour.

The embedded backend (tantivy, in `tmp_path`) always runs. Meilisearch runs too when
`MEILI_URL` is set; without it the Meilisearch parameter is simply absent (not skipped).
To run the suite against a real Meilisearch (deploy/k8s ships one; locally
`docker run -p 7700:7700 -e MEILI_MASTER_KEY=… getmeili/meilisearch:v1.11`):

    MEILI_URL=http://127.0.0.1:7700 MEILI_MASTER_KEY=… make test
    # or only this suite:
    MEILI_URL=http://127.0.0.1:7700 MEILI_MASTER_KEY=… .venv/bin/pytest tests/search

Each test gets its own index prefix (`t<hex>_`) and its indexes are deleted afterwards.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from services.search.backends.embedded import EmbeddedBackend
from services.search.model import SearchBackend

BACKENDS = ["embedded", *(["meilisearch"] if os.environ.get("MEILI_URL") else [])]


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[SearchBackend]:
    """An open, empty backend of each configured kind."""
    if request.param == "embedded":
        instance: Any = EmbeddedBackend(tmp_path / "search", writer_heap=15_000_000)
        await instance.open()
        try:
            yield instance
        finally:
            await instance.close()
        return
    from services.search.backends.meili import MeiliBackend

    url, key = os.environ["MEILI_URL"], os.environ.get("MEILI_MASTER_KEY")
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    instance = MeiliBackend(url, key, prefix)
    await instance.open()
    try:
        yield instance
    finally:
        await instance.close()
        await _drop_meili_indexes(url, key, prefix)


async def _drop_meili_indexes(url: str, key: str | None, prefix: str) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as client:
        listing = (await client.get("/indexes", params={"limit": 1000})).json()
        for index in listing.get("results", []):
            if index["uid"].startswith(prefix):
                await client.delete(f"/indexes/{index['uid']}")
