"""Load test: many /v1/search requests at high concurrency against a real uvicorn server.

    python -m bench.load [--requests 10000] [--concurrency 32] [--filtered 0.2] [--url URL] [--json OUT]

Without ``--url`` it brings the configured index up to date first (``python -m indexer reindex --if-stale``: the
bundled catalogue, incremental) and starts ``python -m app`` over it, with keys and rate limits off. Query texts are
the distinct train/dev shopper queries (never test), repeated once exhausted: the first pass misses the API's query
cache, later passes hit it, and both are reported. A share of requests carries filters (languages, category, price).
Exits 1 if any request got a 5xx or no answer at all.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import subprocess
import sys
import time
from collections import Counter
from contextlib import nullcontext
from pathlib import Path

import httpx

from bench.common import ROOT, percentiles, uvicorn_server
from core.settings import LANGUAGES

CATEGORIES = (
    "Electronics",
    "Shoes",
    "Groceries",
    "Beauty & Personal Care",
    "Mobile & Accessories",
    "Home & Living",
    "Sports & Outdoors",
    "Books",
)
# The server under test runs open: no keys, no rate limit (whatever this shell's environment says).
SERVER_ENV = {"LIRA_API_KEYS": "", "LIRA_ADMIN_API_KEYS": "", "LIRA_RATE_LIMIT": ""}


def all_queries() -> list[str]:
    """Every distinct train/dev query text, shuffled reproducibly."""
    texts: set[str] = set()
    for split in ("dev", "train"):
        path = ROOT / "data" / "catalogue" / f"queries.{split}.jsonl"
        with path.open(encoding="utf-8") as fh:
            texts.update(json.loads(line)["text"] for line in fh if line.strip())
    ordered = sorted(texts)
    random.Random(0).shuffle(ordered)
    return ordered


def plan(n: int, filtered_share: float, seed: int = 1) -> list[tuple[dict, bool]]:
    """``n`` request bodies, with whether each one's query text is seen for the first time."""
    rng = random.Random(seed)
    queries = all_queries()
    bodies = []
    for i in range(n):
        body: dict = {"query": queries[i % len(queries)], "k": 10}
        if rng.random() < filtered_share:
            kind = rng.choice(("languages", "category", "price", "all"))
            if kind in ("languages", "all"):
                body["languages"] = rng.sample(LANGUAGES, rng.choice((1, 2)))
            if kind in ("category", "all"):
                body["category"] = rng.choice(CATEGORIES)
            if kind in ("price", "all"):
                low = rng.choice((0, 100, 1000, 10000))  # prices are in each market's currency
                body["min_price"], body["max_price"] = low, low * 20 + 500
        bodies.append((body, i < len(queries)))
    return bodies


async def run(url: str, bodies: list[tuple[dict, bool]], concurrency: int) -> dict:
    cold: list[float] = []
    cached: list[float] = []
    statuses: Counter[str] = Counter()
    pending = iter(bodies)

    async def worker(client: httpx.AsyncClient) -> None:
        for body, first_time in pending:
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{url}/v1/search", json=body)
                statuses[str(r.status_code)] += 1
            except httpx.HTTPError as exc:
                statuses[f"transport:{type(exc).__name__}"] += 1
            (cold if first_time else cached).append((time.perf_counter() - t0) * 1000)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    every = cold + cached
    return {
        "requests": len(every),
        "concurrency": concurrency,
        "wall_s": round(wall, 1),
        "qps": round(len(every) / wall, 1),
        **percentiles(every),
        "status_counts": dict(sorted(statuses.items())),
        "errors_5xx": sum(v for k, v in statuses.items() if k.startswith("5")),
        "no_answer": sum(v for k, v in statuses.items() if k.startswith("transport")),
        "first_time_queries": {"requests": len(cold), **(percentiles(cold) if cold else {})},
        "repeated_queries": {"requests": len(cached), **(percentiles(cached) if cached else {})},
    }


def refresh_index() -> None:
    print("bringing the index up to date (python -m indexer reindex --if-stale) …", flush=True)
    subprocess.run([sys.executable, "-m", "indexer", "reindex", "--if-stale", "--no-progress"], cwd=ROOT, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="load this running server instead of starting one")
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--filtered", type=float, default=0.2, help="share of requests with filters")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    bodies = plan(args.requests, args.filtered)
    if not args.url:
        refresh_index()
    server = nullcontext(args.url) if args.url else uvicorn_server(SERVER_ENV)
    with server as url:
        info = httpx.get(f"{url}/v1/info", timeout=30).json()
        asyncio.run(run(url, plan(64, args.filtered, seed=99), min(args.concurrency, 8)))  # warm-up, not counted
        result = asyncio.run(run(url, bodies, args.concurrency))
    result["filtered_share"] = args.filtered
    result["server"] = {k: info.get(k) for k in ("model", "index_version", "documents", "store")}

    print(
        f"{result['requests']} requests at concurrency {result['concurrency']} ({args.filtered:.0%} filtered) "
        f"against {result['server']['documents']} products, {result['server']['model']}"
    )
    print(
        f"  {result['qps']} QPS over {result['wall_s']} s; p50 {result['p50_ms']} ms  p95 {result['p95_ms']} ms  "
        f"p99 {result['p99_ms']} ms"
    )
    for part in ("first_time_queries", "repeated_queries"):
        r = result[part]
        if r["requests"]:
            print(
                f"  {part.replace('_', ' ')}: {r['requests']} requests; p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  "
                f"p99 {r['p99_ms']} ms"
            )
    print(f"  statuses {result['status_counts']}; 5xx {result['errors_5xx']}; no answer {result['no_answer']}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 1 if result["errors_5xx"] or result["no_answer"] else 0


if __name__ == "__main__":
    sys.exit(main())
