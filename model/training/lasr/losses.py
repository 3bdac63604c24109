"""LaSR's objective: listwise ranking, a hinge against hard negatives (in the list and in a FIFO queue), and
consistency between a query and its noisy / romanised / translated variant."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class LaSRLossWeights:
    listwise: float = 1.0
    hinge: float = 0.5
    consistency: float = 0.5
    margin: float = 1.0
    hard_negatives: int = 8
    queue_size: int = 4096
    consistency_temperature: float = 1.0

    def as_dict(self) -> dict:
        return asdict(self)


def listnet(scores: torch.Tensor, gains: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the gain distribution (2^grade − 1, normalised) and softmax(scores), per list with at
    least one relevant candidate (lists without one carry no ranking signal)."""
    total = gains.sum(dim=-1)
    valid = total > 0
    if not valid.any():
        return scores.new_zeros(())
    target = gains[valid] / total[valid].unsqueeze(-1)
    logp = torch.log_softmax(scores[valid], dim=-1)
    return -(target * logp.masked_fill(target == 0, 0.0)).sum(dim=-1).mean()


def hinge(positive: torch.Tensor, negatives: torch.Tensor, margin: float) -> torch.Tensor:
    """mean max(0, margin − s(pos) + s(neg)) over (B,) positives and (B, K) negatives (−inf = absent)."""
    finite = torch.isfinite(negatives) & torch.isfinite(positive).unsqueeze(-1)
    if not finite.any():
        return positive.new_zeros(())
    gap = nn.functional.relu(margin - positive.unsqueeze(-1) + negatives)
    return gap[finite].mean()


def consistency(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """Symmetric KL between the softmaxes of two score rows over the candidates both lists hold (mask)."""
    rows = mask.sum(dim=-1) >= 2
    if not rows.any():
        return a.new_zeros(())
    a, b, m = a[rows] / temperature, b[rows] / temperature, mask[rows]
    # log-probabilities of absent slots are set to 0 *before* any arithmetic: −inf − −inf would be NaN, and a NaN
    # multiplied by a zero gradient is still NaN in the backward pass
    la = torch.log_softmax(a.masked_fill(~m, float("-inf")), dim=-1).masked_fill(~m, 0.0)
    lb = torch.log_softmax(b.masked_fill(~m, float("-inf")), dim=-1).masked_fill(~m, 0.0)
    pa, pb = la.exp() * m, lb.exp() * m
    kl = (pa * (la - lb)).sum(-1) + (pb * (lb - la)).sum(-1)
    return 0.5 * kl.mean()


class NegativeQueue:
    """FIFO of hard negatives (product vector, language index, product id) from earlier batches: each query is
    also ranked against products that fooled the head for *other* queries (MoCo-style, no extra encoding)."""

    def __init__(self, size: int) -> None:
        self.items: deque[tuple[torch.Tensor, int, str]] = deque(maxlen=size)

    def push(self, vectors: torch.Tensor, langs: torch.Tensor, ids: list[str]) -> None:
        for v, lang, pid in zip(vectors, langs.tolist(), ids, strict=True):
            self.items.append((v.detach(), lang, pid))

    def __len__(self) -> int:
        return len(self.items)
