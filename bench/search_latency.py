"""End-to-end /v1/search latency and throughput over HTTP against a real uvicorn server.

    python -m bench.search_latency [--url URL] [--requests 300] [--json OUT]

Every request carries a distinct shopper query (train/dev splits), so the API's query cache never helps.
The bare query-encoding time is measured in the same run, in this process, after the HTTP runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import httpx

from bench.common import percentiles, shopper_queries, uvicorn_server


async def _run_level(url: str, queries: list[str], concurrency: int) -> dict:
    latencies: list[float] = []
    errors = 0
    pending = list(queries)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while pending:
            q = pending.pop()
            t0 = time.perf_counter()
            try:
                r = await client.post(f"{url}/v1/search", json={"query": q, "k": 10})
                ok = r.status_code == 200
            except httpx.HTTPError:
                ok = False
            latencies.append((time.perf_counter() - t0) * 1000)
            errors += not ok

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {**percentiles(latencies), "qps": round(len(queries) / wall, 1), "errors": errors}


def _encode_p50(queries: list[str]) -> float:
    from core.settings import get_settings
    from model.loader import load_encoder

    encoder = load_encoder(get_settings())
    for q in queries[:10]:
        encoder.encode([q], kind="query")
    times = []
    for q in queries:
        t0 = time.perf_counter()
        encoder.encode([q], kind="query")
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="benchmark this running server instead of starting one")
    parser.add_argument("--requests", type=int, default=300, help="requests per concurrency level")
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    queries = shopper_queries(2 * args.requests + 20 + 200)
    warmup, level1, level8, encode_set = (queries[:20], queries[20:20 + args.requests],
                                          queries[20 + args.requests:20 + 2 * args.requests], queries[-200:])
    server = nullcontext(args.url) if args.url else uvicorn_server()
    with server as url:
        asyncio.run(_run_level(url, warmup, 1))
        result = {
            "concurrency_1": asyncio.run(_run_level(url, level1, 1)),
            "concurrency_8": asyncio.run(_run_level(url, level8, 8)),
        }
    result["encode_p50_ms"] = _encode_p50(encode_set)
    for level in ("concurrency_1", "concurrency_8"):
        r = result[level]
        print(f"{level}: p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms  p99 {r['p99_ms']} ms  "
              f"{r['qps']} QPS  errors {r['errors']}")
    print(f"bare query encoding p50: {result['encode_p50_ms']} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
