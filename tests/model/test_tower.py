"""Arca's distilled query tower: the bundle rebuilds the real teacher, distillation moves the tower towards it,
the checkpoint round-trips and is refused for another Arca, and serving uses it for queries only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from core.settings import REPO_ROOT, Settings

TINY = REPO_ROOT / "model" / "training" / "configs" / "tower_tiny.yaml"
ARCA = REPO_ROOT / "model" / "bundle" / "arca.pt"
QUERIES = [
    "giày thể thao nữ",
    "รองเท้าวิ่ง Nike สีดำ",
    "sepatu lari pria",
    "jute kale mardana",
    "iPhone 15 case",
    "a long pasted product description, well over twenty tokens, which the tower leaves to the full model",
]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, dict]:
    """The tiny config end to end (bundle + distillation on CPU), into a temporary directory."""
    from model.training.arca.tower_data import train_tower

    out = tmp_path_factory.mktemp("tower")
    summary = train_tower(TINY, output=out / "tower.pt", run_dir=out / "run", bundle=out / "bundle")
    return out, summary


@pytest.mark.slow  # the distilled tower is opt-in and none ships: CI runs its training tests
def test_bundle_rebuilds_the_served_student(tiny_run, base_encoder) -> None:
    """The GPU side's teacher (base from Q4 bytes over a cut vocabulary + Arca's merged LoRA) gives the vectors
    the full-vocabulary student gives for the same texts: the distillation targets are the served model's."""
    from model.arca.checkpoint import load_checkpoint
    from model.arca.lora import merged_student
    from model.training.arca.distil import unit_vectors
    from model.training.arca.tower_data import load_bundle

    out, _ = tiny_run
    bundle = load_bundle(out / "bundle", max_tokens=128)
    payload, _ = load_checkpoint(ARCA)
    students = [
        merged_student(model, payload["config"], payload["lora"]) for model in (bundle.base, base_encoder.model)
    ]
    rows = list(range(min(64, len(bundle.dev))))
    cut = unit_vectors(students[0], bundle.dev, torch.device("cpu"))[rows]
    vocab = np.load(out / "bundle" / "arrays.npz")["vocab"]
    full_ids = [vocab[bundle.dev.ids[bundle.dev.offsets[r] : bundle.dev.offsets[r + 1]]].tolist() for r in rows]
    batch = base_encoder.collate(full_ids)
    with torch.inference_mode():
        from model.arca.tower import pooled_unit

        full = pooled_unit(
            students[1], batch["input_ids"], batch.get("attention_mask", torch.ones_like(batch["input_ids"]))
        )
    assert (cut * full).sum(-1).min().item() > 0.9999


@pytest.mark.slow
def test_tiny_distillation_moves_the_tower_towards_arca(tiny_run) -> None:
    out, summary = tiny_run
    history = summary["history"]
    assert history[0]["step"] == 0 and history[-1]["step"] > 0
    assert max(h["dev_cos"] for h in history) > history[0]["dev_cos"] + 0.3  # a 2-layer tower starts far off
    assert summary["dev_cos_stored"] > summary["dev_cos_trained"] - 0.005  # int8 rows cost next to nothing
    assert (out / "run" / "curve.png").stat().st_size > 0
    assert (out / "tower.pt").stat().st_size < 8 * 2**20


def test_tower_state_round_trips(base_encoder) -> None:
    from model.arca.tower import load_tower_state, make_tower, rounded, tower_state

    tower = make_tower(base_encoder.model, 2)
    assert len(tower.encoder.layer) == 2 and tower.embeddings is base_encoder.model.embeddings
    assert tower.encoder.layer[0] is not base_encoder.model.encoder.layer[0]  # a private copy
    assert len(base_encoder.model.encoder.layer) == 12  # the base keeps its layers
    state = tower_state(tower)
    assert state["0.attention.self.query.weight.q"].dtype == torch.int8
    copy = make_tower(base_encoder.model, 2)
    with torch.no_grad():
        copy.encoder.layer[0].attention.self.query.weight.zero_()
    load_tower_state(copy, state)
    w, got = tower.encoder.layer[0].attention.self.query.weight, copy.encoder.layer[0].attention.self.query.weight
    assert (w - got).abs().max() <= w.abs().max() / 254 + 1e-7
    assert torch.equal(rounded(tower).encoder.layer[1].output.dense.weight, copy.encoder.layer[1].output.dense.weight)


def test_tower_of_another_arca_is_refused(tiny_run, base_encoder) -> None:
    from model.arca.tower import TowerCheckpointError, load_tower

    out, _ = tiny_run
    with pytest.raises(TowerCheckpointError, match="distilled from Arca"):
        load_tower(base_encoder.model, out / "tower.pt", "f" * 64)
    with pytest.raises(TowerCheckpointError, match="LIRA_QUERY_TOWER=full"):
        load_tower(base_encoder.model, out / "missing.pt", "f" * 64)


@pytest.mark.slow
def test_served_tower_encodes_queries_only(tiny_run, tmp_path) -> None:
    """With LIRA_QUERY_TOWER=distilled queries take the tower (ONNX Runtime and torch agree), passages do not."""
    from model.loader import load_encoder

    out, _ = tiny_run
    common = {
        "_env_file": None,
        "model_cache_dir": Settings(_env_file=None).model_cache_dir,
        "query_view_bound": 0.0,
        "query_precision": "fp32",
    }
    full = load_encoder(Settings(**common, runtime="onnx", query_tower="full"))
    tower_onnx = load_encoder(
        Settings(**common, runtime="onnx", query_tower="distilled", query_tower_checkpoint=out / "tower.pt")
    )
    tower_torch = load_encoder(
        Settings(**common, runtime="torch", query_tower="distilled", query_tower_checkpoint=out / "tower.pt")
    )
    assert "2-layer tower" in tower_onnx.model_id and tower_onnx.fingerprint == full.fingerprint  # same index
    assert "tower=" in tower_onnx.query_signature and "<=20" in tower_onnx.query_signature
    assert "tower=" not in full.query_signature
    q_full, q_onnx, q_torch = (e.encode(QUERIES, kind="query") for e in (full, tower_onnx, tower_torch))
    assert (q_onnx * q_torch).sum(1).min() > 0.9999
    short, long = slice(0, -1), -1  # every view of the last query is over query_tower_max_tokens (20)
    assert (q_onnx[short] * q_full[short]).sum(1).max() < 0.9999  # a 2-layer tiny tower is not the full model
    assert float(q_onnx[long] @ q_full[long]) > 0.99999 and float(q_torch[long] @ q_full[long]) > 0.99999
    alone = tower_onnx.encode(QUERIES[-1:], kind="query")[0]
    assert float(alone @ q_onnx[long]) > 0.99999  # routed the same alone or in a batch
    for path in (tower_onnx.core.query_trunk.path, tower_onnx.core.query_trunk.query_path):  # ~400 MB each, and a
        if path is not None:  # retrained tiny tower has new bytes: do not leave them in the shared model cache
            path.unlink(missing_ok=True)
    p_full, p_tower = (e.encode(QUERIES, kind="passage") for e in (full, tower_onnx))
    assert np.array_equal(p_full, p_tower)


def test_missing_tower_is_a_clear_load_error(tmp_path) -> None:
    from model.loader import ModelLoadError, load_encoder

    settings = Settings(
        _env_file=None, query_tower="distilled", query_tower_checkpoint=tmp_path / "none.pt", runtime="torch"
    )
    with pytest.raises(ModelLoadError, match="LIRA_QUERY_TOWER=full"):
        load_encoder(settings)


def test_lasr_head_follows_the_query_path(monkeypatch) -> None:
    """Each query path gets the LaSR head trained on its vectors, unless a head is named."""
    for var in ("LIRA_QUERY_TOWER", "LIRA_LASR_CHECKPOINT"):
        monkeypatch.delenv(var, raising=False)
    assert Settings(_env_file=None).query_tower == "full"  # the tower is opt-in (model card, "Generality")
    assert Settings(_env_file=None).lasr_checkpoint.name == "lasr.pt"
    assert Settings(_env_file=None, query_tower="distilled").lasr_checkpoint.name == "lasr_distilled.pt"
    assert Settings(_env_file=None, query_tower="full", lasr_checkpoint="mine.pt").lasr_checkpoint == Path("mine.pt")
    monkeypatch.setenv("LIRA_QUERY_TOWER", "distilled")
    assert Settings(_env_file=None).lasr_checkpoint.name == "lasr_distilled.pt"
    assert (REPO_ROOT / "model" / "bundle" / "lasr.pt").is_file()  # the default head ships
