"""Where a search's time goes, in process: the API's own Searcher (encoder thread, Edge store, LaSR) timed stage by
stage over distinct shopper queries, one at a time.

    python -m bench.search_stages [--queries 600] [--market] [--json OUT]

Stages (p50 / p95 / p99 ms): ``version`` (the serving-version check), ``encode (thread)`` (the encoder call in the
API's encoder thread), ``encode (await)`` (what the search waits for it, hand-off included), ``hybrid`` (the Edge
prefetch + RRF query), ``rerank`` (LaSR), ``display`` (titles, prices… of the shown results), ``search`` (the
whole ``Searcher.search``, no HTTP). Then the same encoder calls again in the main thread, alone (``encode
(alone)``): the difference to ``encode (thread)`` is what running beside the rest of the search costs the encoder.
``--market``: each query searched in its market (``languages: [market, "en"]``).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

from bench.common import percentiles, query_markets, shopper_queries


def _timed(times: list[float], fn: Callable) -> Callable:
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            times.append((time.perf_counter() - t0) * 1000)

    return wrapper


def _timed_async(times: list[float], fn: Callable) -> Callable:
    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return await fn(*args, **kwargs)
        finally:
            times.append((time.perf_counter() - t0) * 1000)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=600, help="timed searches (after 100 warm-up ones)")
    parser.add_argument("--market", action="store_true", help='search each query with languages [market, "en"]')
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    from app.api.schemas import SearchRequest
    from app.search import Searcher
    from core.settings import get_settings
    from core.store import open_store
    from model.loader import load_encoder

    settings = get_settings()
    encoder = load_encoder(settings)
    store = open_store(settings, read_only=True)
    searcher = Searcher.build(settings, encoder, store)
    searcher.vocabulary_ready.wait(300)
    searcher.names_ready.wait(300)
    markets = query_markets()
    texts = shopper_queries(args.queries + 100, seed=1)

    def request(q: str) -> SearchRequest:
        return SearchRequest(query=q, languages=list(dict.fromkeys([markets[q], "en"])) if args.market else None)

    times: dict[str, list[float]] = defaultdict(list)
    calls: list[list[str]] = []
    encode = encoder.encode

    def recorded(batch, kind="passage", **kwargs):
        calls.append(list(batch))
        return encode(batch, kind=kind, **kwargs)

    async def run() -> None:
        for q in texts[:100]:
            await searcher.search(request(q))
        for samples in times.values():  # in place: the wrappers hold these lists
            samples.clear()
        calls.clear()
        for q in texts[100:]:
            t0 = time.perf_counter()
            await searcher.search(request(q))
            times["search"].append((time.perf_counter() - t0) * 1000)

    # the searcher's own objects, wrapped where they are looked up at search time (the encoder thread calls
    # ``encoder.encode`` through the same object)
    encoder.encode = _timed(times["encode (thread)"], recorded)
    searcher.queries.encode_many = _timed_async(times["encode (await)"], searcher.queries.encode_many)
    searcher.serving_version = _timed_async(times["version"], searcher.serving_version)
    searcher.hybrid_search = _timed(times["hybrid"], searcher.hybrid_search)
    searcher._rerank = _timed(times["rerank"], searcher._rerank)
    store.with_display_fields = _timed(times["display"], store.with_display_fields)
    asyncio.run(run())
    encoder.encode = encode
    alone = times["encode (alone)"]
    for batch in calls:  # the same calls, in the main thread, nothing beside them
        t0 = time.perf_counter()
        encode(batch, kind="query")
        alone.append((time.perf_counter() - t0) * 1000)
    searcher.queries.close()
    store.close()

    order = ("version", "encode (thread)", "encode (await)", "encode (alone)", "hybrid", "rerank", "display", "search")
    result = {
        "queries": args.queries,
        "market": args.market,
        "encoder_calls": len(calls),
        "stages": {name: {**percentiles(times[name]), "n": len(times[name])} for name in order if times[name]},
    }
    for name, r in result["stages"].items():
        print(f"{name:16s} n {r['n']:4d}  p50 {r['p50_ms']:6.2f}  p95 {r['p95_ms']:6.2f}  p99 {r['p99_ms']:6.2f} ms")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
