"""torch vs ONNX Runtime for the encoder trunk, side by side in one run: single-query latency and agreement.

    python -m bench.encoder_runtime [--model arca|base] [--queries 150] [--json OUT]

Both encoders are loaded from the same settings (only ``runtime`` differs) and alternate over the same distinct
shopper queries (two rounds each, interleaved, so machine noise hits both alike). Agreement: cosine between the
two runtimes' vectors for the queries and for 200 catalogue passages.
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
    encoders = {rt: load_encoder(settings.model_copy(update={"runtime": rt})) for rt in ("torch", "onnx")}
    queries = shopper_queries(args.queries)
    passages = [p.passage_text() for p in read_catalogue(settings.catalogue_path).products[::64][:200]]
    times: dict[str, list[float]] = {rt: [] for rt in encoders}
    for _ in range(2):
        for q in queries:
            for rt, enc in encoders.items():
                t0 = time.perf_counter()
                enc.encode([q], kind="query")
                times[rt].append((time.perf_counter() - t0) * 1000)
    agreement = {}
    for kind, texts in (("query", queries), ("passage", passages)):
        a, b = (encoders[rt].encode(texts, kind=kind) for rt in ("torch", "onnx"))
        cos = (a * b).sum(axis=1)
        agreement[kind] = {"min_cos": round(float(cos.min()), 6), "mean_cos": round(float(cos.mean()), 6)}
    result = {
        "model": encoders["onnx"].model_id,
        "threads": settings.threads,
        "torch": percentiles(times["torch"]),
        "onnx": percentiles(times["onnx"]),
        "speedup_p50": round(np.median(times["torch"]) / np.median(times["onnx"]), 2),
        "agreement": agreement,
    }
    for rt in ("torch", "onnx"):
        r = result[rt]
        print(f"{rt:>5}: single query p50 {r['p50_ms']} ms  p95 {r['p95_ms']} ms")
    print(f"speed-up at p50: {result['speedup_p50']}x; agreement {agreement}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
