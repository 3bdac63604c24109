"""Full reindex throughput vs the raw encoder and the base model on the same texts, side by side in one run.

    python -m bench.index_throughput [--limit N] [--json OUT]

The reindex (validate → encode → upsert → mine the vocabulary → HNSW → switch) goes into a throw-away Edge index;
``ratio`` = products/s ÷ the serving encoder's passage texts/s says how much the job adds on top of the model, and
``ratio_to_base`` = products/s ÷ multilingual-e5-small's texts/s (the faster of two passes, same runtime) what the
whole job costs against indexing with the base model alone.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from core.catalogue import read_catalogue
from core.settings import get_settings
from core.store import open_store
from indexer.job import reindex
from model.loader import load_encoder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--catalogue", type=Path, default=get_settings().catalogue_path)
    parser.add_argument("--limit", type=int, help="only the first N rows of the catalogue")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        catalogue = args.catalogue
        if args.limit:
            catalogue = Path(tmp) / "subset.jsonl"
            with args.catalogue.open(encoding="utf-8") as src:
                catalogue.write_text(
                    "".join(line for _, line in zip(range(args.limit), src, strict=False)), encoding="utf-8"
                )
        settings = get_settings().model_copy(
            update={"store": "edge", "qdrant_url": None, "index_dir": Path(tmp) / "index"}
        )
        encoder = load_encoder(settings)
        texts = [p.passage_text() for p in read_catalogue(catalogue).products]
        encoder.encode(texts[:64], kind="passage")  # warm-up

        store = open_store(settings)
        summary = reindex(catalogue, encoder, store, batch_size=settings.batch_size, progress=True)
        store.close()

        t0 = time.perf_counter()
        encoder.encode(texts, kind="passage", batch_size=settings.batch_size, progress=True)
        raw_per_s = len(texts) / (time.perf_counter() - t0)

        base = load_encoder(settings.model_copy(update={"model": "base"}))
        base.encode(texts[:64], kind="passage")  # warm-up
        rates = []
        for _ in range(2):  # the faster of two passes: a shared machine's slow moments count against the reindex
            t0 = time.perf_counter()
            base.encode(texts, kind="passage", batch_size=settings.batch_size, progress=True)
            rates.append(len(texts) / (time.perf_counter() - t0))
        base_per_s = max(rates)

    result = {
        "products_per_s": round(summary.products_per_s, 1),
        "raw_encoder_per_s": round(raw_per_s, 1),
        "base_encoder_per_s": round(base_per_s, 1),
        "ratio": round(summary.products_per_s / raw_per_s, 3),
        "ratio_to_base": round(summary.products_per_s / base_per_s, 3),
        "products": summary.indexed,
        "passage_encoder": settings.passage_encoder if settings.model != "base" else "base",
        "vocabulary_seconds": round(summary.vocabulary_seconds, 1),
        "model": encoder.model_id,
    }
    print(
        f"reindex: {result['products_per_s']} products/s ({summary.indexed} products, {summary.seconds:.1f} s, "
        f"of which mining the vocabulary {summary.vocabulary_seconds:.1f} s)"
    )
    print(f"serving encoder, passages: {result['raw_encoder_per_s']} texts/s on the same texts")
    print(f"base encoder: {result['base_encoder_per_s']} texts/s on the same texts")
    print(f"ratio: {result['ratio']}; to the base: {result['ratio_to_base']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
