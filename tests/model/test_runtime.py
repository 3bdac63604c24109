"""ONNX Runtime trunk: same vectors as torch (base and Arca), cached export reused, a damaged cache rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.runtime import OnnxTrunk, OnnxUnavailable, resolve_runtime

TEXTS = [
    "giày thể thao nữ size 38", "รองเท้าวิ่ง Nike สีดำ", "sepatu lari pria", "kasut sukan wanita",
    "sapatos na pang-takbo", "جوتے مردانہ کالے", "জুতা ছেলেদের কালো", "iPhone 15 case",
    "a considerably longer product description that pads the batch so that masks matter " * 3,
]


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def test_onnx_base_matches_torch_on_padded_batches(base_encoder, onnx_cache) -> None:
    trunk = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache)
    for kind in ("query", "passage"):
        ref = base_encoder.encode(TEXTS, kind=kind)
        base_encoder.trunk = trunk
        try:
            got = base_encoder.encode(TEXTS, kind=kind)
            one = base_encoder.encode(TEXTS[:1], kind=kind)  # unpadded single text, no mask
        finally:
            base_encoder.trunk = None
        cos = (ref * got).sum(axis=1)
        assert cos.min() > 0.99999, cos
        assert float(one[0] @ ref[0]) > 0.99999


def test_export_is_cached_and_a_damaged_file_is_rebuilt(base_encoder, onnx_cache) -> None:
    first = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache)
    stamp = first.path.stat().st_mtime_ns
    again = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache)
    assert again.path == first.path and again.path.stat().st_mtime_ns == stamp  # reused, not re-exported
    assert not list(first.path.parent.glob("*.tmp"))
    first.path.write_bytes(b"not an onnx graph")
    rebuilt = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache)
    batch = base_encoder.tokenize(TEXTS[:2], "query")
    assert rebuilt(batch).shape == (2, 384)


def test_onnx_arca_matches_torch(arca_for_runtime, onnx_cache) -> None:
    arca = arca_for_runtime
    ref = arca.encode(TEXTS, kind="query")
    arca.core.trunk = OnnxTrunk.for_model(arca.core.student, arca.fingerprint, onnx_cache)
    try:
        got = arca.encode(TEXTS, kind="query")
    finally:
        arca.core.trunk = None
    assert (ref * got).sum(axis=1).min() > 0.99999


@pytest.fixture(scope="module")
def arca_for_runtime(base_encoder):
    """An Arca encoder with non-trivial (random) LoRA and gate weights, so a merge/export slip would show."""
    from model.arca.data import lexicon_entries
    from model.arca.encoder import ArcaEncoder
    from model.arca.lora import lora_modules, merge_lora
    from model.arca.pipeline import ArcaModelConfig, build_core

    torch.manual_seed(0)
    core = build_core(base_encoder, ArcaModelConfig(), lexicon_entries())
    with torch.no_grad():
        for m in lora_modules(core.student).values():
            m.lora_b.normal_(std=0.02)
    merge_lora(core.student)
    return ArcaEncoder(core, "0" * 64, batch_size=16)


def test_resolve_runtime() -> None:
    cpu = torch.device("cpu")
    assert resolve_runtime("torch", cpu) == "torch"
    assert resolve_runtime("auto", cpu) == "onnx"
    assert resolve_runtime("auto", torch.device("cuda")) == "torch"
    with pytest.raises(OnnxUnavailable, match="CPU only"):
        resolve_runtime("onnx", torch.device("cuda"))
