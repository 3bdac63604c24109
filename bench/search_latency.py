"""End-to-end /v1/search latency and throughput over HTTP against a real uvicorn server.

    python -m bench.search_latency [--url URL] [--requests 300] [--json OUT]

Every request carries a distinct shopper query (train/dev splits), so the API's query cache never helps.
The bare query-encoding time and LaSR's cost (rescoring 50 fused candidates of real queries from the serving
index) are measured in the same run, in this process, after the HTTP runs; a third HTTP run at concurrency 1 with
``rerank: false`` shows what reranking adds end to end, and a fourth one searches each query in its market, as a
storefront would (``languages: [market, "en"]``): that is when cross-lingual terms apply and a query with English
words is encoded a second time with the market's names for them.

Facets: in-market searches with ``facets: [category, brand, language, price]`` (the page's request: total and
counts over every match) against the same searches without them, in three alternating rounds of distinct queries
(``--facet-requests`` each side in all); it prints both p95s (median over the rounds) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

from bench.common import percentiles, query_markets, run_level, shopper_queries, uvicorn_server


def _in_process(queries: list[str]) -> dict:
    """Bare query encoding p50, and LaSR's time to rescore the fused top-N of each query (p50/p95)."""
    from app.retrieval.hybrid import retrieve
    from core.settings import get_settings
    from core.store import open_store
    from model.lasr.candidates import CandidateList
    from model.lasr.reranker import Reranker, RerankerLoadError
    from model.loader import load_encoder

    settings = get_settings()
    encoder = load_encoder(settings)
    for q in queries[:10]:
        encoder.encode([q], kind="query")
    times, vectors = [], []
    for q in queries:
        t0 = time.perf_counter()
        vectors.append(encoder.encode([q], kind="query")[0])
        times.append((time.perf_counter() - t0) * 1000)
    out: dict = {"encode_p50_ms": round(statistics.median(times), 2)}
    try:
        reranker = Reranker.load(settings.lasr_checkpoint, encoder.fingerprint)
    except RerankerLoadError as exc:
        print(f"LaSR not measured: {exc}")
        return out
    store = open_store(settings, read_only=True)
    try:
        n = settings.rerank_candidates
        lists = [
            CandidateList.from_hits(v, retrieve(store, v, q, n, prefetch=settings.prefetch, rrf_k=settings.rrf_k))
            for q, v in zip(queries, vectors, strict=True)
        ]
    finally:
        store.close()
    heads = {"torch": reranker}
    served = Reranker.load(settings.lasr_checkpoint, encoder.fingerprint)
    served.use_runtime(settings.runtime, settings.model_cache_dir)  # what the API serves with, side by side
    if served.runtime == "onnx":
        heads["onnx"] = served
    for head in heads.values():
        for c in lists[:10]:
            head.rerank(c, None)
    rerank_ms: dict[str, list[float]] = {name: [] for name in heads}
    for c in lists:
        for name, head in heads.items():
            t0 = time.perf_counter()
            head.rerank(c, "vi")
            rerank_ms[name].append((time.perf_counter() - t0) * 1000)
    served = "onnx" if "onnx" in heads else "torch"
    out["rerank"] = {
        **percentiles(rerank_ms[served]),
        "runtime": served,
        "candidates_mean": round(statistics.mean(len(c) for c in lists), 1),
    }
    if served != "torch":
        out["rerank_torch"] = percentiles(rerank_ms["torch"])
    return out


FACETS = ["category", "brand", "language", "price"]


def _suggest_latency(url: str, queries: list[str], markets: dict[str, str]) -> dict:
    """``GET /v1/suggest`` at c=1 for typed prefixes of shopper queries (2 to 8 characters), in their market."""
    import random

    import httpx

    rng = random.Random(0)
    latencies = []
    with httpx.Client(base_url=url, timeout=30) as client:
        for q in queries:
            prefix = q[: rng.randint(2, 8)]
            t0 = time.perf_counter()
            r = client.get("/v1/suggest", params={"q": prefix, "languages": f"{markets[q]},en"})
            latencies.append((time.perf_counter() - t0) * 1000)
            r.raise_for_status()
    return {**percentiles(latencies), "requests": len(latencies)}


def _facets_side_by_side(url: str, queries: list[str], markets: dict[str, str], rounds: int = 3) -> dict:
    """In-market c=1 searches with and without facets, alternating rounds of distinct queries."""
    import httpx

    def market(q: str) -> dict:
        return {"languages": list(dict.fromkeys([markets[q], "en"]))}

    half = len(queries) // 2
    plain, faceted = queries[:half], queries[half : 2 * half]
    step = max(1, half // rounds)
    without, with_ = [], []
    for i in range(rounds):
        chunk = slice(i * step, (i + 1) * step)
        without.append(run_level(url, plain[chunk], 1, per_query=market)["p95_ms"])
        with_.append(run_level(url, faceted[chunk], 1, {"facets": FACETS}, per_query=market)["p95_ms"])
    totals = [
        httpx.post(f"{url}/v1/search", json={"query": q, "facets": FACETS, **market(q)}, timeout=30).json()["total"]
        for q in faceted[:20]
    ]
    w, f = statistics.median(without), statistics.median(with_)
    return {
        "without_p95_ms": w,
        "with_p95_ms": f,
        "ratio_p95": round(f / w, 2),
        "rounds": rounds,
        "requests_per_side": step * rounds,
        "rounds_without_p95_ms": without,
        "rounds_with_p95_ms": with_,
        "mean_total": round(statistics.mean(totals), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--requests", type=int, default=300, help="requests per concurrency level")
    parser.add_argument("--json", type=Path, help="write the figures here")
    parser.add_argument("--facet-requests", type=int, default=300, help="requests per side of the facets comparison")
    args = parser.parse_args()

    r = args.requests
    f = args.facet_requests
    queries = shopper_queries(4 * r + 20 + 200 + 2 * f)
    facet_set = queries[20 + 4 * r : 20 + 4 * r + 2 * f]
    markets = query_markets()
    # disjoint slices: a query seen before would be answered from the API's query cache
    warmup, level1, level8, level1_plain, level1_market, encode_set = (
        queries[:20],
        queries[20 : 20 + r],
        queries[20 + r : 20 + 2 * r],
        queries[20 + 2 * r : 20 + 3 * r],
        queries[20 + 3 * r : 20 + 4 * r],
        queries[-200:],
    )
    server = nullcontext(args.url) if args.url else uvicorn_server()
    with server as url:
        run_level(url, warmup, 1)
        result = {
            "concurrency_1": run_level(url, level1, 1),
            "concurrency_8": run_level(url, level8, 8),
            "concurrency_1_no_rerank": run_level(url, level1_plain, 1, {"rerank": False}),
            "concurrency_1_market": run_level(
                url, level1_market, 1, per_query=lambda q: {"languages": list(dict.fromkeys([markets[q], "en"]))}
            ),
        }
        result["facets"] = _facets_side_by_side(url, facet_set, markets)
        result["suggest"] = _suggest_latency(url, encode_set, markets)
    result.update(_in_process(encode_set))
    for level in ("concurrency_1", "concurrency_8", "concurrency_1_no_rerank", "concurrency_1_market"):
        r = result[level]
        print(
            f"{level}: p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  "
            f"{r['qps']} QPS  errors {r['errors']}"
        )
    fa = result["facets"]
    print(
        f"in market, c=1, p95: without facets {fa['without_p95_ms']} ms, with facets {fa['with_p95_ms']} ms "
        f"(ratio {fa['ratio_p95']}; medians over {fa['rounds']} alternating rounds, {fa['requests_per_side']} "
        f"requests a side; mean total {fa['mean_total']})"
    )
    sg = result["suggest"]
    print(f"/v1/suggest c=1 ({sg['requests']} prefixes): p50 {sg['p50_ms']} ms  p95 {sg['p95_ms']} ms")
    print(f"bare query encoding p50: {result['encode_p50_ms']} ms")
    if "rerank" in result:
        r = result["rerank"]
        print(
            f"LaSR rescoring {r['candidates_mean']} candidates ({r['runtime']}): p50 {r['p50_ms']} ms  "
            f"p95 {r['p95_ms']} ms"
        )
        if "rerank_torch" in result:
            t = result["rerank_torch"]
            print(f"  the same head on torch: p50 {t['p50_ms']} ms  p95 {t['p95_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
