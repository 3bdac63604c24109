"""``python -m model.evaluation.ablation``: which part of Arca moves held-out bitext retrieval, measured side by side.

Every variant is built in this process from the one checkpoint and encodes the same pair files
(``LANG.tsv``, English<TAB>xx) with the E5 query prefix, as ``python -m model.evaluation pairs``
does; top-1 bitext accuracy
xx→en and en→xx per language, and the mean cosine of each variant's English vectors to the base's. Variants
(all fp32 torch, full 12-layer student, unless named otherwise):

- ``base``: multilingual-e5-small;
- ``student/raw``: the LoRA student on the raw text alone, composer adaptor off (identity);
- ``+adaptor``: the same and the composer's adaptor (a lone view needs no gate);
- ``+norm``, ``+roman``, ``+gloss``: views added one by one, the trained gate over them; ``+gloss`` is Arca;
- ``uniform-gate``: all views, the learned gate replaced by an equal-weight mean;
- ``tower``: Arca with its distilled 4-layer query tower (``query_tower.pt``);
- ``lora×λ``: Arca with every LoRA update scaled by λ (weight interpolation towards the base, WiSE-FT);
- ``served-int8 base`` / ``served-int8 arca``: what the service runs (ONNX Runtime, int8 query path).

    python -m model.evaluation.ablation --data var/heldout/tldr_pages --data var/heldout/wordnet_nouns/test \
        --json results/ablation.json

Writes the JSON (``{set: {variant: {lang: {"xx2en", "en2xx"}, "english_cosine": x}}}``) and prints one
Markdown table per set: mean of the two directions per language, and the mean over languages.

With ``--catalogue PRODUCTS.jsonl --split dev`` the variants are measured as dense product search instead
(nDCG@10 per language and per noise type on ``queries.<split>.jsonl``, exact cosine over each market's listings, as
``model.evaluation.evaluate catalogue`` ranks), and each non-base variant also with the base encoding the passages
(``VARIANT, base passages``), which separates what a variant does to queries from what it does to the index:

    python -m model.evaluation.ablation --catalogue var/benchmark/wordnet/products.jsonl --split dev \
        --variants "base,student/raw,+adaptor,+norm,+roman,lora×0.0,served-int8 arca" --md OUT.md
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from core.settings import Settings, get_settings
from model.encoder import Encoder
from model.evaluation.evaluate import CACHE_DIR, Embedder, bitext_top1, read_pair_dir

VIEWS = ("raw", "norm", "roman", "gloss")
DEFAULT_VARIANTS = (
    "base",
    "student/raw",
    "+adaptor",
    "+norm",
    "+roman",
    "+gloss",
    "uniform-gate",
    "tower",
    "lora×0.25",
    "lora×0.5",
    "lora×0.75",
    "served-int8 base",
    "served-int8 arca",
)


def build_arca(
    base,
    settings: Settings,
    views: Sequence[str] = VIEWS,
    lora_scale: float = 1.0,
    adaptor: bool = True,
    uniform_gate: bool = False,
    tower: bool = False,
    tag: str = "",
) -> Encoder:
    """An ``ArcaEncoder`` from ``settings.arca_checkpoint`` with the parts switched as asked (torch, fp32)."""
    from model.arca.checkpoint import load_checkpoint, student_sha256
    from model.arca.encoder import ArcaEncoder
    from model.arca.lora import load_lora, merge_lora
    from model.arca.pipeline import ArcaModelConfig, build_core
    from model.training.arca.wise import scale_lora

    payload, sha = load_checkpoint(settings.arca_checkpoint)
    config = ArcaModelConfig.from_dict({**payload["config"], "views": list(views)})
    core = build_core(base, config, payload["lexicon"])
    load_lora(core.student, scale_lora(payload["lora"], lora_scale))
    state = dict(payload["composer"])
    state.setdefault("prior", torch.zeros_like(core.composer.prior))
    core.composer.load_state_dict(state)
    with torch.no_grad():
        if not adaptor:
            core.composer.adaptor.weight.copy_(torch.eye(core.composer.adaptor.weight.shape[0]))
        if uniform_gate:  # logits = 0 for every view: softmax = equal weights
            core.composer.gate[-1].weight.zero_()
            core.composer.gate[-1].bias.zero_()
            core.composer.prior.zero_()
    merge_lora(core.student)
    # the fingerprint keys the embedding cache: each variant gets its own
    encoder = ArcaEncoder(core, f"{sha}/{tag}", settings.batch_size, 0.0, student_sha256(payload))
    if tower:
        encoder.use_tower(settings.query_tower_checkpoint, settings.query_tower_max_tokens)
    return encoder


def variant_factory(settings: Settings) -> Callable[[str], Encoder]:
    from model.base_encoder import BaseEncoder
    from model.loader import load_encoder

    torch_settings = settings.model_copy(update={"runtime": "torch", "query_tower": "full"})
    base = BaseEncoder.from_settings(torch_settings)

    def make(name: str) -> Encoder:
        if name == "base":
            return base
        if name.startswith("served-int8"):
            served = settings.model_copy(
                update={
                    "runtime": "onnx",
                    "query_precision": "int8",
                    "model": "base" if name.endswith("base") else "arca",
                }
            )
            return load_encoder(served)
        if name == "student/raw":
            return build_arca(base, torch_settings, ("raw",), adaptor=False, tag=name)
        if name == "+adaptor":
            return build_arca(base, torch_settings, ("raw",), tag=name)
        if name in ("+norm", "+roman", "+gloss"):
            return build_arca(base, torch_settings, VIEWS[: VIEWS.index(name[1:]) + 1], tag=name)
        if name == "uniform-gate":
            return build_arca(base, torch_settings, uniform_gate=True, tag=name)
        if name == "tower":
            return build_arca(base, torch_settings, tower=True, tag=name)
        if name.startswith("lora×"):
            return build_arca(base, torch_settings, lora_scale=float(name.removeprefix("lora×")), tag=name)
        raise ValueError(f"unknown variant {name!r}; known: {', '.join(DEFAULT_VARIANTS)}")

    return make


def score(pairs: dict, vectors: np.ndarray, row: dict[str, int]) -> dict:
    out = {}
    for lang, (en, xx) in pairs.items():
        sims = vectors[[row[t] for t in xx]] @ vectors[[row[t] for t in en]].T
        out[lang] = {"xx2en": round(bitext_top1(sims, en), 4), "en2xx": round(bitext_top1(sims.T, xx), 4)}
    return out


def run(data_dirs: Sequence[Path], variants: Sequence[str], settings: Settings, embedder: Embedder) -> dict:
    make = variant_factory(settings)
    sets = {str(d): read_pair_dir(d) for d in data_dirs}
    result: dict = {name: {} for name in sets}
    base_english: dict[str, np.ndarray] = {}
    for variant in variants:
        start = time.perf_counter()
        encoder = make(variant)
        for name, pairs in sets.items():
            texts = list(dict.fromkeys(t for en, xx in pairs.values() for t in (*en, *xx)))
            row = {t: i for i, t in enumerate(texts)}
            english_rows = list(dict.fromkeys(row[t] for en, _ in pairs.values() for t in en))
            vectors = embedder(encoder, texts, "query")
            if variant == "base":
                base_english[name] = vectors[english_rows]
            cell = score(pairs, vectors, row)
            if name in base_english:
                cell["english_cosine"] = round(float(np.sum(vectors[english_rows] * base_english[name], 1).mean()), 4)
            result[name][variant] = cell
        print(f"{variant}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return result


def catalogue_run(catalogue: Path, split: str, variants: Sequence[str], settings: Settings, embedder: Embedder) -> dict:
    """``{variant: score_rankings(...)}`` (model.evaluation.evaluate) for dense search with each variant (and with
    the base's passages under each non-base variant's queries)."""
    from core.catalogue import read_catalogue
    from model.evaluation.evaluate import dense_rankings, market_positions, read_queries, score_rankings

    report = read_catalogue(catalogue)
    products = report.products
    queries = read_queries(catalogue.parent / f"queries.{split}.jsonl", {p.id for p in products})
    markets = market_positions(products, queries)
    make = variant_factory(settings)
    passages = [p.passage_text() for p in products]
    result, base_passages = {}, None
    for variant in variants:
        start = time.perf_counter()
        encoder = make(variant)
        p_vec = embedder(encoder, passages, "passage", {"catalogue_sha256": report.sha256})
        q_vec = embedder(encoder, [q.text for q in queries], "query")
        result[variant] = score_rankings(queries, dense_rankings(products, markets, p_vec, q_vec))
        if variant == "base":
            base_passages = p_vec
        elif base_passages is not None and not variant.endswith("base"):
            result[f"{variant}, base passages"] = score_rankings(
                queries, dense_rankings(products, markets, base_passages, q_vec)
            )
        print(f"{variant}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return result


def catalogue_markdown(result: dict, title: str) -> str:
    """nDCG@10 per variant: per language (and their mean), then per noise type over all languages."""
    first = next(iter(result.values()))
    langs = [lang for lang in first if lang != "all"]
    noises = [n for n in first["all"] if n != "all"]
    head = ["variant", *langs, "mean of languages", "all", *noises]
    out = [f"**{title}** (dense nDCG@10)\n", "| " + " | ".join(head) + " |", "|---|" + "--:|" * (len(head) - 1)]
    for variant, r in result.items():
        per = [100 * r[lang]["all"]["ndcg@10"] for lang in langs]
        cells = per + [float(np.mean(per)), 100 * r["all"]["all"]["ndcg@10"]]
        cells += [100 * r["all"][n]["ndcg@10"] for n in noises]
        out.append(f"| {variant} | " + " | ".join(f"{v:.1f}" for v in cells) + " |")
    return "\n".join(out) + "\n"


def markdown(result: dict) -> str:
    """One table per set: per language the mean of xx→en and en→xx top-1 (%), the mean, English cosine."""
    out = []
    for name, by_variant in result.items():
        langs = [k for k in next(iter(by_variant.values())) if k != "english_cosine"]
        out.append(f"**{name}** (top-1 %, mean of xx→en and en→xx)\n")
        out.append("| variant | " + " | ".join(langs) + " | mean | Δ base | English cos |")
        out.append("|---|" + "---|" * (len(langs) + 3))
        base_mean = None
        for variant, cells in by_variant.items():
            per = [100 * (cells[lang]["xx2en"] + cells[lang]["en2xx"]) / 2 for lang in langs]
            mean = float(np.mean(per))
            base_mean = mean if variant == "base" else base_mean
            delta = f"{mean - base_mean:+.1f}" if base_mean is not None else ""
            cos = f"{cells['english_cosine']:.4f}" if "english_cosine" in cells else ""
            out.append(f"| {variant} | " + " | ".join(f"{v:.1f}" for v in per) + f" | {mean:.1f} | {delta} | {cos} |")
        out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    settings = get_settings()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, action="append", help="a directory of LANG.tsv (repeatable)")
    p.add_argument("--catalogue", type=Path, help="products JSONL: measure the variants as dense product search")
    p.add_argument("--split", default="dev", help="with --catalogue: which queries.<split>.jsonl (default dev)")
    p.add_argument("--variants", default=",".join(DEFAULT_VARIANTS), help="comma-separated, in order; base first")
    p.add_argument("--json", type=Path, help="write the scores (fractions) here")
    p.add_argument("--md", type=Path, help="write the Markdown tables here")
    args = p.parse_args(argv)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    if variants[0] != "base":
        p.error("the first variant must be base (the others are compared with it)")
    if bool(args.data) == bool(args.catalogue):
        p.error("give either --data (bitext) or --catalogue (product search)")
    torch.set_num_threads(settings.threads or 2)
    embedder = Embedder(CACHE_DIR, settings.batch_size, progress=False)
    if args.catalogue:
        result = catalogue_run(args.catalogue, args.split, variants, settings, embedder)
        table = catalogue_markdown(result, f"{args.catalogue} ({args.split})")
    else:
        result = run(args.data, variants, settings, embedder)
        table = markdown(result)
    print(table)
    for path, text in ((args.json, json.dumps(result, indent=2) + "\n"), (args.md, table + "\n")):
        if path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
