"""Arca's objective: anchor to the frozen teacher's English space, stay discriminative, stay stable.

* anchor: 1 − cos(arca(x_xx), teacher(x_en)) pulls every language onto the English point of the same content;
* InfoNCE against in-batch teacher targets keeps those points apart (anchoring alone can collapse);
* English stability: arca(x_en) must stay at teacher(x_en), so English search is unchanged;
* orthogonality: ‖AᵀA − I‖² keeps the adaptor a rotation (the paper's geometric stability);
* consistency: noisy / romanised / code-mixed variants hit the same target and agree with the clean text;
* preserve: arca(x_xx) stays near base(x_xx), the frozen base's own embedding of the same text (learning without
  forgetting): the anchor may move a language towards English only as far as the base's geometry allows, so what
  the base already retrieves well on data unlike the training set is not traded away.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LossWeights:
    anchor: float = 1.0
    nce: float = 0.5
    english: float = 1.0
    ortho: float = 0.01
    consistency: float = 0.5
    agreement: float = 0.5
    preserve: float = 0.0
    temperature: float = 0.05

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean 1 − cos over rows (inputs need not be normalised)."""
    return (1.0 - nn.functional.cosine_similarity(a, b, dim=-1)).mean()


def info_nce(pred: torch.Tensor, targets: torch.Tensor, target_ids: torch.Tensor, temperature: float) -> torch.Tensor:
    """In-batch contrastive loss of row i against target i; rows that share a target id are not negatives.

    FLORES and NTREX are multi-parallel, so one English sentence can be the target of several rows in a batch.
    """
    logits = nn.functional.normalize(pred, dim=-1) @ nn.functional.normalize(targets, dim=-1).T / temperature
    same = target_ids.unsqueeze(0) == target_ids.unsqueeze(1)
    eye = torch.eye(len(pred), dtype=torch.bool, device=pred.device)
    logits = logits.masked_fill(same & ~eye, float("-inf"))
    return nn.functional.cross_entropy(logits, torch.arange(len(pred), device=pred.device))


def arca_losses(
    w: LossWeights,
    pred: torch.Tensor,
    targets: torch.Tensor,
    target_ids: torch.Tensor,
    english_pred: torch.Tensor,
    english_targets: torch.Tensor,
    variant_pred: torch.Tensor,
    variant_targets: torch.Tensor,
    variant_clean: torch.Tensor,
    ortho_gap: torch.Tensor,
    base_pred: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Named terms plus their weighted ``total``; empty groups contribute zero."""
    zero = pred.new_zeros(())
    terms = {
        "anchor": cosine_distance(pred, targets),
        "nce": info_nce(pred, targets, target_ids, w.temperature) if len(pred) > 1 else zero,
        "english": cosine_distance(english_pred, english_targets) if len(english_pred) else zero,
        "ortho": ortho_gap,
        "consistency": cosine_distance(variant_pred, variant_targets) if len(variant_pred) else zero,
        "agreement": cosine_distance(variant_pred, variant_clean) if len(variant_pred) else zero,
        "preserve": cosine_distance(pred, base_pred) if base_pred is not None and len(base_pred) else zero,
    }
    terms["total"] = sum(getattr(w, name) * value for name, value in terms.items())
    return terms
