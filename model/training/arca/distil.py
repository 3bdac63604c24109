"""Distillation of Arca's query tower (``model.arca.tower``): the first layers of Arca's student trained to give the
full model's query vectors (cosine + in-batch contrastive terms), with held-out early stopping."""

from __future__ import annotations

import contextlib
import copy
import io
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from model.arca.checkpoint import write_atomic
from model.arca.tower import FORMAT, pooled_unit, tower_state


@dataclass(frozen=True)
class DistilConfig:
    layers: int = 6
    steps: int = 20000
    time_budget_min: float = 6.0  # the loop also stops here (the LR schedule follows whichever ends first)
    batch_size: int = 256
    lr: float = 2.0e-4
    warmup: int = 200
    weight_decay: float = 0.01
    nce: float = 0.1  # weight of the in-batch contrastive term
    temperature: float = 0.05
    max_tokens: int = 64
    eval_every: int = 500
    seed: int = 13

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DistilConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def save_tower(
    path: Path,
    tower: nn.Module,
    *,
    student_sha256: str,
    arca_sha256: str,
    base_fingerprint: str,
    config: DistilConfig,
    history: list[dict[str, float]],
) -> str:
    """Write the checkpoint atomically; returns its sha256. ``student_sha256`` (``checkpoint.student_sha256``)
    is what the tower depends on and is checked at load; ``arca_sha256`` records the checkpoint it came from."""
    payload = {
        "format": FORMAT,
        "layers": len(tower.encoder.layer),
        "weights": tower_state(tower),
        "student_sha256": student_sha256,
        "arca_sha256": arca_sha256,
        "base_fingerprint": base_fingerprint,
        "config": asdict(config),
        "history": history,
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    return write_atomic(path, buf.getvalue())


# ------------------------------------------------------------------------------------------ distillation


class TokenRows:
    """Token-id rows held flat (``ids`` + ``offsets``), padded into batches on demand."""

    def __init__(self, ids: np.ndarray, offsets: np.ndarray, pad_id: int, max_tokens: int) -> None:
        self.ids, self.offsets, self.pad_id, self.max_tokens = ids, offsets, pad_id, max_tokens
        self.lengths = np.minimum(np.diff(offsets), max_tokens)

    def __len__(self) -> int:
        return len(self.lengths)

    def batch(self, rows: Sequence[int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        width = int(self.lengths[list(rows)].max())
        ids = np.full((len(rows), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, r in enumerate(rows):
            n = int(self.lengths[r])
            row = self.ids[self.offsets[r] : self.offsets[r] + n]
            if n < self.offsets[r + 1] - self.offsets[r]:  # truncated: keep the closing special token
                row = np.concatenate([row[:-1], self.ids[self.offsets[r + 1] - 1 : self.offsets[r + 1]]])
            ids[i, :n] = row
            mask[i, :n] = 1
        return torch.from_numpy(ids).to(device), torch.from_numpy(mask).to(device)

    def batches(self, size: int, rng: random.Random | None = None) -> list[list[int]]:
        """Batches of similar lengths (little padding); shuffled batch order when ``rng`` is given."""
        order = sorted(range(len(self)), key=lambda i: self.lengths[i])
        if rng is not None:  # shuffle, then sort within windows of 50 batches: random but length-grouped
            rng.shuffle(order)
            window = size * 50
            order = [
                i
                for s in range(0, len(order), window)
                for i in sorted(order[s : s + window], key=lambda i: self.lengths[i])
            ]
        out = [order[s : s + size] for s in range(0, len(order), size)]
        if rng is not None:
            rng.shuffle(out)
        return out


@torch.inference_mode()
def unit_vectors(model: nn.Module, rows: TokenRows, device: torch.device, batch: int = 512) -> torch.Tensor:
    """Unit pooled vectors of every row, in row order, fp32 on ``device``."""
    out = torch.empty(len(rows), model.config.hidden_size, device=device)
    for part in rows.batches(batch):
        ids, mask = rows.batch(part, device)
        out[torch.tensor(part, device=device)] = pooled_unit(model, ids, mask)
    return out


def distil(
    teacher: nn.Module,
    tower: nn.Module,
    train: TokenRows,
    dev: TokenRows,
    cfg: DistilConfig,
    device: torch.device,
    log: Callable[[dict[str, float]], None] = print,
) -> list[dict[str, float]]:
    """Train ``tower``'s layers towards ``teacher``'s unit vectors; keeps the weights of the best dev cosine.

    Returns the history: one record per evaluation (step, seconds, train loss, dev cosine mean and 5th percentile).
    """
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    teacher.eval()
    t0 = time.perf_counter()
    targets = unit_vectors(teacher, train, device)
    dev_targets = unit_vectors(teacher, dev, device)
    log({"step": 0, "teacher_s": round(time.perf_counter() - t0, 1), "train_rows": len(train), "dev_rows": len(dev)})

    def dev_cosine() -> tuple[float, float]:
        tower.eval()
        cos = (unit_vectors(tower, dev, device) * dev_targets).sum(-1)
        tower.train()
        return float(cos.mean()), float(torch.quantile(cos, 0.05))

    params = [p for p in tower.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    history: list[dict[str, float]] = []
    best: tuple[float, dict[str, torch.Tensor]] = (-2.0, {})

    def record(step: int, losses: list[float]) -> None:
        """One history record (dev cosine now, mean training loss since the last), logged; the best weights kept."""
        nonlocal best
        mean, p5 = dev_cosine()
        history.append(
            {
                "step": step,
                "seconds": round(time.perf_counter() - start, 1) if step else 0.0,
                "loss": round(sum(losses) / len(losses), 5) if losses else float("nan"),
                "dev_cos": round(mean, 5),
                "dev_cos_p5": round(p5, 5),
            }
        )
        log(history[-1])
        if history[-1]["dev_cos"] > best[0]:
            best = (history[-1]["dev_cos"], copy.deepcopy(tower.encoder.layer.state_dict()))

    record(0, [])
    budget = cfg.time_budget_min * 60
    start, step, running, out_of_time = time.perf_counter(), 0, [], False
    tower.train()
    while step < cfg.steps and not out_of_time:
        for part in train.batches(cfg.batch_size, rng):
            elapsed = time.perf_counter() - start
            out_of_time = elapsed >= budget
            if step >= cfg.steps or out_of_time:
                break
            progress = max(step / cfg.steps, elapsed / budget)
            lr = cfg.lr * min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * progress))
            for g in opt.param_groups:
                g["lr"] = lr
            ids, mask = train.batch(part, device)
            target = targets[torch.tensor(part, device=device)]
            with autocast:
                v = pooled_unit(tower, ids, mask)
            loss = (1 - (v * target).sum(-1)).mean()
            if cfg.nce > 0:
                logits = v @ target.T / cfg.temperature
                loss = loss + cfg.nce * nn.functional.cross_entropy(logits, torch.arange(len(part), device=device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            step += 1
            running.append(float(loss.detach()))
            if step % cfg.eval_every == 0:
                record(step, running)
                running = []
    if step % cfg.eval_every:
        record(step, running)
    tower.encoder.layer.load_state_dict(best[1])
    tower.eval()
    return history
