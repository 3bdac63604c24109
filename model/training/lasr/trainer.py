"""LaSR training: ``python -m model.training lasr --config model/training/configs/lasr.yaml``.

Examples are the catalogue's train queries with their hybrid top-N from the serving encoder (Arca), each with a
noisy variant (no diacritics / typo / romanised / code-mixed) retrieved the same way. Per batch: ListNet over the
graded list, a hinge of the best relevant candidate over the hardest negatives (in the list and from a FIFO queue
of earlier batches' hard negatives), and consistency between the scores of a query and of its variant over the
candidates both lists hold. The dev split picks the epoch; the test split is never read.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.settings import Settings, get_settings
from model.evaluation.metrics import ndcg_at_k
from model.lasr.features import Batch
from model.lasr.head import LaSR, LaSRConfig
from model.training.config import load_config, resolve
from model.training.lasr.data import Example, prepare_examples
from model.training.lasr.losses import LaSRLossWeights, NegativeQueue, consistency, hinge, listnet

LOSS_NAMES = ("total", "listwise", "hinge", "consistency")


@dataclass(frozen=True)
class LaSROptim:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    time_budget_min: float | None = 25.0
    queue_sample: int = 256  # queued negatives scored per step
    threads: int | None = None


@dataclass(frozen=True)
class PseudoConfig:
    """Pseudo-queries made from catalogues' own fields (``model.training.lasr.pseudo``) join the train split: the
    signal a deployment has. Each catalogue's lists are retrieved as the API serves a merchant's catalogue (its
    mined vocabulary; the hand lexicon only with ``product_lexicon``)."""

    catalogues: tuple[str, ...] = ()
    per_language: int = 400
    per_listing: int = 2
    noisy: float = 0.4
    product_lexicon: bool = False


@dataclass(frozen=True)
class LaSRTrainConfig:
    seed: int = 13
    output: str = "model/bundle/lasr_distilled.pt"
    run_dir: str = "var/runs/lasr"
    cache_dir: str = "var/cache/lasr"
    catalogue: str | None = None  # default: the settings' catalogue; queries.{train,dev}.jsonl beside it
    candidates: int = 50
    prefetch: int = 50
    rrf_k: int = 60
    limit: int | None = None  # queries per split (tiny runs)
    model: LaSRConfig = field(default_factory=LaSRConfig)
    optim: LaSROptim = field(default_factory=LaSROptim)
    loss: LaSRLossWeights = field(default_factory=LaSRLossWeights)
    pseudo: PseudoConfig = field(default_factory=PseudoConfig)

    @classmethod
    def from_yaml(cls, path: Path) -> LaSRTrainConfig:
        sections = {"model": LaSRConfig, "optim": LaSROptim, "loss": LaSRLossWeights, "pseudo": PseudoConfig}
        return load_config(cls, path, sections)

    def resolve(self, path: str) -> Path:
        return resolve(path)


@dataclass
class Tensors:
    """All examples collated once: indexing rows is all a training step does."""

    batch: Batch
    gains: torch.Tensor  # (E, N)
    ids: list[list[str]]
    relevant: list[dict[str, int]]
    variant: Batch | None = None
    variant_index: torch.Tensor | None = None  # (E, N): position of candidate j in the variant's list, -1 = absent

    @classmethod
    def build(cls, examples: list[Example], n: int, rrf_k: int, variants: bool) -> Tensors:
        batch = Batch.collate([e.candidates for e in examples], [e.language for e in examples], n, rrf_k)
        gains = torch.from_numpy(np.stack([_pad(e.gains(n), n) for e in examples]))
        out = cls(batch, gains, [e.candidates.ids[:n] for e in examples], [e.relevant for e in examples])
        if variants:
            lists = [e.variant if e.variant is not None else e.candidates for e in examples]
            langs = [e.variant_language if e.variant is not None else e.language for e in examples]
            out.variant = Batch.collate(lists, langs, n, rrf_k)
            index = np.full((len(examples), n), -1, np.int64)
            for i, e in enumerate(examples):
                if e.variant is None:
                    continue
                where = {pid: j for j, pid in enumerate(e.variant.ids[:n])}
                for j, pid in enumerate(e.candidates.ids[:n]):
                    index[i, j] = where.get(pid, -1)
            out.variant_index = torch.from_numpy(index)
        return out


def _pad(a: np.ndarray, n: int) -> np.ndarray:
    return np.pad(a, (0, n - len(a))) if len(a) < n else a[:n]


def select(b: Batch, rows: torch.Tensor) -> Batch:
    return Batch(b.query[rows], b.docs[rows], b.scalars[rows], b.query_lang[rows], b.doc_lang[rows], b.mask[rows])


def rerank_ndcg(model: LaSR, t: Tensors, k: int = 10) -> tuple[float, float]:
    """(reranked, as retrieved) mean nDCG@k of the lists."""
    model.eval()
    with torch.no_grad():
        scores = torch.cat(
            [model(select(t.batch, torch.arange(s, min(s + 512, len(t.ids))))) for s in range(0, len(t.ids), 512)]
        )
    model.train()
    got, base = [], []
    for i, ids in enumerate(t.ids):
        order = torch.argsort(scores[i, : len(ids)], descending=True, stable=True).tolist()
        got.append(ndcg_at_k([ids[j] for j in order], t.relevant[i], k))
        base.append(ndcg_at_k(ids, t.relevant[i], k))
    return float(np.mean(got)), float(np.mean(base))


class LaSRTrainer:
    def __init__(self, cfg: LaSRTrainConfig, settings: Settings, encoder, run_dir: Path) -> None:
        self.cfg, self.run_dir, self.encoder = cfg, run_dir, encoder
        random.seed(cfg.seed)
        np.random.seed(cfg.seed)
        torch.manual_seed(cfg.seed)
        if cfg.optim.threads:
            torch.set_num_threads(cfg.optim.threads)
        catalogue = cfg.resolve(cfg.catalogue) if cfg.catalogue else settings.catalogue_path
        common = dict(
            encoder=encoder,
            catalogue=catalogue,
            n=cfg.candidates,
            prefetch=cfg.prefetch,
            rrf_k=cfg.rrf_k,
            cache_dir=cfg.resolve(cfg.cache_dir),
            seed=cfg.seed,
            limit=cfg.limit,
            spell=settings.spell_correct,
            catalogue_vocabulary=settings.catalogue_vocabulary,
            product_lexicon=settings.product_lexicon,
        )
        t0 = time.perf_counter()
        self.train_examples = prepare_examples("train", variants=True, **common)
        self.pseudo_counts: dict[str, int] = {}
        for path in cfg.pseudo.catalogues:
            made = self._pseudo_examples(cfg.resolve(path), common)
            self.pseudo_counts[path] = len(made)
            self.train_examples += made
        self.dev_examples = prepare_examples("dev", variants=False, **common)
        self.prepare_s = time.perf_counter() - t0
        self.train = Tensors.build(self.train_examples, cfg.candidates, cfg.rrf_k, variants=True)
        self.dev = Tensors.build(self.dev_examples, cfg.candidates, cfg.rrf_k, variants=False)
        self.model = LaSR(cfg.model)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(), lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay
        )
        self.queue = NegativeQueue(cfg.loss.queue_size)
        self.history: list[dict[str, float]] = []

    def _pseudo_examples(self, catalogue: Path, common: dict[str, Any]) -> list[Example]:
        """The pseudo-queries of ``catalogue`` with their candidate lists (the file and the lists cached)."""
        import hashlib

        from core.catalogue import read_catalogue
        from model.training.lasr.pseudo import PSEUDO_VERSION, write_pseudo_queries

        if not catalogue.exists():
            raise FileNotFoundError(
                f"pseudo-query catalogue {catalogue} is missing: build it first (docs/evaluation.md, "
                '"Training catalogue": python -m data.heldout.wordnet_catalogue --splits train …)'
            )
        p = self.cfg.pseudo
        report = read_catalogue(catalogue)
        params = [report.sha256, PSEUDO_VERSION, p.per_language, p.per_listing, p.noisy, self.cfg.seed]
        key = hashlib.sha256(json.dumps(params).encode()).hexdigest()[:16]
        queries = Path(common["cache_dir"]) / f"pseudo-{key}.jsonl"
        if not queries.exists():
            write_pseudo_queries(
                report.products,
                queries,
                per_language=p.per_language,
                per_listing=p.per_listing,
                noisy=p.noisy,
                seed=self.cfg.seed,
            )
        args = {**common, "catalogue": catalogue, "product_lexicon": p.product_lexicon}
        return prepare_examples("pseudo", variants=True, queries_path=queries, **args)

    def _queue_scores(self, b: Batch, rows: torch.Tensor) -> torch.Tensor:
        """(B, Q) scores of a sample of queued negatives for each query (−inf where the product is relevant)."""
        items = random.sample(list(self.queue.items), min(self.cfg.optim.queue_sample, len(self.queue)))
        if not items:
            return b.query.new_empty((len(rows), 0))
        vecs = torch.stack([v for v, _, _ in items])
        q = len(items)
        bsz = len(rows)
        docs = vecs.unsqueeze(0).expand(bsz, q, -1)
        scalars = torch.zeros(bsz, q, b.scalars.shape[-1])
        scalars[..., 0] = torch.einsum("bd,bqd->bq", b.query, docs)  # cosine; nothing else retrieved them
        doc_lang = torch.tensor([lang for _, lang, _ in items]).unsqueeze(0).expand(bsz, q)
        qb = Batch(b.query, docs, scalars, b.query_lang, doc_lang, torch.ones(bsz, q, dtype=torch.bool))
        scores = self.model(qb)
        relevant = torch.tensor([[pid in self.train.relevant[r] for _, _, pid in items] for r in rows.tolist()])
        return scores.masked_fill(relevant, float("-inf"))

    def step(self, rows: torch.Tensor) -> dict[str, float]:
        w, t = self.cfg.loss, self.train
        b = select(t.batch, rows)
        gains = t.gains[rows]
        scores = self.model(b)
        terms: dict[str, torch.Tensor] = {"listwise": listnet(scores, gains)}
        # hinge: the best-graded candidate against the hardest unjudged ones, in the list and from the queue
        best_gain = gains.max(dim=-1, keepdim=True).values
        has_pos = best_gain.squeeze(-1) > 0
        positive = scores.masked_fill(~((gains == best_gain) & (gains > 0)), float("-inf")).max(dim=-1).values
        negative_mask = (gains == 0) & b.mask
        in_list = scores.masked_fill(~negative_mask, float("-inf"))
        k = min(w.hard_negatives, in_list.shape[1])
        hard_in_list, hard_idx = in_list.topk(k, dim=-1)
        negatives = torch.cat([hard_in_list, self._queue_scores(b, rows)], dim=-1)
        negatives = negatives.topk(min(w.hard_negatives, negatives.shape[1]), dim=-1).values
        terms["hinge"] = (
            hinge(positive[has_pos], negatives[has_pos], w.margin) if has_pos.any() else scores.new_zeros(())
        )
        # consistency with the variant over the shared candidates
        vb = select(t.variant, rows)
        vscores = self.model(vb)
        vidx = t.variant_index[rows]
        shared = (vidx >= 0) & b.mask
        aligned = vscores.gather(1, vidx.clamp(min=0)).masked_fill(~shared, 0.0)
        terms["consistency"] = consistency(scores.masked_fill(~shared, 0.0), aligned, shared, w.consistency_temperature)
        total = w.listwise * terms["listwise"] + w.hinge * terms["hinge"] + w.consistency * terms["consistency"]
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        # the hardest unjudged candidates of this batch join the queue (2 per query)
        with torch.no_grad():
            take = hard_idx[:, :2]
            finite = torch.isfinite(hard_in_list[:, :2])
            for r, row in enumerate(rows.tolist()):
                for j, ok in zip(take[r].tolist(), finite[r].tolist(), strict=True):
                    if ok:
                        self.queue.push(b.docs[r, j : j + 1], b.doc_lang[r, j : j + 1], [t.ids[row][j]])
        return {"total": float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def fit(self, progress: bool = True) -> dict[str, Any]:
        from tqdm import tqdm

        o = self.cfg.optim
        n = len(self.train.ids)
        steps_per_epoch = math.ceil(n / o.batch_size)
        total_steps = o.epochs * steps_per_epoch
        sched = torch.optim.lr_scheduler.OneCycleLR(self.optimizer, max_lr=o.lr, total_steps=total_steps, pct_start=0.1)
        start_dev, retrieved_dev = rerank_ndcg(self.model, self.dev)
        best = (start_dev, -1, {k: v.clone() for k, v in self.model.state_dict().items()})
        t0 = time.perf_counter()
        bar = tqdm(total=total_steps, desc="lasr", unit="step", disable=not progress, file=sys.stderr)
        stopped_early = False
        for epoch in range(o.epochs):
            perm = torch.randperm(n)
            sums: dict[str, float] = {}
            for s in range(0, n, o.batch_size):
                losses = self.step(perm[s : s + o.batch_size])
                sched.step()
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                bar.update(1)
                bar.set_postfix({k: f"{v:.3f}" for k, v in losses.items()}, refresh=False)
            dev_ndcg, _ = rerank_ndcg(self.model, self.dev)
            record = {
                "epoch": epoch + 1,
                **{k: v / steps_per_epoch for k, v in sums.items()},
                "dev_ndcg@10": dev_ndcg,
                "seconds": time.perf_counter() - t0,
            }
            self.history.append(record)
            print(
                f"\nepoch {epoch + 1}: dev nDCG@10 {100 * dev_ndcg:.2f} (retrieved {100 * retrieved_dev:.2f})",
                file=sys.stderr,
            )
            if dev_ndcg > best[0]:
                best = (dev_ndcg, epoch + 1, {k: v.clone() for k, v in self.model.state_dict().items()})
            if o.time_budget_min and time.perf_counter() - t0 > 60 * o.time_budget_min:
                stopped_early = True
                break
        bar.close()
        self.model.load_state_dict(best[2])
        return {
            "dev_ndcg@10": best[0],
            "dev_retrieved_ndcg@10": retrieved_dev,
            "dev_untrained_ndcg@10": start_dev,
            "best_epoch": best[1],
            "train_seconds": time.perf_counter() - t0,
            "prepare_seconds": self.prepare_s,
            "stopped_by_time_budget": stopped_early,
            "train_queries": n,
            "pseudo_queries": self.pseudo_counts,
            "dev_queries": len(self.dev.ids),
        }


def save_lasr(path: Path, model: LaSR, cfg: LaSRTrainConfig, encoder, summary: dict) -> None:
    payload = {
        "format": "lira-lasr/1",
        "config": model.cfg.as_dict(),
        "state": model.state_dict(),
        "encoder_fingerprint": encoder.fingerprint,
        "encoder_model_id": encoder.model_id,
        "candidates": cfg.candidates,
        "rrf_k": cfg.rrf_k,
        "train_config": {"loss": cfg.loss.as_dict(), "optim": asdict(cfg.optim), "seed": cfg.seed},
        "summary": summary,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    tmp.replace(path)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    epochs = [h["epoch"] for h in history]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    for name in LOSS_NAMES:
        a.plot(epochs, [h[name] for h in history], label=name)
    a.set_xlabel("epoch")
    a.set_title("LaSR training losses")
    a.legend()
    b.plot(epochs, [100 * h["dev_ndcg@10"] for h in history], marker="o")
    b.set_xlabel("epoch")
    b.set_title("dev nDCG@10 after reranking")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_lasr(
    config: Path,
    output: Path | None = None,
    run_dir: Path | None = None,
    settings: Settings | None = None,
    encoder=None,
    progress: bool = True,
) -> dict[str, Any]:
    from model.loader import load_encoder

    cfg = LaSRTrainConfig.from_yaml(config)
    settings = settings or get_settings()
    encoder = encoder or load_encoder(settings)
    run = run_dir or cfg.resolve(cfg.run_dir)
    run.mkdir(parents=True, exist_ok=True)
    trainer = LaSRTrainer(cfg, settings, encoder, run)
    summary = trainer.fit(progress)
    out = output or cfg.resolve(cfg.output)
    save_lasr(out, trainer.model, cfg, encoder, summary)
    from model.training.bundle import refresh_manifest

    refresh_manifest(out)
    (run / "history.json").write_text(json.dumps({"summary": summary, "history": trainer.history}, indent=2))
    plot_history(trainer.history, run / "lasr_curve.png")
    print(json.dumps(summary, indent=2))
    print(f"wrote {out} ({out.stat().st_size / 1e6:.2f} MB), {run / 'lasr_curve.png'}")
    return summary
