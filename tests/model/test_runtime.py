"""ONNX Runtime trunk: same vectors as torch (base and Arca), cached export reused, a damaged cache rebuilt."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from model.runtime import OnnxTrunk, OnnxUnavailable, resolve_runtime

TEXTS = [
    "giày thể thao nữ size 38",
    "รองเท้าวิ่ง Nike สีดำ",
    "sepatu lari pria",
    "kasut sukan wanita",
    "sapatos na pang-takbo",
    "جوتے مردانہ کالے",
    "জুতা ছেলেদের কালো",
    "iPhone 15 case",
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


def test_served_queries_are_the_pipeline_vectors(arca_for_runtime, onnx_cache) -> None:
    """Queries on ONNX Runtime take the numpy path (views tokenised once, ``FrozenComposer``): the same vectors as
    ``ArcaCore.prune`` + ``ArcaCore.forward`` over the same trunk, pruned or not, one query or a batch (int8
    activations are quantised per run, so the grouping of rows must be the same too)."""
    import numpy as np

    from model.arca.encoder import ArcaEncoder

    arca = arca_for_runtime
    arca.core.trunk = OnnxTrunk.for_model(arca.core.student, arca.fingerprint, onnx_cache, query_precision="int8")
    try:
        for bound in (0.0, 0.3):
            served = ArcaEncoder(arca.core, "0" * 64, batch_size=4, query_view_bound=bound)
            with torch.inference_mode():
                views = arca.core.build_views(TEXTS)
                if bound:
                    views = arca.core.prune(views, "query", bound)
                assert bound == 0 or sum(len(v.texts) for v in views) < sum(
                    len(v.texts) for v in arca.core.build_views(TEXTS)
                )  # the bound really drops views here
            batch = served.encode(TEXTS, kind="query")
            for text in TEXTS:
                with torch.inference_mode():
                    one_views = arca.core.build_views([text])
                    if bound:
                        one_views = arca.core.prune(one_views, "query", bound)
                    ref, _ = arca.core(one_views, "query")
                assert np.abs(served.encode([text], kind="query")[0] - ref[0].numpy()).max() < 1e-5
            order = sorted(range(len(TEXTS)), key=lambda i: len(TEXTS[i]))  # encode()'s own grouping
            for start in range(0, len(order), 4):
                idx = order[start : start + 4]
                with torch.inference_mode():
                    group = arca.core.build_views([TEXTS[i] for i in idx])
                    if bound:
                        group = arca.core.prune(group, "query", bound)
                    ref, _ = arca.core(group, "query", chunk=4)
                assert np.abs(batch[idx] - ref.numpy()).max() < 1e-5
    finally:
        arca.core.trunk = None


@pytest.fixture(scope="module")
def arca_for_runtime(base_encoder):
    """An Arca encoder with non-trivial (random) LoRA and gate weights, so a merge/export slip would show."""
    from model.arca.encoder import ArcaEncoder
    from model.arca.lora import lora_modules, merge_lora
    from model.arca.pipeline import ArcaModelConfig, build_core
    from model.training.arca.data import lexicon_entries

    torch.manual_seed(0)
    core = build_core(base_encoder, ArcaModelConfig(), lexicon_entries())
    with torch.no_grad():
        for m in lora_modules(core.student).values():
            m.lora_b.normal_(std=0.02)
        for layer in (core.composer.gate[0], core.composer.gate[-1]):
            layer.weight.normal_(std=1.0)
        core.composer.prior.normal_()
        core.composer.adaptor.weight.add_(0.05 * torch.randn(384, 384))
    merge_lora(core.student)
    return ArcaEncoder(core, "0" * 64, batch_size=16)


def test_resolve_runtime() -> None:
    cpu = torch.device("cpu")
    assert resolve_runtime("torch", cpu) == "torch"
    assert resolve_runtime("auto", cpu) == "onnx"
    assert resolve_runtime("auto", torch.device("cuda")) == "torch"
    with pytest.raises(OnnxUnavailable, match="CPU only"):
        resolve_runtime("onnx", torch.device("cuda"))


def test_int8_query_graph(base_encoder, onnx_cache) -> None:
    """Queries may run an int8 graph (every projection but the first layer's); passages never do."""
    import onnx

    from model.runtime import projection_nodes

    fp32 = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache)
    int8 = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache, query_precision="int8")
    assert fp32.query_precision == "fp32" and int8.query_precision == "int8"
    assert int8.query_path is not None and int8.query_path.parent == fp32.path.parent

    projections = projection_nodes(fp32.path)
    assert len(projections) == 12 * 6  # q, k, v, attention out, FFN in, FFN out per layer
    graph = onnx.load(str(int8.query_path), load_external_data=False).graph
    float_matmuls = {n.name for n in graph.node if n.op_type == "MatMul"}
    assert {n for n in projections if "/layer.0/" in n} <= float_matmuls  # the first layer stays fp32
    assert not {n for n in projections if "/layer.0/" not in n} & float_matmuls  # the others are quantised
    assert sum(n.op_type in ("MatMulInteger", "DynamicQuantizeMatMul") for n in graph.node) == 11 * 6

    batch = base_encoder.tokenize(TEXTS, "query")
    q8, q32 = int8(batch, "query"), fp32(batch, "query")
    cos = torch.nn.functional.cosine_similarity(q8, q32, dim=-1)
    assert 0.98 < cos.min() < 0.99999, cos  # close, and really a different graph
    assert torch.equal(int8(batch, "passage"), fp32(batch, "passage"))  # passages: the fp32 graph, bit for bit

    base_encoder.trunk = int8
    try:
        assert base_encoder.query_signature == "int8"  # query caches keep the precisions apart
    finally:
        base_encoder.trunk = None
    assert base_encoder.query_signature == ""

    stamp = int8.query_path.stat().st_mtime_ns
    again = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache, query_precision="int8")
    assert again.query_path.stat().st_mtime_ns == stamp  # reused, not quantised again
    int8.query_path.write_bytes(b"damaged")
    rebuilt = OnnxTrunk.for_model(base_encoder.model, base_encoder.fingerprint, onnx_cache, query_precision="int8")
    assert torch.allclose(rebuilt(batch, "query"), q8, atol=1e-5)  # rebuilt, the same graph again

    # a query tower's trunk keeps no fp32 session (its ~380 MB embedding table once, not twice)
    lean = OnnxTrunk.for_model(
        base_encoder.model, base_encoder.fingerprint, onnx_cache, query_precision="int8", queries_only=True
    )
    assert lean.session is lean.query_session and lean.query_precision == "int8"
    assert torch.allclose(lean(batch, "query"), q8, atol=1e-5)
