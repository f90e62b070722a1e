"""The embedded backend keeps (total, facets) per query until the next write: never stale."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.search.backends.counts import CountCache
from services.search.backends.embedded import EmbeddedBackend
from services.search.model import DocType, Filters, SearchDocument, SearchQuery


def doc(n: int, *, portal: str = "ha-noi", title: str = "Bảo hiểm thất nghiệp") -> SearchDocument:
    return SearchDocument(
        key=f"article:a{n}",
        id=f"a{n}",
        type=DocType.ARTICLE,
        portal=portal,
        title=title,
        url=f"/a{n}",
        published_at=datetime(2024, 1, n, tzinfo=UTC),
        version=1,
        year=2024,
    )


@pytest.fixture
async def backend(tmp_path):
    instance = EmbeddedBackend(tmp_path / "search", writer_heap=15_000_000)
    await instance.open()
    await instance.upsert([doc(1), doc(2, portal="phu-yen")])
    yield instance
    await instance.close()


@pytest.fixture
def tallies(monkeypatch):
    """How many times the backend counted (one aggregation pass each)."""
    calls: list[int] = []
    counted = EmbeddedBackend._tally

    def tally(*args):
        calls.append(1)
        return counted(*args)

    monkeypatch.setattr(EmbeddedBackend, "_tally", staticmethod(tally))
    return calls


async def counts(backend: EmbeddedBackend, q: str = "bao hiem", **kwargs) -> tuple[int, dict]:
    found = await backend.search(SearchQuery(q=q, **kwargs))
    return found.total, found.facets["portal"]


class TestKeptUntilTheNextWrite:
    async def test_the_same_query_is_counted_once(self, backend, tallies):
        assert await counts(backend) == (2, {"ha-noi": 1, "phu-yen": 1})
        assert await counts(backend, per_page=1, page=2) == (2, {"ha-noi": 1, "phu-yen": 1})
        assert await counts(backend, "bảo hiểm") == (2, {"ha-noi": 1, "phu-yen": 1})
        assert len(tallies) == 1

    async def test_other_filters_are_counted_apart(self, backend, tallies):
        await counts(backend)
        assert await counts(backend, filters=Filters(portal=("phu-yen",))) == (1, {"phu-yen": 1})
        assert len(tallies) == 2

    async def test_upsert(self, backend):
        await counts(backend)
        await backend.upsert([doc(3, portal="da-nang")])
        assert await counts(backend) == (3, {"ha-noi": 1, "phu-yen": 1, "da-nang": 1})

    async def test_upsert_that_changes_a_document(self, backend):
        await counts(backend)
        await backend.upsert([doc(2, portal="phu-yen", title="Lịch công tác")])
        assert await counts(backend) == (1, {"ha-noi": 1})

    async def test_delete(self, backend):
        await counts(backend)
        await backend.delete(["article:a1"])
        assert await counts(backend) == (1, {"phu-yen": 1})

    async def test_clear(self, backend):
        await counts(backend, "")
        await backend.clear()
        assert await counts(backend, "") == (0, {})

    async def test_replace_all(self, backend):
        await counts(backend)

        async def batches():
            yield [doc(5, portal="can-tho")]

        await backend.replace_all(batches())
        assert await counts(backend) == (1, {"can-tho": 1})


class TestCountCache:
    def test_counts_of_a_view_a_write_replaced_are_not_kept(self):
        cache = CountCache()
        generation = cache.generation
        with cache.writing():
            pass
        cache.put("q", generation, (1, {}))
        assert cache.get("q") is None

    def test_nothing_is_served_or_kept_while_a_write_is_under_way(self):
        cache = CountCache()
        cache.put("q", cache.generation, (1, {}))
        with cache.writing():
            assert cache.get("q") is None
            cache.put("q", cache.generation, (2, {}))
            assert cache.get("q") is None
        assert cache.get("q") is None

    def test_the_least_recently_used_goes_first(self):
        cache = CountCache(size=2)
        for key in ("a", "b"):
            cache.put(key, cache.generation, (1, {}))
        cache.get("a")
        cache.put("c", cache.generation, (1, {}))
        assert [cache.get(k) is not None for k in ("a", "b", "c")] == [True, False, True]
