"""Composer refit (``python -m model.training composer``): retrain Arca's gate and view prior (and, in a variant, its
adaptor) over the frozen, already trained student: stage 2 of the shipped Arca
(``model/training/configs/composer.yaml`` turns ``arca_stage1.pt`` into ``arca.pt``);
the adaptor variants were tried and not shipped (model card, "Composer refit").

Why a second stage: the main run (``model.training.arca.trainer``)
trains LoRA and composer together on batches of 24 mixed
across sources, so the contrastive term mostly sees easy negatives (a sentence against lexicon terms) and the gate
learns what the anchor term (cosine to the English target) rewards. On held-out FLORES dev sentences that gate
gives the gloss view 0.70 of the weight where there is one, although the raw view alone separates the right English
sentence from the others by more (``python -m
model.evaluation.compare``). The student is frozen here, so every view can be
embedded once and the gate trained on large single-source batches (sentences against sentences, queries against
queries) plus train queries against their products' passages, which is what retrieval asks of it.

The LoRA weights are copied byte for byte: the query tower distilled from this student stays valid (it is keyed
on the student, ``student_sha256``). Everything else Arca serves changes with the composer (the index version,
LaSR's heads: retrain them before shipping one).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from core.settings import Settings
from model.arca.checkpoint import load_checkpoint, save_checkpoint
from model.arca.composer import static_features
from model.arca.pipeline import ArcaCore
from model.encoder import Kind
from model.training.arca.data import (
    PASSAGE_SOURCES,
    Pair,
    english_titles,
    held_out_query,
    read_parallel,
    train_queries_path,
)
from model.training.arca.losses import LossWeights, arca_losses
from model.training.arca.noise import make_variant
from model.training.arca.trainer import DataConfig, load_data, seed_everything
from model.training.config import load_config, resolve

T = TypeVar("T")
LOSS_NAMES = ("total", "anchor", "nce", "english", "ortho", "consistency", "agreement", "retrieval")
MAX_VIEWS = 4
PREPARED_VERSION = 2  # bump when the way rows are drawn or embedded changes
# optimisation knobs: changing them reuses the embedded rows (every other RefitOptim field changes the rows)
TRAINING_ONLY = frozenset(
    {
        "steps",
        "batch_size",
        "english_per_step",
        "variants_per_step",
        "gate_lr",
        "adaptor_lr",
        "warmup",
        "eval_every",
        "threads",
        "mix",
        "retrieval",
        "retrieval_per_step",
    }
)


@dataclass(frozen=True)
class RefitOptim:
    rows: dict[str, int] = field(
        default_factory=lambda: {"sentence": 5000, "term": 3000, "phrase": 2800, "query": 4000}
    )
    english_rows: int = 3000  # English texts for the stability term
    products: int = 3000  # catalogue products (passages) in the query→product retrieval term; 0 = none
    retrieval: float = 1.0  # weight of that term: InfoNCE of train queries against their products' passages
    retrieval_per_step: int = 128
    held_out_queries: int = 400  # held-out train queries (and their products) checked for retrieval
    variant_share: float = 0.5  # P(a training row also gets a noisy variant: consistency)
    steps: int = 3000
    batch_size: int = 256  # rows of ONE source per step: their English targets are each other's negatives
    english_per_step: int = 64
    variants_per_step: int = 64
    gate_lr: float = 1.0e-3
    adaptor_lr: float = 0.0  # 0: the adaptor is kept (a refitted one rotated English away from the base)
    warmup: int = 100
    lang_dropout: float = 0.5
    passage_prob: float = 0.3
    max_seq_len: int = 128  # as served: the gate's length feature sees real lengths
    encode_batch: int = 64
    eval_every: int = 250
    threads: int | None = None
    mix: dict[str, float] = field(default_factory=lambda: {"sentence": 0.4, "term": 0.15, "phrase": 0.15, "query": 0.3})


@dataclass(frozen=True)
class RefitConfig:
    seed: int = 13
    arca: str = (
        "model/training/checkpoints/arca_stage1.pt"  # stage 1: the trained student (LoRA), the composer to start from
    )
    output: str = "var/runs/composer/arca.pt"  # not the shipped file: a refit is compared before it replaces it
    run_dir: str = "var/runs/composer"
    cache_dir: str = "var/cache/arca"  # the embedded rows, reused by reruns that only change losses or steps
    data: DataConfig = field(default_factory=DataConfig)
    optim: RefitOptim = field(default_factory=RefitOptim)
    loss: LossWeights = field(default_factory=LossWeights)

    @classmethod
    def from_yaml(cls, path: Path) -> RefitConfig:
        return load_config(cls, path, {"data": DataConfig, "optim": RefitOptim, "loss": LossWeights})


@dataclass
class Row:
    text: str
    language: str | None  # None: hidden from the gate (as when a query's language is unknown)
    kind: Kind
    english: str  # the target's English text
    source: str
    clean: int = -1  # for a variant: the row of its clean text
    relevant: set[str] = field(default_factory=set)  # held-out retrieval queries: products that count as hits
    market: str = ""


class ViewTable:
    """Rows' views embedded once by the frozen student: (row, view) gathers, masks and critic features."""

    def __init__(self, core: ArcaCore, rows: list[Row], batch: int, desc: str) -> None:
        views = core.build_views([r.text for r in rows], [r.language for r in rows])
        flat_kind: list[Kind] = []
        flat: list[str] = []
        self.gather = torch.full((len(rows), MAX_VIEWS), -1, dtype=torch.long)
        for b, (row, tv) in enumerate(zip(rows, views, strict=True)):
            self.gather[b, : len(tv.texts)] = torch.arange(len(flat), len(flat) + len(tv.texts))
            flat += tv.texts
            flat_kind += [row.kind] * len(tv.texts)
        emb = torch.empty(len(flat) + 1, core.base.dim)
        lengths = [0] * len(flat)
        from tqdm import tqdm

        bar = tqdm(total=len(flat), desc=desc, unit="view", dynamic_ncols=True, mininterval=5)
        with torch.inference_mode():
            for kind in ("query", "passage"):
                # globally by length (embed_flat sorts within each slice): little padding in any pass
                idx = sorted((i for i, k in enumerate(flat_kind) if k == kind), key=lambda i: len(flat[i]))
                for s in range(0, len(idx), 8 * batch):
                    part = idx[s : s + 8 * batch]
                    vecs, lens = core.embed_flat([flat[i] for i in part], kind, batch)
                    emb[part] = vecs.float().cpu()
                    for i, n in zip(part, lens, strict=True):
                        lengths[i] = n
                    bar.update(len(part))
        bar.close()
        emb[-1] = 0.0
        self.emb = emb
        self.mask = self.gather >= 0
        self.gather[~self.mask] = len(flat)
        per_row = [[lengths[int(i)] for i in self.gather[b, : int(self.mask[b].sum())]] for b in range(len(rows))]
        self.static = static_features(views, per_row, MAX_VIEWS)

    def compose(self, composer: torch.nn.Module, idx: torch.Tensor) -> torch.Tensor:
        out, _ = composer(self.emb[self.gather[idx]], self.mask[idx], self.static[idx])
        return out


def cached(path: Path, build: Callable[[], T]) -> T:
    """``build()``, saved at ``path`` (temp file + rename) the first time and loaded from there afterwards; the
    caller keys ``path`` on everything the result depends on."""
    if path.is_file():
        print(f"reusing {path}", file=sys.stderr)
        return torch.load(path, map_location="cpu", weights_only=False)  # our own file: plain Python objects
    value = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    tmp.replace(path)
    return value


def _kind(rng: random.Random, source: str, passage_prob: float) -> Kind:
    return "passage" if source in PASSAGE_SOURCES and rng.random() < passage_prob else "query"


def training_rows(cfg: RefitConfig, settings: Settings, core: ArcaCore) -> tuple[list[Row], list[str]]:
    """(rows: clean texts sampled per source, their variants; English texts for the stability term)."""
    o, rng = cfg.optim, random.Random(cfg.seed)
    data = load_data(cfg.data, cfg.seed, settings)
    translations = data.by_english()
    rows: list[Row] = []
    for source, pool in data.pools.items():
        picked: list[Pair] = rng.sample(pool, min(o.rows.get(source, 0), len(pool)))
        for p in picked:
            lang = None if rng.random() < o.lang_dropout else p.language
            rows.append(Row(p.text, lang, _kind(rng, source, o.passage_prob), p.english, source))
            if rng.random() < o.variant_share:
                made = make_variant(p, rng, core.views.glosser, translations)
                if made is not None:
                    rows.append(Row(made[1], lang, rows[-1].kind, p.english, source, clean=len(rows) - 1))
    english = data.english_texts()
    return rows, rng.sample(english, min(o.english_rows, len(english)))


def retrieval_rows(cfg: RefitConfig, settings: Settings) -> tuple[list[Row], list[Row], list[Row], list[Row]]:
    """(train queries, their products' passages, held-out queries, their products' passages), row i of each pair
    of lists matching. Each query is paired with one grade-3 product of its own market and one English one; the
    products are the catalogue's own passages, so the gate learns how product text should be composed (lexicon
    terms everywhere) as well as sentences (a glossed word or two)."""
    from core.catalogue import read_catalogue

    o, d = cfg.optim, cfg.data
    if not (d.queries and o.products):
        return [], [], [], []
    rng = random.Random(cfg.seed + 1)
    products = {p.id: p for p in read_catalogue(settings.catalogue_path).products}
    path = train_queries_path(settings.catalogue_path.parent / "queries.train.jsonl")
    queries = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rng.shuffle(queries)
    train_q: list[Row] = []
    train_p: list[Row] = []
    held_q: list[Row] = []
    held_p: list[Row] = []
    used: set[str] = set()
    for q in queries:
        best = [pid for pid, grade in sorted(q["relevant"].items()) if grade >= 3 and pid in products]
        picks = [
            rng.choice(group)
            for group in ([p for p in best if not p.startswith("en-")], [p for p in best if p.startswith("en-")])
            if group
        ]
        held = held_out_query(q["id"], d.holdout_queries_every)
        if (held and len(held_q) >= o.held_out_queries) or (not held and len(used | set(picks)) > o.products):
            continue
        lang = None if rng.random() < o.lang_dropout else q["language"]
        for pid in picks:
            row = Row(q["text"], None if held else lang, "query", pid, "retrieval")
            if held:  # what counts as a hit in validation, and the market searched
                row.relevant = {p for p, grade in q["relevant"].items() if grade >= 2}
                row.market = q["language"]
            (held_q if held else train_q).append(row)
            (held_p if held else train_p).append(Row(products[pid].passage_text(), None, "passage", pid, "product"))
            if not held:
                used.add(pid)
    return train_q, train_p, held_q, held_p


def heldout_rows(cfg: RefitConfig, settings: Settings) -> dict[str, list[Row]]:
    """Validation, never trained on: the held-out FLORES *dev* lines and the held-out 1-in-N train queries."""
    out: dict[str, list[Row]] = defaultdict(list)
    d = cfg.data
    if d.corpora and "flores200_dev" in d.corpora and d.holdout_flores_dev:
        _, held = read_parallel(settings.data_dir, ("flores200_dev",), d.languages, d.holdout_flores_dev)
        for p in held:
            out[f"sentence:{p.language}"].append(Row(p.text, None, "query", p.english, "sentence"))
    if d.queries and d.holdout_queries_every:
        titles = english_titles(settings.catalogue_path)
        path = train_queries_path(settings.catalogue_path.parent / "queries.train.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines():
            q = json.loads(line)
            if not held_out_query(q["id"], d.holdout_queries_every) or q["language"] == "en":
                continue
            best = sorted(pid for pid, grade in q["relevant"].items() if grade >= 3 and pid in titles)
            if best and q.get("noise") != "cross_lingual_en":
                out["query"].append(Row(q["text"], None, "query", titles[best[0]], "query"))
    return dict(out)


class Validation:
    """xx→English top-1 and mean margin (cos of the right English minus the best wrong one) per held-out set, the
    English side composed by Arca too (as the FLORES evaluator does)."""

    def __init__(self, core: ArcaCore, sets: dict[str, list[Row]], batch: int) -> None:
        self.names = sorted(sets)
        rows = [r for name in self.names for r in sets[name]]
        english = sorted({r.english for r in rows})
        # English titles of products are passages; English sentences are queries (both sides "query: " in FLORES)
        kind_of: dict[str, Kind] = {r.english: "query" if r.source == "sentence" else "passage" for r in rows}
        eng_rows = [Row(e, "en", kind_of[e], e, "english") for e in english]
        self.xx = ViewTable(core, rows, batch, "held-out views")
        self.en = ViewTable(core, eng_rows, batch, "held-out English")
        pos = {e: i for i, e in enumerate(english)}
        self.spans: dict[str, tuple[int, int, np.ndarray]] = {}
        start = 0
        for name in self.names:
            n = len(sets[name])
            targets = np.array([pos[r.english] for r in sets[name]])
            self.spans[name] = (start, start + n, targets)
            start += n

    @torch.no_grad()
    def __call__(self, composer: torch.nn.Module) -> dict[str, float]:
        xx = self.xx.compose(composer, torch.arange(len(self.xx.gather))).numpy()
        en = self.en.compose(composer, torch.arange(len(self.en.gather))).numpy()
        out: dict[str, float] = {}
        for name in self.names:
            a, b, targets = self.spans[name]
            cand = np.unique(targets)  # each set retrieves among its own English side
            sims = xx[a:b] @ en[cand].T
            col = np.searchsorted(cand, targets)
            right = sims[np.arange(len(col)), col]
            sims[np.arange(len(col)), col] = -np.inf
            margin = right - sims.max(axis=1)
            out[f"{name}/top1"] = float(np.mean(margin > 0))
            out[f"{name}/margin"] = float(np.mean(margin))
        sentence = [n for n in self.names if n.startswith("sentence:")]
        if sentence:
            out["sentence_top1"] = float(np.mean([out[f"{n}/top1"] for n in sentence]))
            out["sentence_margin"] = float(np.mean([out[f"{n}/margin"] for n in sentence]))
        return out


def _teacher(base: Any, pairs: set[tuple[Kind, str]], batch: int) -> dict[tuple[Kind, str], torch.Tensor]:
    """The frozen base's embedding of each (kind, English text): the targets."""
    out: dict[tuple[Kind, str], torch.Tensor] = {}
    for kind in ("query", "passage"):
        texts = sorted(t for k, t in pairs if k == kind)
        if texts:
            vecs = base.encode(texts, kind=kind, batch_size=batch, progress=True)
            out.update({(kind, t): torch.from_numpy(v) for t, v in zip(texts, vecs, strict=True)})
    return out


class Retrieval:
    """Train queries and catalogue passages embedded once: the query→product InfoNCE term, and its held-out check
    (held-out train queries searching their market's products plus English ones among the embedded passages)."""

    def __init__(self, core: ArcaCore, cfg: RefitConfig, settings: Settings, batch: int) -> None:
        train_q, train_p, held_q, held_p = retrieval_rows(cfg, settings)
        by_id = {r.english: r for r in train_p + held_p}
        self.ids = sorted(by_id)
        pos = {pid: i for i, pid in enumerate(self.ids)}
        self.queries = ViewTable(core, train_q + held_q, batch, "retrieval queries")
        self.products = ViewTable(core, [by_id[pid] for pid in self.ids], batch, "product passages")
        self.train = torch.tensor([[i, pos[r.english]] for i, r in enumerate(train_q)], dtype=torch.long)
        self.held = list(range(len(train_q), len(train_q) + len(held_q)))
        self.held_rows = held_q
        self.markets = np.array([pid.split("-")[0] for pid in self.ids])

    def loss(self, composer: torch.nn.Module, pairs: torch.Tensor, temperature: float) -> torch.Tensor:
        q = self.queries.compose(composer, pairs[:, 0])
        p = self.products.compose(composer, pairs[:, 1])
        logits = q @ p.T / temperature
        same = pairs[:, 1].unsqueeze(0) == pairs[:, 1].unsqueeze(1)  # one product twice in a batch: not a negative
        eye = torch.eye(len(pairs), dtype=torch.bool)
        logits = logits.masked_fill(same & ~eye, float("-inf"))
        return torch.nn.functional.cross_entropy(logits, torch.arange(len(pairs)))

    @torch.no_grad()
    def validate(self, composer: torch.nn.Module) -> dict[str, float]:
        if not self.held:
            return {}
        q = self.queries.compose(composer, torch.tensor(self.held)).numpy()
        p = self.products.compose(composer, torch.arange(len(self.ids))).numpy()
        rr = []
        for row, vec in zip(self.held_rows, q, strict=True):
            cand = np.flatnonzero((self.markets == row.market) | (self.markets == "en"))
            order = cand[np.argsort(-(p[cand] @ vec))[:10]]
            hits = [k for k, j in enumerate(order) if self.ids[j] in row.relevant]
            rr.append(1.0 / (hits[0] + 1) if hits else 0.0)
        return {"product/mrr": float(np.mean(rr))}


class Refit:
    def __init__(self, cfg: RefitConfig, settings: Settings, run_dir: Path) -> None:
        from model.arca.encoder import ArcaEncoder
        from model.base.materialise import ensure_base_model
        from model.base_encoder import BaseEncoder

        self.cfg, self.run_dir, o = cfg, run_dir, cfg.optim
        if o.threads:
            torch.set_num_threads(o.threads)
        seed_everything(cfg.seed)
        self.base = BaseEncoder(
            ensure_base_model(settings.model_cache_dir),
            device=settings.device,
            dtype=torch.float32,
            batch_size=o.encode_batch,
            max_seq_len=o.max_seq_len,
        )
        source = resolve(cfg.arca)
        self.payload, self.source_sha = load_checkpoint(source)
        self.core = ArcaEncoder.from_checkpoint(self.base, source).core  # merged LoRA, eval mode
        self.core.composer.cpu()  # the views are embedded once (on the device); the tiny gate trains on the CPU
        t0 = time.perf_counter()
        # a rerun with other losses or steps over the same rows reuses their embeddings
        path = resolve(cfg.cache_dir) / f"refit-{self._prepared_key(settings)}.pt"
        self.__dict__.update(cached(path, lambda: self._prepare(settings)))
        self.prepare_s = time.perf_counter() - t0
        composer = self.core.composer
        composer.requires_grad_(True)
        groups = [{"params": [*composer.gate.parameters(), composer.prior], "lr": o.gate_lr}]
        if o.adaptor_lr > 0:
            groups.append({"params": list(composer.adaptor.parameters()), "lr": o.adaptor_lr})
        else:  # the shared rotation stays stage 1's: English and the geometry stay where stage 1 anchored them
            composer.adaptor.requires_grad_(False)
        self.optimizer = torch.optim.AdamW(groups, weight_decay=0.0)
        self.base_lrs = [g["lr"] for g in self.optimizer.param_groups]
        self.rng = torch.Generator().manual_seed(cfg.seed)
        self.history: list[dict[str, float]] = []

    def _prepared_key(self, settings: Settings) -> str:
        """Everything the embedded rows depend on: the source checkpoint, the data, how rows are drawn, the code."""
        from core.text import romaniser_versions

        drawn = {k: v for k, v in asdict(self.cfg.optim).items() if k not in TRAINING_ONLY}
        what = [
            PREPARED_VERSION,
            self.source_sha,
            self.base.fingerprint,
            asdict(self.cfg.data),
            self.cfg.seed,
            drawn,
            str(settings.data_dir.resolve()),
            str(settings.catalogue_path.resolve()),
            romaniser_versions(),
        ]
        return hashlib.sha256(json.dumps(what, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def _prepare(self, settings: Settings) -> dict[str, Any]:
        """Draw the rows and embed every view of them (and of the held-out sets) with the frozen student."""
        cfg, o = self.cfg, self.cfg.optim
        random.seed(cfg.seed)
        rows, english = training_rows(cfg, settings, self.core)
        eng_rows = [Row(e, None if random.random() < o.lang_dropout else "en", "query", e, "english") for e in english]
        table = ViewTable(self.core, rows, o.encode_batch, "training views")
        eng_table = ViewTable(self.core, eng_rows, o.encode_batch, "English views")
        targets = _teacher(self.base, {(r.kind, r.english) for r in rows + eng_rows}, o.encode_batch)
        targets_t = torch.stack([targets[(r.kind, r.english)] for r in rows])
        eng_targets = torch.stack([targets[("query", r.english)] for r in eng_rows])
        ids = {e: i for i, e in enumerate(sorted({r.english for r in rows}))}
        target_ids = torch.tensor([ids[r.english] for r in rows])
        by_source: dict[str, torch.Tensor] = {}
        variants: dict[str, torch.Tensor] = {}
        for source in sorted({r.source for r in rows}):
            by_source[source] = torch.tensor(
                [i for i, r in enumerate(rows) if r.source == source and r.clean < 0], dtype=torch.long
            )
            variants[source] = torch.tensor(
                [i for i, r in enumerate(rows) if r.source == source and r.clean >= 0], dtype=torch.long
            )
        clean_of = torch.tensor([r.clean for r in rows])
        held = heldout_rows(cfg, settings)
        validation = Validation(self.core, held, o.encode_batch) if held else None
        retrieval = Retrieval(self.core, cfg, settings, o.encode_batch) if o.products else None
        return {
            "retrieval": retrieval,
            "rows": rows,
            "eng_rows": eng_rows,
            "table": table,
            "eng_table": eng_table,
            "targets": targets_t,
            "eng_targets": eng_targets,
            "target_ids": target_ids,
            "by_source": by_source,
            "variants": variants,
            "clean_of": clean_of,
            "validation": validation,
        }

    def _pick(self, pool: torch.Tensor, n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (min(n, len(pool)),), generator=self.rng)]

    def step(self, step: int) -> dict[str, float]:
        o, composer = self.cfg.optim, self.core.composer
        sources = [s for s in self.by_source if o.mix.get(s, 0) > 0 and len(self.by_source[s])]
        weights = torch.tensor([o.mix[s] for s in sources])
        source = sources[int(torch.multinomial(weights, 1, generator=self.rng))]
        idx = self._pick(self.by_source[source], o.batch_size)
        pred = self.table.compose(composer, idx)
        eng = self._pick(torch.arange(len(self.eng_rows)), o.english_per_step)
        var = self._pick(self.variants[source], o.variants_per_step) if len(self.variants[source]) else idx[:0]
        var_pred = self.table.compose(composer, var) if len(var) else pred[:0]
        var_clean = self.table.compose(composer, self.clean_of[var]) if len(var) else pred[:0]
        losses = arca_losses(
            self.cfg.loss,
            pred=pred,
            targets=self.targets[idx],
            target_ids=self.target_ids[idx],
            english_pred=self.eng_table.compose(composer, eng),
            english_targets=self.eng_targets[eng],
            variant_pred=var_pred,
            variant_targets=self.targets[var],
            variant_clean=var_clean,
            ortho_gap=composer.orthogonality_gap(),
        )
        if self.retrieval is not None and o.retrieval and len(self.retrieval.train):
            pairs = self._pick(self.retrieval.train, o.retrieval_per_step)
            losses["retrieval"] = self.retrieval.loss(composer, pairs, self.cfg.loss.temperature)
            losses["total"] = losses["total"] + o.retrieval * losses["retrieval"]
        else:
            losses["retrieval"] = losses["total"].new_zeros(())
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / o.steps))
        if step < o.warmup:
            factor = min(factor, (step + 1) / o.warmup)
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = lr * factor
        self.optimizer.zero_grad(set_to_none=True)
        losses["total"].backward()
        torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]], 1.0)
        self.optimizer.step()
        return {k: float(v.detach()) for k, v in losses.items()}

    def run(self) -> dict[str, Any]:
        """Train; keep the composer with the best held-out score (the start counts: a refit never ships worse)."""
        from tqdm import tqdm

        o, composer = self.cfg.optim, self.core.composer
        best: tuple[float, float] | None = None
        best_state: dict[str, torch.Tensor] = {}
        window: list[dict[str, float]] = []
        t0 = time.perf_counter()

        def record(step: int) -> None:
            nonlocal best, best_state, window
            entry: dict[str, float] = {"step": step, "elapsed_s": round(time.perf_counter() - t0, 1)}
            if window:
                entry.update({k: sum(w[k] for w in window) / len(window) for k in LOSS_NAMES})
                window = []
            if self.validation is not None or self.retrieval is not None:
                entry.update(self.validation(composer) if self.validation is not None else {})
                entry.update(self.retrieval.validate(composer) if self.retrieval is not None else {})
                parts = [entry[k] for k in ("sentence_top1", "query/top1", "product/mrr") if k in entry]
                entry["score"] = float(np.mean(parts))
                key = (entry["score"], entry.get("sentence_margin", 0.0))
            else:
                key = (float(step), 0.0)  # nothing held out (tiny runs): the last step
            if best is None or key > best:
                best, best_state = key, {k: v.detach().clone() for k, v in composer.state_dict().items()}
                entry["best"] = 1.0
            self.history.append(entry)

        record(0)
        for step in tqdm(range(o.steps), desc="composer", unit="step", dynamic_ncols=True, mininterval=5):
            window.append(self.step(step))
            if (step + 1) % o.eval_every == 0 or step + 1 == o.steps:
                record(step + 1)
        composer.load_state_dict(best_state)
        return {"train_s": round(time.perf_counter() - t0, 1), "prepare_s": round(self.prepare_s, 1)}

    def write_checkpoint(self, path: Path, timing: dict[str, Any]) -> str:
        payload = {k: v for k, v in self.payload.items() if k != "format"}
        payload["composer"] = {k: v.detach().cpu() for k, v in self.core.composer.state_dict().items()}
        best = max((h for h in self.history if h.get("best")), key=lambda h: h["step"])
        payload["refit"] = {
            "from_sha256": self.source_sha,
            "rows": {s: int(len(v)) for s, v in self.by_source.items()},
            "variants": int(sum(len(v) for v in self.variants.values())),
            "best_step": int(best["step"]),
            "held_out": {
                k: round(v, 4)
                for k, v in best.items()
                if "/" in k or k in ("score", "sentence_top1", "sentence_margin")
            },
            "loss_weights": self.cfg.loss.as_dict(),
            **timing,
        }
        return save_checkpoint(payload, path)


def plot_history(history: list[dict[str, float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    steps = [h["step"] for h in history if "total" in h]
    for name in ("total", "anchor", "nce", "consistency"):
        ax1.plot(steps, [h[name] for h in history if "total" in h], label=name)
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss")
    ax1.set_title("composer refit: losses")
    ax1.legend()
    ax1.grid(alpha=0.3)
    for key in sorted(k for k in history[0] if k.endswith("/margin")):
        ax2.plot([h["step"] for h in history], [h[key] for h in history], label=key.split("/")[0])
    ax2.set_xlabel("step")
    ax2.set_ylabel("mean margin (right − best wrong)")
    ax2.set_title("held-out: xx→en margin")
    ax2.legend(fontsize=7)
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_composer(config: Path, run_dir: Path | None = None, output: Path | None = None) -> Path:
    cfg = RefitConfig.from_yaml(config)
    settings = Settings()
    run_dir = run_dir or resolve(cfg.run_dir)
    output = output or resolve(cfg.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    refit = Refit(cfg, settings, run_dir)
    sizes = ", ".join(f"{s} {len(v)}" for s, v in refit.by_source.items())
    print(
        f"refit from Arca {refit.source_sha[:12]}: rows {sizes}; prepared in {refit.prepare_s / 60:.1f} min",
        file=sys.stderr,
    )
    timing = refit.run()
    sha = refit.write_checkpoint(output, timing)
    best = [h for h in refit.history if h.get("best")][-1]
    log = {"config": asdict(cfg), "from_sha256": refit.source_sha, "sha256": sha, **timing, "history": refit.history}
    (run_dir / "log.json").write_text(json.dumps(log, indent=1))
    if refit.validation is not None or refit.retrieval is not None:
        plot_history(refit.history, run_dir / "refit_curve.png")
    from model.training.bundle import refresh_manifest

    refresh_manifest(output)
    start = refit.history[0]
    print(
        f"wrote {output} (sha256 {sha[:12]}); held-out score {start.get('score', 0):.4f} → {best.get('score', 0):.4f}"
        f" (best step {best['step']}), sentence margin {start.get('sentence_margin', 0):.4f} → "
        f"{best.get('sentence_margin', 0):.4f}; {timing}",
        file=sys.stderr,
    )
    return output
