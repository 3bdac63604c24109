"""``python -m model.training.arca.wise``: move a trained Arca part of the way
back to its base (WiSE-FT weight interpolation).

The student is base + (α/r)·B·A on the adapted layers, so scaling every LoRA ``B`` by λ gives the weights
base + λ·(trained − base): λ = 0 is the base's trunk, λ = 1 the trained one. Robust fine-tuning work (Wortsman et
al., 2022) finds that an intermediate λ keeps most of the in-domain gain and recovers what fine-tuning cost out of
domain. λ is chosen on held-out dev data (``python -m model.evaluation.ablation --variants base,lora×0.5,…`` over the
dev sets; model card, "Generality"), never on a reported test set. The composer (gate, prior, adaptor) is kept.
``--views`` also drops views from the served set (the gate re-normalises over those left), e.g. a view that the
dev sets show does not help.

    python -m model.training.arca.wise --checkpoint var/runs/arca_v2/arca_stage1.pt --scale 1 --views raw,norm,roman \
        --out model/bundle/arca.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from model.arca.checkpoint import load_checkpoint, save_checkpoint
from model.arca.views import VIEW_TYPES


def scale_lora(lora: dict[str, Any], scale: float) -> dict[str, Any]:
    """LoRA tensors with every ``lora_b`` scaled by ``scale`` (the update, not the frozen weights)."""
    return {k: v * scale if k.endswith("lora_b") else v for k, v in lora.items()}


def interpolate(payload: dict[str, Any], scale: float, source_sha256: str | None = None) -> dict[str, Any]:
    """A checkpoint payload whose student is ``scale`` of the way from the base to ``payload``'s; recorded in
    ``train["wise_scale"]`` (compounded when applied twice) with the source file's sha256 when given."""
    if not 0.0 <= scale <= 1.0:
        raise ValueError(f"the interpolation scale must be in [0, 1], got {scale}")
    train = dict(payload.get("train", {}))
    train["wise_scale"] = round(float(train.get("wise_scale", 1.0)) * scale, 6)
    if source_sha256:
        train["wise_from_sha256"] = source_sha256
    out = {k: v for k, v in payload.items() if k != "format"}
    return {**out, "lora": scale_lora(payload["lora"], scale), "train": train}


def with_views(payload: dict[str, Any], views: list[str]) -> dict[str, Any]:
    """The payload serving only ``views`` (a subset of the trained ones, raw always among them)."""
    trained = list(payload["config"].get("views", VIEW_TYPES))
    if "raw" not in views or not set(views) <= set(trained):
        raise ValueError(f"views must include raw and be among the trained ones {trained}, got {views}")
    return {**payload, "config": {**payload["config"], "views": [v for v in trained if v in views]}}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--checkpoint", type=Path, required=True, help="a trained Arca checkpoint")
    p.add_argument("--scale", type=float, required=True, help="λ in [0, 1]: 0 = the base's trunk, 1 = unchanged")
    p.add_argument("--views", help="comma-separated views to serve (default: the checkpoint's)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    payload, sha = load_checkpoint(args.checkpoint)
    out = interpolate(payload, args.scale, sha)
    if args.views:
        out = with_views(out, [v.strip() for v in args.views.split(",") if v.strip()])
    out_sha = save_checkpoint(out, args.out)
    print(f"{args.checkpoint} ({sha[:12]}) × {args.scale} → {args.out} ({out_sha[:12]})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
