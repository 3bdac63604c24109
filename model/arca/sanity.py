"""``python -m model.arca.sanity``: a quick Arca-vs-base check on data the trainer held out.

Not the official evaluation (``model.evaluate``): it only guards the recipe. It uses the last FLORES *dev*
sentences (held out by ``holdout_flores_dev``; devtest is never touched) and the 1-in-N train queries held
out by ``holdout_queries_every``, ranked among their judged products plus random distractors.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from core.catalogue import read_catalogue
from core.settings import Settings
from model.arca.data import TRAIN_LANGUAGES, corpus_dir, held_out_query, train_queries_path
from model.encoder import Encoder
from model.metrics import ndcg_at_k


def flores_check(encoders: Mapping[str, Encoder], data_dir: Path, last: int) -> dict[str, dict[str, float]]:
    """Per language: xx→en top-1 among the held-out sentences; plus English drift (cos to the base)."""
    out: dict[str, dict[str, float]] = defaultdict(dict)
    folder = corpus_dir(data_dir, "flores200_dev")
    english_done = False
    for lang in TRAIN_LANGUAGES:
        lines = (folder / f"{lang}.tsv").read_text(encoding="utf-8").splitlines()[-last:]
        en, xx = zip(*(line.split("\t")[:2] for line in lines), strict=True)
        vecs = {name: (enc.encode(list(xx), "query"), enc.encode(list(en), "query")) for name, enc in encoders.items()}
        for name, (vx, ve) in vecs.items():
            out[name][lang] = float(np.mean((vx @ ve.T).argmax(axis=1) == np.arange(len(en))))
        if not english_done and "arca" in vecs:
            out["english_cos_to_base"]["mean"] = float(np.mean(np.sum(vecs["arca"][1] * vecs["base"][1], axis=1)))
            english_done = True
    for name in encoders:
        out[name]["mean"] = float(np.mean([out[name][lang] for lang in TRAIN_LANGUAGES]))
    return dict(out)


def catalogue_check(
    encoders: Mapping[str, Encoder], settings: Settings, every: int, per_language: int, distractors: int, seed: int
) -> dict[str, dict[str, float]]:
    """nDCG@10 of held-out train queries over (judged products + distractors) of their market + English."""
    path = train_queries_path(settings.catalogue_path.parent / "queries.train.jsonl")
    held = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_lang: dict[str, list[dict]] = defaultdict(list)
    for q in held:
        if held_out_query(q["id"], every):
            by_lang[q["language"]].append(q)
    rng = random.Random(seed)
    queries = [q for lang in sorted(by_lang) for q in rng.sample(by_lang[lang], min(per_language, len(by_lang[lang])))]
    products = {p.id: p for p in read_catalogue(settings.catalogue_path).products}
    judged = {pid for q in queries for pid in q["relevant"] if pid in products}
    rest = sorted(set(products) - judged)
    pool = sorted(judged | set(rng.sample(rest, min(distractors, len(rest)))))
    texts = [products[pid].passage_text() for pid in pool]
    langs = np.array([products[pid].language for pid in pool])
    out: dict[str, dict[str, float]] = defaultdict(dict)
    for name, enc in encoders.items():
        pv = enc.encode(texts, "passage")
        qv = enc.encode([q["text"] for q in queries], "query")
        per_lang: dict[str, list[float]] = defaultdict(list)
        for q, v in zip(queries, qv, strict=True):
            idx = np.flatnonzero((langs == q["language"]) | (langs == "en"))
            order = idx[np.argsort(-(pv[idx] @ v))[:10]]
            per_lang[q["language"]].append(ndcg_at_k([pool[i] for i in order], q["relevant"]))
        for lang, scores in per_lang.items():
            out[name][lang] = float(np.mean(scores))
        out[name]["mean"] = float(np.mean([s for scores in per_lang.values() for s in scores]))
        out[name]["queries"] = float(len(queries))
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--flores", type=int, default=200, help="last N FLORES dev lines (held out in training)")
    parser.add_argument("--queries-every", type=int, default=10, help="the trainer's holdout_queries_every")
    parser.add_argument("--queries-per-language", type=int, default=15, help="0 skips the catalogue check")
    parser.add_argument("--distractors", type=int, default=800)
    parser.add_argument("--out", type=Path, default=None, help="write the numbers as JSON here too")
    parser.add_argument("--query-tower", choices=("full", "distilled"), default="full",
                        help="full = Arca's 12 layers for every text (what the recipe trained, as `model.evaluate "
                        "pairs` measures it); distilled = search queries' tower")
    args = parser.parse_args()
    from model.arca.encoder import ArcaEncoder
    from model.base_encoder import BaseEncoder

    settings = Settings().model_copy(update={"query_tower": args.query_tower})
    base = BaseEncoder.from_settings(settings)
    arca = ArcaEncoder.from_checkpoint(base, args.checkpoint or settings.arca_checkpoint, settings)
    encoders: dict[str, Encoder] = {"arca": arca, "base": base}
    result: dict[str, object] = {
        "model": arca.model_id,
        "flores_dev_heldout_top1": flores_check(encoders, settings.data_dir, args.flores),
    }
    if args.queries_per_language:
        result["catalogue_heldout_train_ndcg10"] = catalogue_check(
            encoders, settings, args.queries_every, args.queries_per_language, args.distractors, seed=0
        )
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
