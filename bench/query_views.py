"""Arca query encoding with every view vs with the views the gate provably barely weighs skipped, side by side.

    python -m bench.query_views [--bound 0.1] [--queries 200] [--json OUT]

One encoder, the same distinct shopper queries, the two settings interleaved query by query (so machine noise hits
both alike): single-query latency, batches of 8 (what the API's micro-batcher forms under load), encoder passes
per query, and the cosine between the two settings' vectors. Retrieval quality of the two settings:
``LIRA_QUERY_VIEW_BOUND=0 python -m model.evaluation catalogue --split dev --systems arca`` vs the default.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from bench.common import percentiles, shopper_queries


def main() -> None:
    from core.settings import get_settings
    from model.loader import load_encoder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bound", type=float, default=None, help="default: the settings' query_view_bound")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    settings = get_settings()
    if settings.model != "arca":
        raise SystemExit("error: view pruning is an Arca feature; unset LIRA_MODEL=base")
    encoder = load_encoder(settings)
    bound = settings.query_view_bound if args.bound is None else args.bound
    if bound <= 0:
        raise SystemExit("error: give a bound above 0 (--bound 0.1) to compare with encoding every view")
    settings_by_name = {"all_views": 0.0, "pruned": bound}
    queries = shopper_queries(args.queries + 10)
    warm, queries = queries[:10], queries[10:]

    def encode(texts: list[str], name: str) -> np.ndarray:
        encoder.query_view_bound = settings_by_name[name]
        return encoder.encode(texts, kind="query")

    for name in settings_by_name:
        encode(warm, name)
    single: dict[str, list[float]] = {name: [] for name in settings_by_name}
    batched: dict[str, list[float]] = {name: [] for name in settings_by_name}
    for q in queries:
        for name in settings_by_name:
            t0 = time.perf_counter()
            encode([q], name)
            single[name].append((time.perf_counter() - t0) * 1000)
    for start in range(0, len(queries) - 7, 8):
        for name in settings_by_name:
            t0 = time.perf_counter()
            encode(queries[start : start + 8], name)
            batched[name].append((time.perf_counter() - t0) * 1000 / 8)
    vectors = {name: encode(queries, name) for name in settings_by_name}
    views = encoder.core.build_views(queries)
    passes = {
        "all_views": statistics.mean(len(v.texts) for v in views),
        "pruned": statistics.mean(len(v.texts) for v in encoder.core.prune(views, "query", bound)),
    }
    cos = (vectors["all_views"] * vectors["pruned"]).sum(axis=1)
    result = {
        "model": encoder.model_id,
        "bound": bound,
        "queries": len(queries),
        **{
            name: {
                "single": percentiles(single[name]),
                "batch8_ms_per_query": round(statistics.median(batched[name]), 2),
                "encoder_passes_per_query": round(passes[name], 2),
            }
            for name in settings_by_name
        },
        "speedup_single_p50": round(statistics.median(single["all_views"]) / statistics.median(single["pruned"]), 2),
        "speedup_batch8": round(statistics.median(batched["all_views"]) / statistics.median(batched["pruned"]), 2),
        "cosine": {"min": round(float(cos.min()), 5), "mean": round(float(cos.mean()), 6)},
    }
    for name in settings_by_name:
        r = result[name]
        print(
            f"{name:>9}: {r['encoder_passes_per_query']} passes/query  single p50 {r['single']['p50_ms']} ms  "
            f"p95 {r['single']['p95_ms']} ms  batch of 8: {r['batch8_ms_per_query']} ms/query"
        )
    print(
        f"speed-up: single p50 {result['speedup_single_p50']}x, batch of 8 {result['speedup_batch8']}x; "
        f"cosine pruned vs all views min {result['cosine']['min']} mean {result['cosine']['mean']}"
    )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
