"""torch vs ONNX Runtime fp32 vs ONNX Runtime with int8 queries, side by side in one run: single-query latency
and agreement.

    python -m bench.encoder_runtime [--model arca|base] [--queries 150] [--json OUT]

The encoders are loaded from the same settings (only ``runtime`` and ``query_precision`` differ) and alternate over
the same distinct shopper queries (two rounds each, interleaved, so machine noise hits all alike). Agreement:
cosine between each ONNX encoder's vectors and torch's, for the queries and for 200 catalogue passages (int8 only
ever applies to queries: its passages are the fp32 graph's).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench.common import percentiles, shopper_queries


def main() -> None:
    from core.catalogue import read_catalogue
    from core.settings import get_settings
    from model.loader import load_encoder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", choices=("arca", "base"), default=None, help="default: the settings' model")
    parser.add_argument("--queries", type=int, default=150)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    settings = get_settings()
    if args.model:
        settings = settings.model_copy(update={"model": args.model})
    configs = {"torch": ("torch", "fp32"), "onnx": ("onnx", "fp32"), "onnx_int8": ("onnx", "int8")}
    encoders = {
        name: load_encoder(settings.model_copy(update={"runtime": rt, "query_precision": precision}))
        for name, (rt, precision) in configs.items()
    }
    queries = shopper_queries(args.queries)
    passages = [p.passage_text() for p in read_catalogue(settings.catalogue_path).products[::64][:200]]
    times: dict[str, list[float]] = {name: [] for name in encoders}
    for _ in range(2):
        for q in queries:
            for name, enc in encoders.items():
                t0 = time.perf_counter()
                enc.encode([q], kind="query")
                times[name].append((time.perf_counter() - t0) * 1000)
    agreement: dict[str, dict] = {name: {} for name in ("onnx", "onnx_int8")}
    for kind, texts in (("query", queries), ("passage", passages)):
        ref = encoders["torch"].encode(texts, kind=kind)
        for name in agreement:
            cos = (ref * encoders[name].encode(texts, kind=kind)).sum(axis=1)
            agreement[name][kind] = {"min_cos": round(float(cos.min()), 6), "mean_cos": round(float(cos.mean()), 6)}
    result = {
        "model": encoders["onnx"].model_id,
        "threads": settings.threads,
        **{name: percentiles(times[name]) for name in encoders},
        "speedup_p50": round(np.median(times["torch"]) / np.median(times["onnx"]), 2),
        "int8_speedup_p50": round(np.median(times["onnx"]) / np.median(times["onnx_int8"]), 2),
        "agreement_with_torch": agreement,
    }
    for name in encoders:
        r = result[name]
        print(f"{name:>9}: single query p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms")
    print(f"ONNX vs torch at p50: {result['speedup_p50']}x; int8 queries vs ONNX fp32: {result['int8_speedup_p50']}x")
    print(f"agreement with torch: {agreement}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
