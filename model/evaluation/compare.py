"""``python -m model.evaluation.compare CKPT [CKPT ...]``: composers of one Arca student side by side, in seconds each.

Every view of the catalogue's passages and of the catalogue **dev** queries (and of the held-out FLORES *dev*
English lines) is embedded once by the student the checkpoints share (cached under ``var/cache/arca``); each
checkpoint's composer then composes them. Prints, per checkpoint: Arca-dense nDCG@10 on the dev split per language
and noise type (the evaluator's ranking: the query's market plus English, exact cosine; fp32, every view), the
mean cosine of English sentences to the base encoder (the stability target, ≥ 0.98) and the adaptor's
orthogonality gap. For choosing among composers (``python -m model.training composer``); the reported figures come
from ``model.evaluation.evaluate``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
import torch

from core.catalogue import read_catalogue
from core.settings import REPO_ROOT, Settings
from model.arca.checkpoint import load_checkpoint, student_sha256
from model.arca.composer import Composer
from model.arca.views import VIEW_TYPES
from model.evaluation.evaluate import dense_rankings, market_positions, read_queries, score_rankings
from model.training.arca.data import TRAIN_LANGUAGES, corpus_dir
from model.training.arca.refit import Row, ViewTable, cached


def _views(
    arca, products, queries, english: list[str], sentences: list[str], cache: Path
) -> tuple[ViewTable, ViewTable, ViewTable, ViewTable]:
    return cached(
        cache,
        lambda: (
            ViewTable(arca.core, [Row(p.passage_text(), None, "passage", "", "p") for p in products], 64, "passages"),
            ViewTable(arca.core, [Row(q.text, None, "query", "", "q") for q in queries], 64, "dev queries"),
            ViewTable(arca.core, [Row(e, None, "query", "", "e") for e in english], 64, "English lines"),
            ViewTable(arca.core, [Row(x, None, "query", "", "x") for x in sentences], 64, "xx lines"),
        ),
    )


def cache_path(key: str) -> Path:
    return REPO_ROOT / "var" / "cache" / "arca" / f"views-{key}.pt"


def compose(table: ViewTable, state: dict) -> np.ndarray:
    return compose_weights(table, state)[0]


def compose_weights(table: ViewTable, state: dict) -> tuple[np.ndarray, np.ndarray]:
    """(unit vectors, gate weights per view slot) of every row of ``table`` under the composer ``state``."""
    composer = Composer(table.emb.shape[1], state["gate.0.weight"].shape[0])
    composer.load_state_dict(state)
    with torch.no_grad():
        out, weights = composer(table.emb[table.gather], table.mask, table.static)
    return out.numpy(), weights.numpy()


def bitext(xx: np.ndarray, en: np.ndarray, per: int) -> tuple[float, float]:
    """(xx→en top-1, mean margin: cos of the right English line minus the best wrong one), each language's
    ``per`` lines against the same English lines."""
    top1, margins = [], []
    for s in range(0, len(xx), per):
        sims = xx[s : s + per] @ en.T
        right = np.diag(sims).copy()
        np.fill_diagonal(sims, -np.inf)
        margins.append(right - sims.max(axis=1))
        top1.append(np.mean(margins[-1] > 0))
    return float(np.mean(top1)), float(np.mean(np.concatenate(margins)))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoints", type=Path, nargs="+")
    parser.add_argument("--english-lines", type=int, default=200, help="last N FLORES dev lines (held out in training)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from model.arca.encoder import ArcaEncoder
    from model.base_encoder import BaseEncoder

    settings = Settings()
    base = BaseEncoder.from_settings(settings)
    payloads = [load_checkpoint(path) for path in args.checkpoints]
    students = {student_sha256(p) for p, _ in payloads}
    if len(students) != 1:
        raise SystemExit(
            "the checkpoints do not share one student: compare them with model.evaluation.evaluate instead"
        )
    arca = ArcaEncoder.from_checkpoint(base, args.checkpoints[0])
    products = read_catalogue(settings.catalogue_path).products
    queries = read_queries(settings.catalogue_path.parent / "queries.dev.jsonl", {p.id for p in products})
    folder = corpus_dir(settings.data_dir, "flores200_dev")
    held = {
        lang: (folder / f"{lang}.tsv").read_text(encoding="utf-8").splitlines()[-args.english_lines :]
        for lang in TRAIN_LANGUAGES
    }
    english = [line.split("\t")[0] for line in held["vi"]]  # multi-parallel: the same English in every file
    sentences = [line.split("\t")[1] for lang in TRAIN_LANGUAGES for line in held[lang]]
    texts = json.dumps(
        [[p.passage_text() for p in products], [q.text for q in queries], english, sentences], ensure_ascii=False
    )
    key = hashlib.sha256(f"{students.pop()}|{base.fingerprint}|{base.max_seq_len}|{texts}".encode()).hexdigest()[:16]
    passages, dev, eng, xx = _views(arca, products, queries, english, sentences, cache_path(key))
    base_english = base.encode(english, "query")
    markets = market_positions(products, queries)
    out: dict = {}
    for path, (payload, sha) in zip(args.checkpoints, payloads, strict=True):
        state = payload["composer"]
        pv, qv = compose(passages, state), compose(dev, state)
        scores = score_rankings(queries, dense_rankings(products, markets, pv, qv))
        en_vecs = compose(eng, state)
        xx_vecs, weights = compose_weights(xx, state)
        gloss = xx.static[:, :, VIEW_TYPES.index("gloss")].numpy() > 0
        top1, margin = bitext(xx_vecs, en_vecs, len(english))
        a = state["adaptor.weight"]
        raw = xx.emb[xx.gather[:, 0]] @ a.T  # the raw view alone (always the first), through this adaptor
        raw_top1, raw_margin = bitext(torch.nn.functional.normalize(raw, dim=-1).numpy(), en_vecs, len(english))
        out[str(path)] = {
            "sha256": sha,
            "dev_ndcg10": {lang: round(100 * scores[lang]["all"]["ndcg@10"], 2) for lang in scores},
            "dev_ndcg10_noise": {n: round(100 * v["ndcg@10"], 2) for n, v in scores["all"].items()},
            "english_cos_to_base": round(float((en_vecs * base_english).sum(1).mean()), 4),
            "flores_dev_heldout": {
                "xx2en_top1": round(top1, 4),
                "margin": round(margin, 4),
                "raw_view_alone": {"xx2en_top1": round(raw_top1, 4), "margin": round(raw_margin, 4)},
                "lines_with_gloss_view": int(gloss.any(axis=1).sum()),
                "lines": len(sentences),
                "gloss_weight_where_present": round(float(weights[gloss].mean()), 4),
            },
            "adaptor_orthogonality_gap": round(float((a.T @ a - torch.eye(a.shape[0])).pow(2).sum()), 4),
        }
        r = out[str(path)]
        print(
            f"{path} [{sha[:8]}] dev nDCG@10 {r['dev_ndcg10']['all']:.2f} | "
            + " ".join(f"{k} {v:.1f}" for k, v in r["dev_ndcg10"].items() if k != "all")
            + " | "
            + " ".join(f"{k} {v:.1f}" for k, v in r["dev_ndcg10_noise"].items() if k != "all")
            + f" | English cos to base {r['english_cos_to_base']:.4f}, ‖AᵀA−I‖² {r['adaptor_orthogonality_gap']:.3f}"
        )
        f = r["flores_dev_heldout"]
        alone = f["raw_view_alone"]
        print(
            f"    held-out FLORES dev xx→en top-1 {100 * f['xx2en_top1']:.2f}, margin {f['margin']:.4f} (raw view "
            f"alone {100 * alone['xx2en_top1']:.2f}, {alone['margin']:.4f}); gloss view in "
            f"{f['lines_with_gloss_view']}/{f['lines']} lines, its gate weight {f['gloss_weight_where_present']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
