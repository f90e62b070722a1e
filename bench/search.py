"""Search: indexing throughput and query latency of the embedded backend (issue 3).

N synthetic Vietnamese documents (articles and legal documents over six portals, with
categories, document types, issuers, years and numbers such as `123/QĐ-BHXH`) are drawn with
a fixed seed from the vocabulary of the BHXH texts shipped with the demo data. Then:

    index      in-process docs/s into `EmbeddedBackend`: batches of 1,000 through `upsert`
               (one commit each, as the outbox sync does), then the same documents through
               `replace_all` (what `portal reindex` does)
    in-process a fixed query mix straight on the backend, opened afresh on the settled
               index (background merges done, the generated documents freed): p50/p95
               per kind after warm-up, one query at a time
    http       the same mix over HTTP at concurrency 1 (latency), against `portal serve
               search` on the index just built, then through the gateway (`portal dev
               --no-demo` on the same data dir); baseline: `bench/hello.py`, a bare FastAPI
               hello-world served by uvicorn, timed the same way in the same run

    python bench/search.py --docs 100000 --queries 200

Results go to bench/out/search-<timestamp>.json and are printed as a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import platform
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))

from bench.populate import sentence, vocabulary  # noqa: E402
from bench.run_content import free_port, server  # noqa: E402
from services.common.text import fold  # noqa: E402
from services.search.backends.embedded import EmbeddedBackend  # noqa: E402
from services.search.model import DocType, Filters, SearchDocument, SearchQuery, Sort  # noqa: E402

PORTALS = ("trung-uong", "ha-noi", "tp-ho-chi-minh", "phu-yen", "da-nang", "can-tho")
CATEGORIES = ("tin-tuc", "chinh-sach-bhxh", "chinh-sach-bhyt", "truyen-thong", "hoi-dap")
DOC_TYPES = {  # doc_type: the code in its number
    "Công văn": None,
    "Quyết định": "QĐ",
    "Thông tư": "TT",
    "Nghị định": "NĐ",
    "Hướng dẫn": "HD",
    "Kế hoạch": "KH",
}
ISSUERS = {  # issuer: the code in its numbers
    "BHXH Việt Nam": "BHXH",
    "Chính phủ": "CP",
    "Bộ Y tế": "BYT",
    "Bộ Lao động - Thương binh và Xã hội": "BLĐTBXH",
    "Bộ Tài chính": "BTC",
    "UBND tỉnh": "UBND",
}
YEARS = range(2015, 2026)
BATCH = 1000
NO_FILTERS = Filters()
WARM_UP = 20  # queries of each kind before measuring
KINDS = (
    "no-diacritics",
    "accented",
    "typo",
    "prefix",
    "document number",
    "portal + newest",
    "empty + facets",
    "suggest",
)


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )


# -- documents -------------------------------------------------------------------------


def generate(count: int, seed: int = 7) -> list[SearchDocument]:
    """`count` documents, about one legal document for three articles."""
    rng = random.Random(seed)
    words = vocabulary()
    start = datetime(2015, 1, 1, tzinfo=UTC)
    span = int((datetime(2025, 12, 31, tzinfo=UTC) - start).total_seconds())
    docs: list[SearchDocument] = []
    with progress() as bar:
        task = bar.add_task("generate", total=count)
        for n in range(count):
            portal = rng.choice(PORTALS)
            published = start + timedelta(seconds=rng.randrange(span))
            paragraphs = [
                sentence(rng, words, rng.randint(30, 70)) for _ in range(rng.randint(2, 5))
            ]
            common: dict[str, Any] = {
                "portal": portal,
                "title": sentence(rng, words, rng.randint(6, 14)),
                "published_at": published,
                "version": 1,
                "lead": sentence(rng, words, rng.randint(15, 30)),
                "body": "\n\n".join(paragraphs),
            }
            if n % 4 == 3:
                doc_type, type_code = rng.choice(list(DOC_TYPES.items()))
                issuer, issuer_code = rng.choice(list(ISSUERS.items()))
                year = published.year
                serial = rng.randint(1, 5000)
                if doc_type in ("Nghị định", "Thông tư"):
                    number = f"{serial}/{year}/{type_code}-{issuer_code}"
                elif type_code is None:  # công văn: issuer then the issuing department
                    number = f"{serial}/{issuer_code}-{rng.choice(('TT', 'CSYT', 'TCKT'))}"
                else:
                    number = f"{serial}/{type_code}-{issuer_code}"
                docs.append(
                    SearchDocument(
                        key=f"document:d{n}",
                        id=f"d{n}",
                        type=DocType.DOCUMENT,
                        url=f"/{portal}/van-ban/d{n}",
                        number=number,
                        doc_type=doc_type,
                        issuer=issuer,
                        year=year,
                        **common,
                    )
                )
            else:
                docs.append(
                    SearchDocument(
                        key=f"article:a{n}",
                        id=f"a{n}",
                        type=DocType.ARTICLE,
                        url=f"/{portal}/tin-tuc/a{n}",
                        category=rng.choice(CATEGORIES),
                        tags=tuple(rng.sample(words, 2)),
                        year=published.year,
                        **common,
                    )
                )
            bar.advance(task)
    return docs


# -- the query mix ---------------------------------------------------------------------


class Query:
    """One query of the mix: how to run it in-process and as an HTTP request."""

    def __init__(
        self, kind: str, q: str, filters: Filters = NO_FILTERS, sort: Sort = Sort.RELEVANCE
    ):
        self.kind, self.q, self.filters, self.sort = kind, q, filters, sort

    def http(self) -> tuple[str, list[tuple[str, str]]]:
        params = [("q", self.q)] if self.q or self.kind != "suggest" else []
        params += [("portal", p) for p in self.filters.portal]
        if self.kind == "suggest":
            return "/v1/search/suggest", params
        if self.sort is not Sort.RELEVANCE:
            params.append(("sort", str(self.sort)))
        return "/v1/search", params

    async def run(self, backend: EmbeddedBackend) -> None:
        if self.kind == "suggest":
            await backend.suggest(self.q, self.filters, 8)
        else:
            await backend.search(SearchQuery(q=self.q, filters=self.filters, sort=self.sort))


def query_mix(docs: Sequence[SearchDocument], per_kind: int, seed: int = 11) -> list[Query]:
    """`per_kind` queries of every kind, drawn with a fixed seed (warm-up ones excluded)."""
    rng = random.Random(seed)
    words = [w.lower() for w in vocabulary()]
    numbers = [d.number for d in docs if d.number]
    titles = [d.title for d in docs]

    def phrase(n: int) -> list[str]:
        i = rng.randrange(len(words) - n)
        return words[i : i + n]

    def typo(word: str) -> str:
        i = rng.randrange(1, len(word))
        letter = rng.choice([c for c in "abcdeghiklmnopqrstuvxy" if c != word[i]])
        return word[:i] + letter + word[i + 1 :]

    out: list[Query] = []
    for _ in range(per_kind + WARM_UP):
        out.append(Query("no-diacritics", fold(" ".join(phrase(rng.randint(2, 3))))))
        out.append(Query("accented", " ".join(phrase(rng.randint(2, 3)))))
        while True:  # a real phrase with one typo in a word of 5+ letters
            candidate = [fold(w) for w in phrase(2)]
            long = [i for i, w in enumerate(candidate) if len(w) >= 5 and w.isalpha()]
            if long:
                i = rng.choice(long)
                candidate[i] = typo(candidate[i])
                break
        out.append(Query("typo", " ".join(candidate)))
        head = phrase(3)
        out.append(Query("prefix", " ".join([*head[:2], head[2][: rng.randint(1, 3)]])))
        number = rng.choice(numbers)
        shape = rng.random()
        if shape < 0.5:
            q = number  # 123/QĐ-BHXH
        elif shape < 0.75:
            q = fold(number)  # 123/qd-bhxh
        else:
            q = number.split("/")[0]  # 123
        out.append(Query("document number", q))
        out.append(
            Query(
                "portal + newest",
                " ".join(phrase(rng.randint(1, 2))),
                Filters(portal=(rng.choice(PORTALS),)),
                Sort.NEWEST,
            )
        )
        portal = (rng.choice(PORTALS),) if rng.random() < 0.5 else ()
        out.append(Query("empty + facets", "", Filters(portal=portal)))
        title = fold(rng.choice(titles)).split()
        out.append(Query("suggest", " ".join([*title[:2], title[2][: rng.randint(1, 3)]])))
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {
        "n": len(samples),
        "p50_ms": cuts[49] * 1000,
        "p95_ms": cuts[94] * 1000,
        "max_ms": max(samples) * 1000,
    }


async def measure(
    label: str, queries: list[Query], call: Callable[[Query], Awaitable[None]]
) -> dict[str, dict[str, float]]:
    """Run the warm-up (the first WARM_UP of each kind), then time the rest, one at a time."""
    seen: dict[str, int] = {}
    timings: dict[str, list[float]] = {kind: [] for kind in KINDS}
    with progress() as bar:
        task = bar.add_task(label, total=len(queries))
        for query in queries:
            seen[query.kind] = seen.get(query.kind, 0) + 1
            started = time.perf_counter()
            await call(query)
            elapsed = time.perf_counter() - started
            if seen[query.kind] > WARM_UP:
                timings[query.kind].append(elapsed)
            bar.advance(task)
    return {kind: percentiles(samples) for kind, samples in timings.items()}


async def over_http(base: str, queries: list[Query]) -> dict[str, dict[str, float]]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:

        async def call(query: Query) -> None:
            path, params = query.http()
            response = await client.get(path, params=params)
            if response.status_code != 200:
                raise RuntimeError(f"{path} {params}: {response.status_code} {response.text}")

        return await measure(base, queries, call)


async def hello(base: str, count: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        samples = []
        for n in range(count + WARM_UP):
            started = time.perf_counter()
            response = await client.get("/")
            elapsed = time.perf_counter() - started
            response.raise_for_status()
            if n >= WARM_UP:
                samples.append(elapsed)
    return percentiles(samples)


# -- indexing --------------------------------------------------------------------------


async def index_with_upsert(backend: EmbeddedBackend, docs: list[SearchDocument]) -> float:
    with progress() as bar:
        task = bar.add_task("upsert, batches of 1,000", total=len(docs))
        started = time.perf_counter()
        for i in range(0, len(docs), BATCH):
            await backend.upsert(docs[i : i + BATCH])
            bar.advance(task, len(docs[i : i + BATCH]))
        elapsed = time.perf_counter() - started
    return len(docs) / elapsed


async def index_with_replace_all(backend: EmbeddedBackend, docs: list[SearchDocument]) -> float:
    async def batches() -> AsyncIterator[Sequence[SearchDocument]]:
        for i in range(0, len(docs), BATCH):
            yield docs[i : i + BATCH]

    with progress() as bar:
        task = bar.add_task("replace_all", total=len(docs))
        started = time.perf_counter()
        count = await backend.replace_all(
            batches(), progress=lambda done: bar.update(task, completed=done)
        )
        elapsed = time.perf_counter() - started
    assert count == len(docs), (count, len(docs))
    return len(docs) / elapsed


# -- the run ---------------------------------------------------------------------------


async def index(data_dir: Path, docs: list[SearchDocument]) -> dict[str, float]:
    backend = EmbeddedBackend(data_dir / "search")
    await backend.open()
    try:
        upsert_rate = await index_with_upsert(backend, docs)
        print(f"upsert: {upsert_rate:,.0f} docs/s", flush=True)
        replace_rate = await index_with_replace_all(backend, docs)
        print(f"replace_all: {replace_rate:,.0f} docs/s", flush=True)
    finally:
        await backend.close()  # waits for the background merges
    return {"upsert_docs_per_s": upsert_rate, "replace_all_docs_per_s": replace_rate}


async def in_process(data_dir: Path, count: int, queries: list[Query]) -> dict[str, Any]:
    """The mix on the index as a service finds it: opened afresh, merges done."""
    backend = EmbeddedBackend(data_dir / "search")
    await backend.open()
    try:
        found = await backend.search(SearchQuery(per_page=1, facets=()))
        assert found.total == count, found.total
        return await measure("in-process", queries, lambda query: query.run(backend))
    finally:
        await backend.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200, help="measured queries per kind")
    parser.add_argument("--keep", action="store_true", help="keep the index directory")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="portal-bench-search-"))
    print(f"index under {tmp}", flush=True)
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}",
        "docs": args.docs,
        "queries_per_kind": args.queries,
        "warm_up_per_kind": WARM_UP,
    }
    try:
        docs = generate(args.docs)
        queries = query_mix(docs, args.queries)
        results["in_process"] = asyncio.run(index(tmp, docs))
        del docs  # a serving process does not hold them
        gc.collect()
        results["in_process"]["latency"] = asyncio.run(in_process(tmp, args.docs, queries))
        quiet = {"LOG_LEVEL": "WARNING"}
        uvicorn = [str(VENV_BIN / "uvicorn"), "--workers", "1", "--log-level", "warning"]
        port = free_port()
        with server([*uvicorn, "--port", str(port), "bench.hello:app"], quiet, port, "/"):
            results["hello_world"] = asyncio.run(hello(f"http://127.0.0.1:{port}", args.queries))
        print(f"hello-world: {results['hello_world']}", flush=True)
        port = free_port()
        cmd = [str(VENV_BIN / "portal"), "serve", "search", "--port", str(port)]
        env = {**quiet, "SEARCH_DATA_DIR": str(tmp)}
        with server(cmd, env, port, "/healthz"):
            results["search_service"] = asyncio.run(over_http(f"http://127.0.0.1:{port}", queries))
        port = free_port()
        cmd = [str(VENV_BIN / "portal"), "dev", "--no-demo", "--port", str(port)]
        with server([*cmd, "--data-dir", str(tmp)], quiet, port, "/healthz"):
            results["gateway"] = asyncio.run(over_http(f"http://127.0.0.1:{port}", queries))
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    out_dir = ROOT / "bench" / "out"
    out_dir.mkdir(exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out_dir / f"search-{stamp}.json").write_text(json.dumps(results, indent=2))
    report(results)


def report(results: dict[str, Any]) -> None:
    inproc = results["in_process"]
    print(f"\n{results['machine']}; {results['docs']:,} documents; {results['date']}\n")
    print(f"- upsert, batches of {BATCH:,}: {inproc['upsert_docs_per_s']:,.0f} docs/s")
    print(f"- replace_all: {inproc['replace_all_docs_per_s']:,.0f} docs/s\n")
    hw = results["hello_world"]
    print("| query | in-process p50 | p95 | search service p50 | p95 | gateway p50 | p95 |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(f"| hello-world (baseline) | — | — | {hw['p50_ms']:.2f} | {hw['p95_ms']:.2f} | — | — |")
    for kind in KINDS:
        cells = [
            f"{results[where][kind]['p50_ms']:.2f} | {results[where][kind]['p95_ms']:.2f}"
            for where in ("search_service", "gateway")
        ]
        lat = inproc["latency"][kind]
        print(f"| {kind} | {lat['p50_ms']:.2f} | {lat['p95_ms']:.2f} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
