"""The Arca actor: a learned gate over the views of a text, then one shared near-orthogonal adaptor.

The paper's actor picks among discrete LLM translations with REINFORCE; our views are embedded by a
differentiable student, so the gate is a softmax trained by backprop. Its inputs are "critic" features: what
kind of view it is, the script and (when known) the language, how much the view agrees with the others, how
much of the text the lexicon glossed, and the view's length.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

import numpy as np
import torch
from torch import nn

from core.settings import LANGUAGES
from core.text import SCRIPTS
from model.arca.views import VIEW_TYPES, TextViews

# view type + script + language (last slot = unknown) + coverage + English share + length; agreement is
# appended in forward
N_STATIC = len(VIEW_TYPES) + len(SCRIPTS) + len(LANGUAGES) + 1 + 3
N_FEATURES = N_STATIC + 1
_MAX_LEN_LOG = math.log1p(128)
RAW_PRIOR = 1.0
_AGREEMENT_GRID = torch.linspace(-1.0, 1.0, 41)  # every value the agreement feature (a cosine) can take


def static_features(views: Sequence[TextViews], lengths: Sequence[Sequence[int]], max_views: int) -> torch.Tensor:
    """(batch, max_views, N_STATIC) critic features known before encoding; ``lengths`` are token counts."""
    feats = np.zeros((len(views), max_views, N_STATIC), dtype=np.float32)  # numpy: element writes cost ~0.1 µs
    lang_base = len(VIEW_TYPES) + len(SCRIPTS)
    for b, (tv, lens) in enumerate(zip(views, lengths, strict=True)):
        lang = LANGUAGES.index(tv.language) if tv.language in LANGUAGES else len(LANGUAGES)
        for v, (kind, n) in enumerate(zip(tv.types, lens, strict=True)):
            feats[b, v, kind] = 1.0
            feats[b, v, len(VIEW_TYPES) + tv.script] = 1.0
            feats[b, v, lang_base + lang] = 1.0
            feats[b, v, -3] = tv.coverage
            feats[b, v, -2] = tv.english_share
            feats[b, v, -1] = math.log1p(n) / _MAX_LEN_LOG
    return torch.from_numpy(feats)


def agreement(views: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Cosine of each (unit) view with the mean of the *other* present views; 1 for a lone view."""
    m = mask.unsqueeze(-1).to(views.dtype)
    total = (views * m).sum(dim=1, keepdim=True)
    others = total - views * m
    cos = nn.functional.cosine_similarity(views, others, dim=-1, eps=1e-8)
    lone = mask.sum(dim=1, keepdim=True) <= 1
    return torch.where(lone, torch.ones_like(cos), cos) * mask


class Composer(nn.Module):
    """Gate MLP → softmax over present views → weighted sum → adaptor A (identity at init) → unit vector."""

    def __init__(self, dim: int = 384, hidden: int = 32) -> None:
        super().__init__()
        self.gate = nn.Sequential(nn.Linear(N_FEATURES, hidden), nn.GELU(), nn.Linear(hidden, 1))
        last = cast(nn.Linear, self.gate[-1])
        nn.init.zeros_(last.weight)  # uniform over the views at init: no view is trusted blindly
        nn.init.zeros_(last.bias)
        # a learned per-view-type prior added to the gate's logits; it starts in favour of the raw text (weight
        # ~0.5 among four views): the other views are cheap approximations and must earn their weight, which
        # keeps long native-script sentences (where gloss/romanisation lose information) near the base
        prior = torch.zeros(len(VIEW_TYPES))
        prior[VIEW_TYPES.index("raw")] = RAW_PRIOR
        self.prior = nn.Parameter(prior)
        self.adaptor = nn.Linear(dim, dim, bias=False)
        with torch.no_grad():
            self.adaptor.weight.copy_(torch.eye(dim))

    def forward(
        self, views: torch.Tensor, mask: torch.Tensor, static: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``views`` (B, V, D) unit vectors, ``mask`` (B, V) bool → (unit (B, D), gate weights (B, V)).
        ``static`` may be None when V is 1: a softmax over one view is exactly 1 (and has no gradient) whatever the
        gate says, so the gate is not run at all (most pruned queries)."""
        if views.shape[1] == 1:
            weights = mask.to(views.dtype)
        else:
            assert static is not None, "the gate needs the critic features of several views"
            agree = agreement(views.detach(), mask).unsqueeze(-1)
            logits = self._logits(static, agree)
            weights = torch.softmax(logits.masked_fill(~mask, float("-inf")), dim=-1)
        mixed = (weights.unsqueeze(-1) * views).sum(dim=1)
        return nn.functional.normalize(self.adaptor(mixed), dim=-1), weights

    def _logits(self, static: torch.Tensor, agree: torch.Tensor) -> torch.Tensor:
        logits = self.gate(torch.cat([static, agree], dim=-1)).squeeze(-1)
        return logits + static[..., : len(VIEW_TYPES)] @ self.prior

    @torch.no_grad()
    def weight_bounds(self, static: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """(B, V) upper bound of each present view's gate weight, known *before* any view is encoded.

        The only feature that needs the embeddings is the agreement (a cosine in [-1, 1]); taking each view's
        highest logit over that range against every other view's lowest bounds the softmax weight the view could
        get, whatever the encoder says. A view whose bound is tiny cannot move the composed vector much.
        """
        grid = _AGREEMENT_GRID.to(device=static.device, dtype=static.dtype)
        b, v, f = static.shape
        agree = grid.view(1, 1, -1, 1).expand(b, v, -1, 1)
        logits = self._logits(static.unsqueeze(2).expand(b, v, len(grid), f), agree)
        high = logits.max(dim=-1).values.masked_fill(~mask, float("-inf"))
        low = logits.min(dim=-1).values.masked_fill(~mask, float("-inf"))
        # weight_v <= e^high_v / (e^high_v + sum_{u != v} e^low_u) = sigmoid(high_v - logsumexp_{u != v} low_u)
        self_pair = torch.eye(v, dtype=torch.bool, device=static.device)
        others = torch.logsumexp(low.unsqueeze(1).expand(b, v, v).masked_fill(self_pair, float("-inf")), dim=-1)
        return torch.sigmoid(high - others).masked_fill(~mask, 0.0)

    def frozen(self) -> FrozenComposer:
        """This composer's current weights as numpy arrays, for inference one text at a time."""
        return FrozenComposer(self)

    def orthogonality_gap(self) -> torch.Tensor:
        """‖AᵀA − I‖²_F: zero when A is a rotation, so cosines between vectors are preserved."""
        a = self.adaptor.weight
        return (a.T @ a - torch.eye(a.shape[0], device=a.device, dtype=a.dtype)).pow(2).sum()


def views_to_keep(bounds: Sequence[float] | np.ndarray, below: float) -> list[int]:
    """Positions of the views whose weight bound (``weight_bounds``) reaches ``below``; the view with the highest
    bound when none does."""
    keep = [v for v, bound in enumerate(bounds) if bound >= below]
    return keep or [int(np.argmax(bounds))]


class FrozenComposer:
    """A trained ``Composer`` as float32 numpy arrays: the same gate, weight bounds and adaptor, one text at a time.

    Serving encodes one or a few short queries per call, and there the composer's dozen tiny tensor operations
    (torch dispatch ~5-50 µs each) and the bounds' grid cost ~1.5 ms of a ~10 ms query encoding on 2 cores; as
    numpy they cost a fraction of that. No torch operation at all: a single one in the API's encoder thread put
    a tail on the ONNX Runtime run after it (single-query encoding p95 ~20 ms in a worker thread vs ~12 ms
    without). Same arithmetic in float32 (tests compare it with the torch module); training and passages keep
    the module.
    """

    def __init__(self, composer: Composer) -> None:
        state = {k: v.detach().float().cpu().numpy() for k, v in composer.state_dict().items()}
        w1 = state["gate.0.weight"]  # (hidden, N_FEATURES): the static features, then the agreement
        self._w1_static, self._w1_agree = w1[:, :N_STATIC].T.copy(), w1[:, N_STATIC].copy()
        self._b1 = state["gate.0.bias"]
        self._w2, self._b2 = state["gate.2.weight"][0].copy(), state["gate.2.bias"][0]
        self._prior = state["prior"]
        self._adaptor_t = state["adaptor.weight"].T.copy()
        self._grid = _AGREEMENT_GRID.numpy().astype(np.float32)

    def logits(self, static: np.ndarray, agree: np.ndarray) -> np.ndarray:
        """Gate logits of views with ``static`` (..., N_STATIC) features and ``agree`` (...) agreements."""
        hidden = static @ self._w1_static + agree[..., None] * self._w1_agree + self._b1
        hidden = 0.5 * hidden * (1.0 + _erf(hidden * np.float32(1.0 / math.sqrt(2.0))))  # nn.GELU(): exact, erf
        return hidden @ self._w2 + self._b2 + static[..., : len(VIEW_TYPES)] @ self._prior

    def weight_bounds(self, static: np.ndarray) -> np.ndarray:
        """(V,) upper bound of the gate weight of each of one text's views, (V, N_STATIC) features: as
        ``Composer.weight_bounds``."""
        logits = self.logits(
            np.repeat(static[:, None, :], len(self._grid), axis=1),
            np.broadcast_to(self._grid, (len(static), len(self._grid))),
        )
        high, low = logits.max(axis=1), logits.min(axis=1)
        bounds = np.ones(len(static), dtype=np.float32)
        for v in range(len(static)):
            others = np.delete(low, v)
            if len(others):
                top = others.max()
                rest = top + np.log(np.exp(others - top).sum())
                bounds[v] = 1.0 / (1.0 + np.exp(rest - high[v]))
        return bounds

    def compose(self, views: np.ndarray, static: np.ndarray) -> np.ndarray:
        """One text's unit vector from its (V, D) unit view embeddings and (V, N_STATIC) features."""
        if len(views) == 1:
            mixed = views[0]
        else:
            others = views.sum(axis=0, keepdims=True) - views
            norms = np.maximum(np.linalg.norm(views, axis=1) * np.linalg.norm(others, axis=1), 1e-8)
            logits = self.logits(static, (views * others).sum(axis=1) / norms)
            weights = np.exp(logits - logits.max())
            mixed = (weights / weights.sum()) @ views
        out = mixed @ self._adaptor_t
        return out / max(float(np.linalg.norm(out)), 1e-12)


def _erf(x: np.ndarray) -> np.ndarray:
    """erf to within 1.5e-7 (Abramowitz & Stegun 7.1.26), below float32's resolution of GELU's output here."""
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t
    return np.sign(x) * (1.0 - poly * np.exp(-a * a))
