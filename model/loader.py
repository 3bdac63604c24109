"""Pick the encoder the settings ask for: the trained Arca checkpoint by default, the base only on request;
on CPU its transformer trunk runs on ONNX Runtime (``LIRA_RUNTIME``, see model/runtime.py)."""

from __future__ import annotations

import torch

from core.settings import Settings
from model.encoder import Encoder


class ModelLoadError(RuntimeError):
    """The configured model cannot be loaded; the message names the file and what to do."""


def load_errors() -> tuple[type[BaseException], ...]:
    """What ``load_encoder`` raises for a missing, damaged or foreign model: the CLIs report these in one line."""
    from model.arca.checkpoint import ArcaCheckpointError

    return ModelLoadError, ArcaCheckpointError


def check_bundle(settings: Settings) -> None:
    """Where the settings take their encoder or head from the model bundle, the bundle is checked first (sha256s,
    heads trained on its encoder): ``ModelLoadError`` names what is wrong."""
    from model.bundle import BundleError, load_bundle

    root = settings.model_bundle.resolve()
    used = [p for p in (settings.arca_checkpoint, settings.lasr_checkpoint) if p.resolve().parent == root]
    if used and (root / "manifest.json").is_file():
        try:
            load_bundle(root)
        except BundleError as e:
            raise ModelLoadError(str(e)) from e


def load_encoder(settings: Settings) -> Encoder:
    from model.base_encoder import BaseEncoder
    from model.runtime import OnnxTrunk, resolve_runtime

    base = BaseEncoder.from_settings(settings)
    onnx = resolve_runtime(settings.runtime, base.device) == "onnx"
    if onnx:
        # the trunk runs in ONNX Runtime's own pool; what torch still runs (the composer, LaSR's head) is a few
        # small matrices per request, faster on one thread than woken across a pool that competes with ORT's
        torch.set_num_threads(1)
    if settings.model == "base":
        if onnx:
            base.trunk = OnnxTrunk.for_model(
                base.model, base.fingerprint, settings.model_cache_dir, settings.threads, settings.query_precision
            )
        return base
    check_bundle(settings)
    if not settings.arca_checkpoint.is_file():
        raise ModelLoadError(
            f"Arca checkpoint {settings.arca_checkpoint} not found: restore it from the repository, train it "
            "(python -m model.training arca, then composer), point LIRA_ARCA_CHECKPOINT at it, "
            "or serve the untrained base with LIRA_MODEL=base"
        )
    from model.arca.encoder import ArcaEncoder
    from model.arca.tower import TowerCheckpointError

    try:
        arca = ArcaEncoder.from_checkpoint(base, settings.arca_checkpoint, settings)
    except TowerCheckpointError as e:
        raise ModelLoadError(str(e)) from e
    if settings.passage_encoder == "base":
        # passages run the base's own fp32 graph, made when the first passage is encoded (the API encodes queries)
        arca.use_base_passages(
            (
                lambda: OnnxTrunk.for_model(
                    base.model, base.fingerprint, settings.model_cache_dir, settings.threads, "fp32"
                )
            )
            if onnx
            else None
        )
    if onnx:
        arca.core.trunk = OnnxTrunk.for_model(
            arca.core.student, arca.fingerprint, settings.model_cache_dir, settings.threads, settings.query_precision
        )
        if arca.tower_sha256 is not None:  # queries run the distilled tower's own graph
            assert arca.core.query_student is not None
            arca.core.query_trunk = OnnxTrunk.for_model(
                arca.core.query_student,
                f"{arca.fingerprint}-tower-{arca.tower_sha256[:12]}",
                settings.model_cache_dir,
                settings.threads,
                settings.query_precision,
                queries_only=True,
            )
    return arca
