"""The embedded backend's shortcuts rank exactly as its full scoring does.

`_ranked` may rank only a bucket of the best documents (every word without a typo, or with
one where a word is in no document as typed; also side by side; also in the title or
number), when it fills the page; the full query must give the same page. Documents and
queries are drawn with a fixed seed from the BHXH texts of the demo corpus, with typos,
prefixes and filters.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from services.search.backends.embedded import EmbeddedBackend
from services.search.model import DocType, Filters, SearchDocument, SearchQuery

CORPUS_DIR = Path(__file__).resolve().parents[2] / "services" / "content" / "demo" / "corpus"


def vocabulary() -> list[str]:
    text = " ".join(p.read_text(encoding="utf-8") for p in sorted(CORPUS_DIR.glob("*.txt")))
    return [w for w in text.split() if w.isalpha()]


def draw_documents(rng: random.Random, vocab: list[str], count: int) -> list[SearchDocument]:
    def run(n: int) -> str:
        start = rng.randrange(len(vocab) - n)
        return " ".join(vocab[start : start + n])

    docs = []
    for n in range(count):
        published = datetime(2020, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(2000))
        docs.append(
            SearchDocument(
                key=f"article:a{n}",
                id=f"a{n}",
                type=DocType.ARTICLE,
                portal=rng.choice(("ha-noi", "phu-yen")),
                title=run(rng.randint(5, 10)),
                url=f"/a{n}",
                published_at=published,
                version=1,
                lead=run(rng.randint(10, 20)),
                body=run(rng.randint(40, 120)),
                year=published.year,
            )
        )
    return docs


def draw_query(rng: random.Random, vocab: list[str], typo_rate: float = 0.3) -> str:
    start = rng.randrange(len(vocab) - 3)
    picked = vocab[start : start + rng.randint(1, 3)]
    if rng.random() < typo_rate:  # a typo in a long word
        long = [i for i, w in enumerate(picked) if len(w) >= 5]
        if long:
            i = rng.choice(long)
            w = picked[i]
            cut = rng.randrange(1, len(w))
            picked[i] = w[:cut] + w[cut + 1 :]
    q = " ".join(picked)
    if rng.random() < 0.5:  # still typing the last word
        q = q[: len(q) - rng.randint(0, max(0, len(picked[-1]) - 1))]
    else:
        q += " "
    return q


@pytest.fixture(scope="module")
async def loaded(tmp_path_factory):
    rng = random.Random(5)
    vocab = vocabulary()
    backend = EmbeddedBackend(tmp_path_factory.mktemp("buckets"))
    await backend.open()
    await backend.upsert(draw_documents(rng, vocab, 600))
    yield backend, vocab
    await backend.close()


def compare_buckets(backend, vocab, typo_rate: float) -> tuple[list[int], int]:
    """Pages each bucket filled (placed and side by side, side by side, placed in a query
    without pairs, best typo tier), and how many of them were filled by a bucket of one
    typo; each compared with the full query's page."""
    rng = random.Random(17)
    searcher = backend._live().searcher()
    taken = [0, 0, 0, 0]
    with_a_typo = 0  # a word in no document as typed: its best documents have one typo
    for _ in range(300):
        q = draw_query(rng, vocab, typo_rate)
        portal = rng.choice(((), ("ha-noi",)))
        query = SearchQuery(q=q, filters=Filters(portal=portal), per_page=rng.choice((3, 10)))
        plan = backend._plan(query)
        if not plan.has_buckets:
            continue
        typos = [w.fewest_typos(searcher) for w in plan.words]
        if None in typos:
            continue
        page = query.per_page
        full = searcher.search(plan.scored(len(plan.words)), page, count=True)
        buckets = plan.buckets(typos)
        for n, bucket in enumerate(buckets):
            found = searcher.search(bucket, page, count=True)
            assert found.count <= full.count
            if found.count >= page:
                taken[(0, 1, 3)[n] if len(buckets) == 3 else (2, 3)[n]] += 1
                with_a_typo += any(typos)
                assert found.hits == full.hits, (q, n)
    return taken, with_a_typo


async def test_every_bucket_ranks_the_page_as_the_full_query(loaded):
    taken, _ = compare_buckets(*loaded, typo_rate=0.3)
    assert min(taken) >= 10, taken  # every bucket filled pages, compared with the full query


async def test_a_bucket_of_one_typo_ranks_the_page_as_the_full_query(loaded):
    _, with_a_typo = compare_buckets(*loaded, typo_rate=1.0)
    assert with_a_typo >= 10, with_a_typo


def test_each_rule_outweighs_all_later_rules_together():
    from services.search.backends import embedded as e

    n = e._BUCKET_WORDS
    pairs = n - 1
    later_than_proximity = n * e._ATTRIBUTE_BONUS + e._EXACT_BONUS
    later_than_typo = pairs * e._PAIR_BONUS + later_than_proximity
    assert min(e._TYPO_TIER[0] - e._TYPO_TIER[1], e._TYPO_TIER[1] - e._TYPO_TIER[2]) > (
        later_than_typo
    )
    assert e._PAIR_BONUS > later_than_proximity
    assert e._ATTRIBUTE_BONUS > e._EXACT_BONUS
    assert e._NUMBER > n * e._TYPO_TIER[0] + later_than_typo


async def test_total_and_facets_count_every_match_when_the_shortcut_ranks(loaded):
    backend, vocab = loaded
    rng = random.Random(23)
    checked = 0
    for _ in range(60):
        q = draw_query(rng, vocab)
        results = await backend.search(SearchQuery(q=q, per_page=3))
        plan = backend._plan(SearchQuery(q=q, per_page=3))
        searcher = backend._live().searcher()
        full = searcher.search(plan.scored(len(plan.words)), 1, count=True)
        if full.count == 0:
            continue
        checked += 1
        assert results.total == full.count, q
        assert sum(results.facets["type"].values()) == full.count, q
    assert checked >= 30
