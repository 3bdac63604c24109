"""The LaSR head: a language-coupled scorer over (query, candidate) embeddings and the retrieval evidence.

Per candidate: the elementwise product of learned 64-d projections of the query and the product embedding (what
the two agree on), learned embeddings of the query's and the product's language plus a same-language flag (the
"language-coupled" part: e.g. an English product for a Roman-Urdu query is judged differently from an Urdu one),
and the scalar evidence (cosine, BM25, RRF, ranks). An MLP scores that; optionally ``context_layers`` of
self-attention over the candidate list let each candidate see the others (listwise context). The MLP's last
layer starts at zero and a learned weight on the cosine carries the score, so an untrained head ranks exactly
like the dense retriever and training only has to learn corrections.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import cast

import torch
from torch import nn

from core.settings import LANGUAGES
from model.lasr.features import SCALARS, Batch


@dataclass(frozen=True)
class LaSRConfig:
    dim: int = 384
    proj: int = 64
    hidden: int = 64
    lang_dim: int = 8
    context_layers: int = 0  # 0 = pointwise MLP; 1+ = a small transformer over the candidate list
    heads: int = 4

    def as_dict(self) -> dict:
        return asdict(self)


class LaSR(nn.Module):
    def __init__(self, cfg: LaSRConfig = LaSRConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        self.q_proj = nn.Linear(cfg.dim, cfg.proj, bias=False)
        self.d_proj = nn.Linear(cfg.dim, cfg.proj, bias=False)
        self.lang = nn.Embedding(len(LANGUAGES) + 1, cfg.lang_dim)
        width = cfg.proj + 2 * cfg.lang_dim + 1 + len(SCALARS)
        self.inp = nn.Sequential(nn.Linear(width, cfg.hidden), nn.GELU())
        self.context = (
            nn.TransformerEncoder(
                nn.TransformerEncoderLayer(cfg.hidden, cfg.heads, 2 * cfg.hidden, dropout=0.0, batch_first=True),
                cfg.context_layers,
                enable_nested_tensor=False,
            )
            if cfg.context_layers
            else None
        )
        self.out = nn.Sequential(nn.Linear(cfg.hidden, cfg.hidden), nn.GELU(), nn.Linear(cfg.hidden, 1))
        last = cast(nn.Linear, self.out[-1])
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.dense_weight = nn.Parameter(torch.tensor(20.0))  # cos × 20 ~ the logit scale of a contrastive encoder

    def forward(self, b: Batch) -> torch.Tensor:
        """(B, N) scores; padded slots get -inf."""
        n = b.docs.shape[1]
        inter = self.q_proj(b.query).unsqueeze(1) * self.d_proj(b.docs)
        q_lang = self.lang(b.query_lang).unsqueeze(1).expand(-1, n, -1)
        same = (b.query_lang.unsqueeze(1) == b.doc_lang).to(inter.dtype).unsqueeze(-1)
        x = self.inp(torch.cat([inter, q_lang, self.lang(b.doc_lang), same, b.scalars], dim=-1))
        if self.context is not None:
            x = self.context(x, src_key_padding_mask=~b.mask)
        scores = self.out(x).squeeze(-1) + self.dense_weight * b.scalars[..., 0]
        return scores.masked_fill(~b.mask, float("-inf"))
