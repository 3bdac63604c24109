"""Arca's query tower: the first L layers of Arca's student, distilled to give a query view the pooled state the
full 12 layers give it, so a search pays for L layers instead of 12.

Passages (the index) keep the full model; only queries take the tower, and the composer on top is Arca's own:
the tower replaces the trunk under it, view for view. It is trained by distillation (``distil``): the teacher is
the Arca student with its LoRA merged, the targets are its unit pooled vectors of query views (the texts the
composer is served), the loss is 1 − cosine plus an in-batch contrastive term (each student vector must also be
closer to its own target than to the batch's others, which keeps neighbouring queries apart).

This module needs only torch, numpy and transformers (no tokenizer files, romanisers or settings): the trainer runs
it on a GPU machine from a prepared bundle (``model.training.arca.tower_data``),
and serving loads its checkpoint over the base.
"""

from __future__ import annotations

import copy
import hashlib
import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from model.base_encoder import mean_pool

FORMAT = "arca-tower/1"


class TowerCheckpointError(RuntimeError):
    """The query-tower checkpoint is missing, unreadable, or was distilled from another Arca checkpoint."""


def make_tower(student: Any, layers: int) -> nn.Module:
    """A BertModel of the first ``layers`` layers of ``student``: private, trainable copies of those layers over
    the student's shared (frozen) embeddings."""
    n = len(student.encoder.layer)
    if not 0 < layers < n:
        raise ValueError(f"a query tower has 1..{n - 1} layers, not {layers}")
    memo: dict[int, object] = {id(student.embeddings): student.embeddings}
    memo.update({id(layer): layer for layer in student.encoder.layer[layers:]})  # not copied, then dropped
    tower = copy.deepcopy(student, memo)
    tower.encoder.layer = nn.ModuleList(tower.encoder.layer[:layers])
    tower.config.num_hidden_layers = layers
    tower.requires_grad_(False)
    tower.encoder.layer.requires_grad_(True)
    return tower


def pooled_unit(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """E5 mean pooling of ``model``'s last hidden states (``mean_pool``, as served), L2-normalised, fp32."""
    return nn.functional.normalize(mean_pool(model(input_ids=ids, attention_mask=mask).last_hidden_state, mask), dim=-1)


# ------------------------------------------------------------------------------------------ checkpoint


def tower_state(tower: nn.Module) -> dict[str, torch.Tensor]:
    """The tower's own layers: matrices as int8 per output row (symmetric, fp32 scale per row), vectors fp32.
    Half the bytes of fp16 and the same as what the int8 query graph runs anyway (``model.runtime``)."""
    out: dict[str, torch.Tensor] = {}
    for name, p in tower.encoder.layer.state_dict().items():
        p = p.detach().float().cpu()
        if p.ndim == 2:
            scale = p.abs().amax(dim=1).clamp_min(1e-12) / 127.0
            out[f"{name}.q"] = torch.round(p / scale[:, None]).to(torch.int8)
            out[f"{name}.scale"] = scale
        else:
            out[name] = p.clone()
    return out


def load_tower_state(tower: nn.Module, state: dict[str, torch.Tensor]) -> None:
    own = tower.encoder.layer.state_dict()
    restored: dict[str, torch.Tensor] = {}
    for name, p in own.items():
        if p.ndim == 2:
            restored[name] = state[f"{name}.q"].float() * state[f"{name}.scale"][:, None]
        else:
            restored[name] = state[name]
    tower.encoder.layer.load_state_dict({k: v.to(own[k].dtype) for k, v in restored.items()})


def rounded(tower: nn.Module) -> nn.Module:
    """A copy of ``tower`` holding exactly what its checkpoint stores (int8 rows dequantised)."""
    memo: dict[int, object] = {id(tower.embeddings): tower.embeddings}
    out = copy.deepcopy(tower, memo)
    load_tower_state(out, tower_state(tower))
    return out


def load_tower(student: nn.Module, path: Path, student_sha256: str) -> tuple[nn.Module, str]:
    """(tower over ``student``'s embeddings with the checkpoint's layers, sha256 of the file), eval mode, frozen.
    Refuses a tower distilled from another Arca student (``checkpoint.student_sha256``): its queries would not
    meet that index. The tower stands in for the student's view embeddings only, so an Arca checkpoint whose
    composer was refitted over the same student (``model.training.arca.refit``) keeps its tower."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise TowerCheckpointError(
            f"query tower {path} could not be read ({e}): distil it (python -m model.training tower) or serve the "
            "full query encoder with LIRA_QUERY_TOWER=full"
        ) from None
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as e:
        raise TowerCheckpointError(f"query tower {path} is corrupt or not a torch file ({type(e).__name__})") from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise TowerCheckpointError(f"query tower {path} is not a {FORMAT} checkpoint")
    if payload.get("student_sha256") != student_sha256:
        raise TowerCheckpointError(
            f"query tower {path} was distilled from Arca {payload['arca_sha256'][:8]} (student "
            f"{str(payload.get('student_sha256'))[:8]}), but the served Arca's student is {student_sha256[:8]}: "
            "distil it again (python -m model.training tower) or set LIRA_QUERY_TOWER=full"
        )
    tower = make_tower(student, int(payload["layers"]))
    try:
        load_tower_state(tower, payload["weights"])
    except (KeyError, RuntimeError) as e:
        raise TowerCheckpointError(f"query tower {path} does not fit this model: {e}") from e
    tower.requires_grad_(False)
    return tower.eval(), hashlib.sha256(data).hexdigest()
