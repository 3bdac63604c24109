"""One forward path for training and serving: views → one student pass over all of them → composer.

Keeping a single implementation means the trained gate sees exactly the features and embeddings it will be
served with (same tokenisation, prefixes, pooling and length ordering).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from model.arca.composer import Composer, static_features, views_to_keep
from model.arca.lora import DEFAULT_TARGETS, make_student
from model.arca.views import VIEW_TYPES, Glosser, TextViews, ViewBuilder
from model.base_encoder import mean_pool
from model.encoder import Kind

if TYPE_CHECKING:
    from model.base_encoder import BaseEncoder
    from model.runtime import OnnxTrunk


@dataclass(frozen=True)
class ArcaModelConfig:
    """Architecture knobs stored in the checkpoint (training knobs live in the trainer's config)."""

    top_layers: int = 4
    rank: int = 8
    alpha: float = 16.0
    targets: tuple[str, ...] = DEFAULT_TARGETS
    gate_hidden: int = 32
    views: tuple[str, ...] = field(default=VIEW_TYPES)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ArcaModelConfig:
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)  # type: ignore[arg-type]  # checkpoint values, types as written by to_dict

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


class ArcaCore(nn.Module):
    """Student (LoRA'd or merged BertModel sharing the base's frozen modules) + composer + view builder."""

    def __init__(self, base: BaseEncoder, student: nn.Module, composer: Composer, views: ViewBuilder) -> None:
        super().__init__()
        self.base = base  # tokenizer, prefixes, padding; not a submodule: its weights are shared, not owned
        self.student = student
        self.composer = composer
        self.views = views
        # an inference runtime for the student trunk (model.runtime.OnnxTrunk) set by the loader; None = torch
        self.trunk: OnnxTrunk | None = None
        # the distilled query tower (model.arca.tower), when served: query texts of at most ``tower_max_tokens``
        # tokens take it instead of the full student (longer ones, where its approximation is weakest, do not);
        # ``query_trunk`` is its inference runtime
        self.query_student: nn.Module | None = None
        self.query_trunk: OnnxTrunk | None = None
        self.tower_max_tokens = 0

    def tower_takes(self, kind: Kind, tokens: int) -> bool:
        """Whether a ``kind`` text of ``tokens`` tokens (prefix and specials included) goes through the tower."""
        return kind == "query" and self.query_student is not None and tokens <= self.tower_max_tokens

    def runner(self, tower: bool) -> tuple[nn.Module, OnnxTrunk | None]:
        """(torch module, inference runtime or None) of the tower (only routed to when there is one) or of the full
        student."""
        if tower:
            assert self.query_student is not None
            return self.query_student, self.query_trunk
        return self.student, self.trunk

    def routed(self, kind: Kind, rows: Sequence[int], ids: Sequence[Sequence[int]]) -> list[tuple[bool, list[int]]]:
        """``rows`` (positions in ``ids``) cut into runs of the same route, in order: (tower?, rows)."""
        out: list[tuple[bool, list[int]]] = []
        for r in rows:
            tower = self.tower_takes(kind, len(ids[r]))
            if out and out[-1][0] == tower:
                out[-1][1].append(r)
            else:
                out.append((tower, [r]))
        return out

    def build_views(self, texts: Sequence[str], languages: Sequence[str | None] | None = None) -> list[TextViews]:
        langs = languages if languages is not None else [None] * len(texts)
        return [self.views.build(t, lang) for t, lang in zip(texts, langs, strict=True)]

    def embed_flat(self, flat: Sequence[str], kind: Kind, chunk: int) -> tuple[torch.Tensor, list[int]]:
        """Unit embeddings of ``flat`` (sorted by length into ``chunk``-sized passes) and their token counts."""
        ids = self.base.token_ids(flat, kind)
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        pooled = []
        for s in range(0, len(order), chunk):
            for tower, rows in self.routed(kind, order[s : s + chunk], ids):  # sorted: short (tower) rows first
                model, trunk = self.runner(tower)
                batch = self.base.collate([ids[i] for i in rows])
                if trunk is not None and not torch.is_grad_enabled():
                    pooled.append(trunk(batch, kind).to(self.base.device))
                    continue
                hidden = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"))
                pooled.append(mean_pool(hidden.last_hidden_state, batch.get("attention_mask")))
        flat_emb = torch.cat(pooled) if len(pooled) > 1 else pooled[0]
        if order != list(range(len(order))):  # back to the input order
            inverse = torch.empty(len(order), dtype=torch.long)
            inverse[torch.tensor(order)] = torch.arange(len(order))
            flat_emb = flat_emb[inverse.to(flat_emb.device)]
        flat_emb = nn.functional.normalize(flat_emb, dim=-1)
        return flat_emb, [len(x) for x in ids]

    def prune(self, views: Sequence[TextViews], kind: Kind, below: float) -> list[TextViews]:
        """Drop the views whose gate weight provably stays under ``below`` (``Composer.weight_bounds``), before
        paying for their encoder pass; the view with the highest bound is always kept."""
        flat = [t for tv in views for t in tv.texts]
        lengths = [len(x) for x in self.base.token_ids(flat, kind)]
        n_views = max(len(tv.texts) for tv in views)
        mask = torch.zeros(len(views), n_views, dtype=torch.bool)
        per_text, pos = [], 0
        for b, tv in enumerate(views):
            mask[b, : len(tv.texts)] = True
            per_text.append(lengths[pos : pos + len(tv.texts)])
            pos += len(tv.texts)
        static = static_features(views, per_text, n_views)
        bounds = self.composer.weight_bounds(static.to(self.composer.prior), mask.to(self.composer.prior.device)).cpu()
        out = []
        for b, tv in enumerate(views):
            keep = views_to_keep(bounds[b, : len(tv.texts)].tolist(), below)
            if len(keep) == len(tv.texts):
                out.append(tv)
            else:
                out.append(replace(tv, texts=tuple(tv.texts[v] for v in keep), types=tuple(tv.types[v] for v in keep)))
        return out

    def forward(self, views: Sequence[TextViews], kind: Kind, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
        """(unit embeddings (B, D), gate weights (B, V)) for pre-built views."""
        flat = [t for tv in views for t in tv.texts]
        flat_emb, lengths = self.embed_flat(flat, kind, chunk)
        n_views = max(len(tv.texts) for tv in views)
        gather = torch.full((len(views), n_views), len(flat), dtype=torch.long)
        per_text: list[list[int]] = []
        pos = 0
        for b, tv in enumerate(views):
            k = len(tv.texts)
            gather[b, :k] = torch.arange(pos, pos + k)
            per_text.append(lengths[pos : pos + k])
            pos += k
        device = flat_emb.device
        padded = torch.cat([flat_emb, flat_emb.new_zeros(1, flat_emb.shape[1])])
        gather = gather.to(device)
        stacked = padded[gather]
        mask = gather < len(flat)
        static = None
        if n_views > 1:  # a lone view per text needs no gate (Composer.forward)
            static = static_features(views, per_text, n_views).to(device=device, dtype=flat_emb.dtype)
        return self.composer(stacked, mask, static)


def build_core(base: BaseEncoder, cfg: ArcaModelConfig, lexicon: Iterable[tuple[str, str, str]]) -> ArcaCore:
    """Fresh (untrained) core over ``base``: LoRA B = 0 and A = I, so it starts as the base plus view mixing."""
    student = make_student(base.model, cfg.top_layers, cfg.rank, cfg.alpha, targets=cfg.targets)
    composer = Composer(base.dim, cfg.gate_hidden).to(base.device)
    return ArcaCore(base, student, composer, ViewBuilder(Glosser(lexicon), cfg.views))
