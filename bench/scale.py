"""An index of N products on this box: build time, memory, disk, store and API latency, recall of the HNSW search.

    python -m bench.scale --products 1000000 [--json OUT] [--queries 1000] [--keep DIR]

The bundled catalogue's rows are varied into N distinct products: variant ``v`` of a row gets the id
``<id>-v<v>``, a model code in its title and attributes, and its own price (×0.8–1.25); its payload is shaped as
the indexer writes it. Dense vectors are the serving passage encoder's real encodings of the distinct texts (cached
in the model cache), each variant's perturbed by Gaussian noise of norm ``--noise`` and renormalised; a variant's
lexical vector is its row's BM25 terms plus the code's. So encoding time does not dominate, and the store holds
N real-shaped points. The store is configured from the settings (``LIRA_QUANTIZATION``, ``LIRA_HNSW_*``,
``LIRA_*_ON_DISK``), written and switched as a reindex writes and switches a version, the catalogue's mined
vocabulary included.

Printed (and written to ``--json``):
- build seconds (writing the points, building HNSW), the indexer's peak RSS, the version's size on disk;
- store-only search p50/p95 over ``--queries`` real shopper queries (train/dev splits), k=10: dense alone, with a
  language, a category, a price and all three filters, and the hybrid (dense + lexical RRF) search the API sends;
- recall@10 of the store's dense search against exact search (computed with numpy while the points are
  generated), without and with the query's market filter;
- ``/v1/search`` p50/p95 through a real uvicorn server at concurrency 1 (the full service: encoding, spelling,
  hybrid retrieval, LaSR), searched in the query's market, and the server's RSS after it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench.common import (
    MemorySampler,
    percentiles,
    process_memory_mib,
    query_markets,
    run_level,
    shopper_queries,
    uvicorn_process,
)
from core.catalogue import Product, content_hash, read_catalogue
from core.lexical import document_vector_of_terms, query_vector, terms
from core.settings import Settings, get_settings
from core.store import index_tuning, open_store
from core.store.base import Filters, IndexVersion, VectorStore
from indexer.job import index_data_hash
from indexer.vocabulary import TermCache, mine_vocabulary, write_vocabulary
from model.encoder import Encoder
from model.loader import load_encoder

WRITE_BATCH = 1024
K = 10


@dataclass
class Queries:
    texts: list[str]
    markets: list[str]
    vectors: np.ndarray  # unit query vectors, (n, dim)


def _base_vectors(settings: Settings, encoder: Encoder, products: list[Product]) -> np.ndarray:
    """Passage vectors of the distinct rows, as the serving passage encoder makes them (cached: a second run of the
    bench does not encode again)."""
    texts = [p.passage_text() for p in products]
    key = hashlib.sha256("\x00".join([encoder.fingerprint, *texts]).encode()).hexdigest()[:16]
    cache = settings.model_cache_dir / "bench-scale" / f"passages-{key}.npy"
    if cache.is_file():
        return np.load(cache)
    print(f"encoding the {len(texts)} distinct passages once (cached in {cache})", file=sys.stderr)
    vectors = encoder.encode(texts, kind="passage", batch_size=settings.batch_size, progress=True)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors.astype(np.float32))
    return vectors.astype(np.float32)


def _variant(p: Product, v: int, rng: random.Random) -> Product:
    if v == 0:
        return p
    code = f"{'ABCDEFGHJKLMNPQRSTUVWXYZ'[v % 24]}{v:04d}"
    price = round(p.price * rng.uniform(0.8, 1.25), 2)
    return p.model_copy(
        update={
            "id": f"{p.id}-v{v}",
            "title": f"{p.title} {code}",
            "price": price,
            "attributes": {**p.attributes, "model": code},
        }
    )


class Points:
    """The N varied products in write order, chunk by chunk, with their dense and lexical vectors."""

    def __init__(self, base: list[Product], vectors: np.ndarray, n: int, noise: float, seed: int = 0) -> None:
        self.base, self.vectors, self.n, self.noise, self.seed = base, vectors, n, noise, seed
        self.terms = [terms(p.passage_text()) for p in base]

    def chunks(self, size: int, lexical: bool = True) -> Iterator[tuple[list[Product], np.ndarray, list]]:
        b = len(self.base)
        rng = random.Random(self.seed)
        for start in range(0, self.n, size):
            idx = np.arange(start, min(start + size, self.n))
            rows, variants = idx % b, idx // b
            vecs = self.vectors[rows].copy()
            moved = variants > 0
            if moved.any():
                noise = np.random.default_rng(self.seed + start).standard_normal((int(moved.sum()), vecs.shape[1]))
                noise *= self.noise / np.linalg.norm(noise, axis=1, keepdims=True)
                vecs[moved] += noise.astype(np.float32)
                vecs[moved] /= np.linalg.norm(vecs[moved], axis=1, keepdims=True)
            products = [_variant(self.base[r], int(v), rng) for r, v in zip(rows, variants, strict=True)]
            sparse = (
                [
                    document_vector_of_terms(self.terms[r] + (terms(p.attributes["model"]) if v else []))
                    for r, v, p in zip(rows, variants, products, strict=True)
                ]
                if lexical
                else []
            )
            yield products, vecs, sparse


class ExactTop:
    """Exact top-k product ids of every query over all points (and over its market's points), updated chunk by
    chunk while the points are written: the ground truth of the recall measurement."""

    def __init__(self, queries: Queries, k: int) -> None:
        self.q, self.k = queries, k
        n = len(queries.texts)
        self.scores = {name: np.full((n, k), -np.inf, np.float32) for name in ("all", "market")}
        self.ids: dict[str, list[list[str]]] = {name: [[""] * k for _ in range(n)] for name in ("all", "market")}
        self.markets = np.array(queries.markets)

    def add(self, products: list[Product], vectors: np.ndarray) -> None:
        sims = self.q.vectors @ vectors.T  # (queries, chunk)
        languages = np.array([p.language for p in products])
        in_market = (languages[None, :] == self.markets[:, None]) | (languages[None, :] == "en")
        for name, s in (("all", sims), ("market", np.where(in_market, sims, -np.inf))):
            merged = np.concatenate([self.scores[name], s], axis=1)
            top = np.argpartition(-merged, self.k - 1, axis=1)[:, : self.k]
            old_ids = self.ids[name]
            new_scores = np.take_along_axis(merged, top, axis=1)
            for qi, row in enumerate(top):
                old_ids[qi] = [old_ids[qi][j] if j < self.k else products[j - self.k].id for j in row]
            self.scores[name] = new_scores

    def recall(self, name: str, found: list[list[str]]) -> float:
        hits = sum(len(set(truth) & set(got)) for truth, got in zip(self.ids[name], found, strict=True))
        return hits / (self.k * len(found))


def _build(store: VectorStore, settings: Settings, encoder: Encoder, points: Points, exact: ExactTop) -> dict:
    t0 = time.perf_counter()
    version = IndexVersion.new(encoder.fingerprint, index_data_hash(f"bench-scale-{points.n}"))
    store.create_version(version, points.vectors.shape[1])
    bar = tqdm(total=points.n, desc="writing", unit="product", file=sys.stderr)
    for products, vecs, sparse in points.chunks(WRITE_BATCH):
        payloads = [
            {**p.payload(), "content_hash": content_hash(p.passage_text(), encoder.fingerprint)} for p in products
        ]
        store.upsert(version, [p.id for p in products], vecs, payloads, sparse)
        exact.add(products, vecs)
        bar.update(len(products))
    bar.close()
    write_s = time.perf_counter() - t0
    cache = TermCache(settings.model_cache_dir / "vocabulary-terms" / f"{encoder.fingerprint}-bench-scale.npz")
    vocabulary = mine_vocabulary(
        points.base, cache.wrap(lambda texts: encoder.encode(texts, kind="query", batch_size=settings.batch_size))
    )
    write_vocabulary(store, version, vocabulary)
    t1 = time.perf_counter()
    print("building HNSW and switching…", file=sys.stderr, flush=True)
    store.finalize(version)
    store.activate(version)
    done = time.perf_counter()
    return {
        "version": str(version),
        "write_s": round(write_s, 1),
        "finalize_s": round(done - t1, 1),
        "build_s": round(done - t0 - vocabulary.seconds, 1),
        "vocabulary_s": round(vocabulary.seconds, 1),
    }


def _reuse(settings: Settings, points: Points, exact: ExactTop) -> dict:
    """The kept index's serving version; the exact top-k computed again from the same points."""
    store = open_store(settings, read_only=True)
    try:
        version = store.current_version()
        if version is None or store.count() != points.n:
            raise SystemExit(
                f"error: no index of {points.n} products is serving in {settings.index_dir}: "
                "build it first with --keep and without --reuse"
            )
    finally:
        store.close()
    for products, vecs, _ in tqdm(
        points.chunks(WRITE_BATCH, lexical=False),
        total=-(-points.n // WRITE_BATCH),
        desc="exact top-k",
        unit="chunk",
        file=sys.stderr,
    ):
        exact.add(products, vecs)
    return {"version": str(version), "reused": True}


def _timed(call, items) -> tuple[dict, list]:
    out, ms = [], []
    for item in items:
        t0 = time.perf_counter()
        out.append(call(item))
        ms.append((time.perf_counter() - t0) * 1000)
    return percentiles(ms), out


def _store_searches(store: VectorStore, queries: Queries, settings: Settings, categories: list[str]) -> dict:
    rng = random.Random(1)
    rows = list(range(len(queries.texts)))
    market = [Filters(languages=(m, "en")) for m in queries.markets]
    category = [Filters(category=rng.choice(categories)) for _ in rows]
    price = [Filters(min_price=lo, max_price=lo * 3) for lo in (rng.uniform(5, 60) for _ in rows)]
    combined = [
        Filters(languages=m.languages, category=c.category, min_price=p.min_price, max_price=p.max_price)
        for m, c, p in zip(market, category, price, strict=True)
    ]
    for i in rows[:50]:  # warm-up: page in the graph and the vectors
        store.search(queries.vectors[i], K)
    result: dict = {}
    result["dense"], plain = _timed(lambda i: store.search(queries.vectors[i], K), rows)
    result["dense_language"], in_market = _timed(lambda i: store.search(queries.vectors[i], K, market[i]), rows)
    result["dense_category"], _ = _timed(lambda i: store.search(queries.vectors[i], K, category[i]), rows)
    result["dense_price"], _ = _timed(lambda i: store.search(queries.vectors[i], K, price[i]), rows)
    result["dense_all_filters"], _ = _timed(lambda i: store.search(queries.vectors[i], K, combined[i]), rows)
    sparse = [query_vector(t) for t in queries.texts]
    result["hybrid_language"], _ = _timed(
        lambda i: store.hybrid_search(
            queries.vectors[i],
            sparse[i],
            settings.rerank_candidates,
            market[i],
            prefetch=settings.prefetch,
            rrf_k=settings.rrf_k,
        ),
        rows,
    )
    ids = {"all": [[h.id for h in hits] for hits in plain], "market": [[h.id for h in hits] for hits in in_market]}
    return {"latency": result, "ids": ids}


def _encode_queries(encoder: Encoder, n: int) -> Queries:
    texts = shopper_queries(n, seed=7)
    markets = query_markets()
    vectors = encoder.encode(texts, kind="query", batch_size=1)  # one at a time, as the API encodes them
    return Queries(texts, [markets[t] for t in texts], vectors.astype(np.float32))


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, required=True, help="products in the index (N)")
    parser.add_argument("--queries", type=int, default=1000, help="queries for the store searches and the recall")
    parser.add_argument("--api-requests", type=int, default=300, help="/v1/search requests at concurrency 1")
    parser.add_argument("--noise", type=float, default=0.3, help="norm of the perturbation of a variant's vector")
    parser.add_argument("--keep", type=Path, help="build the index here and keep it (default: a temporary folder)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="search the index a previous run kept in --keep (same --products and --noise) instead of "
        "building it again: for trying search-time settings such as LIRA_HNSW_EF",
    )
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.products < 1:
        parser.error("--products must be at least 1")
    if args.reuse and not args.keep:
        parser.error("--reuse needs --keep DIR, the folder of the index to reuse")

    base_settings = get_settings()
    workdir = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="lira-scale-"))
    if args.keep and workdir.exists() and not args.reuse:
        shutil.rmtree(workdir)
    settings = base_settings.model_copy(
        update={"store": "edge", "qdrant_url": None, "index_dir": workdir, "collection": "scale"}
    )
    try:
        base = read_catalogue(settings.catalogue_path).products
        encoder = load_encoder(settings)  # one copy serves the passages, the queries and the vocabulary's terms
        vectors = _base_vectors(settings, encoder, base)
        queries = _encode_queries(encoder, args.queries)
        points = Points(base, vectors, args.products, args.noise)
        exact = ExactTop(queries, K)

        if args.reuse:
            build = _reuse(settings, points, exact)
        else:
            with MemorySampler() as memory:
                store = open_store(settings)
                build = _build(store, settings, encoder, points, exact)
                store.close()
            build["indexer_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
            build["indexer_peak_anon_mib"] = memory.peak_mib["anon"]
            build["indexer_peak_file_mib"] = memory.peak_mib["file"]
        version_dir = workdir / "scale" / "versions" / build["version"]
        build["disk_mib"] = round(_du(version_dir) / 2**20, 1)

        reader = open_store(settings, read_only=True)
        t0 = time.perf_counter()
        reader.open_current()
        build["open_s"] = round(time.perf_counter() - t0, 2)
        categories = sorted({p.category.split(" > ")[0] for p in base})
        searched = _store_searches(reader, queries, settings, categories)
        reader.close()
        recall = {name: round(exact.recall(name, searched["ids"][name]), 4) for name in ("all", "market")}

        # the server inherits this environment, so it searches with the same tuning settings
        env = {"LIRA_STORE": "edge", "LIRA_INDEX_DIR": str(workdir), "LIRA_COLLECTION": "scale"}
        api_queries = shopper_queries(args.api_requests + 20, seed=11)
        markets = query_markets()
        with uvicorn_process(env, timeout_s=900) as (url, proc):
            run_level(url, api_queries[:20], 1)
            half = 20 + args.api_requests // 2
            api = run_level(
                url, api_queries[20:half], 1, per_query=lambda q: {"languages": list(dict.fromkeys([markets[q], "en"]))}
            )
            api_any = run_level(url, api_queries[half:], 1)  # no market: every language searched
            api.update(process_memory_mib(proc.pid))
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    tuning = index_tuning(settings)
    result = {
        "products": args.products,
        "distinct_texts": len(base),
        "queries": len(queries.texts),
        "tuning": tuning.__dict__,
        "build": build,
        "store_search": searched["latency"],
        "recall_at_10": recall,
        "api_search_c1": api,
        "api_search_c1_all_languages": api_any,
    }
    print(f"products: {args.products} ({len(base)} distinct texts), tuning {tuning}")
    if build.get("reused"):
        print(f"index reused from {workdir}: disk {build['disk_mib']} MiB, shard opened in {build['open_s']} s")
    else:
        print(
            f"build: {build['build_s']} s (writing {build['write_s']} s, HNSW + switch {build['finalize_s']} s; "
            f"vocabulary {build['vocabulary_s']} s besides), disk {build['disk_mib']} MiB, "
            f"indexer peak RSS {build['indexer_peak_rss_mib']} MiB (of which at most {build['indexer_peak_anon_mib']} "
            f"MiB anonymous, {build['indexer_peak_file_mib']} MiB mapped files), shard opened in {build['open_s']} s"
        )
    for name, r in searched["latency"].items():
        print(f"store {name}: p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms")
    print(f"recall@10 vs exact: {recall['all']} (no filter), {recall['market']} (market filter)")
    print(
        f"/v1/search c=1 in market: p50 {api['p50_ms']} ms  p95 {api['p95_ms']} ms  errors {api['errors']}; "
        f"API RSS {api.get('rss_mib')} MiB (peak {api.get('peak_rss_mib')} MiB)"
    )
    print(
        f"/v1/search c=1, all languages: p50 {api_any['p50_ms']} ms  p95 {api_any['p95_ms']} ms  "
        f"errors {api_any['errors']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
