"""Arca's composer refit: a real tiny run over stage 1 (the shipped student); the student is kept byte for byte,
the composer is retrained and chosen on held-out data; and the shipped checkpoint's provenance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from core.settings import REPO_ROOT
from tests.model.helpers import config_in

TINY = REPO_ROOT / "model" / "training" / "configs" / "composer_tiny.yaml"
ARCA = REPO_ROOT / "model" / "bundle" / "arca.pt"
STAGE1 = REPO_ROOT / "model" / "training" / "checkpoints" / "arca_stage1.pt"


@pytest.fixture(scope="module")
def refit(tmp_path_factory) -> Path:
    from model.training.arca.refit import train_composer

    out = tmp_path_factory.mktemp("refit")
    train_composer(config_in(TINY, out))
    return out


def test_refit_keeps_the_student_and_retrains_the_composer(refit: Path) -> None:
    from model.arca.checkpoint import load_checkpoint, student_sha256

    before, source_sha = load_checkpoint(STAGE1)  # composer_tiny.yaml refits stage 1, as composer.yaml does
    after, _ = load_checkpoint(refit / "arca.pt")
    assert set(after["lora"]) == set(before["lora"])
    assert all(torch.equal(after["lora"][k], before["lora"][k]) for k in before["lora"])
    assert student_sha256(after) == student_sha256(before)
    assert after["lexicon"] == before["lexicon"] and after["config"] == before["config"]
    # the composer kept is the best on held-out data: stage 1's own gate when no step beat it, else a new one
    best_step = [h for h in json.loads((refit / "log.json").read_text())["history"] if h.get("best")][-1]["step"]
    same_gate = torch.equal(after["composer"]["gate.0.weight"], before["composer"]["gate.0.weight"])
    assert same_gate == (best_step == 0)
    # the shared adaptor stays stage 1's (adaptor_lr 0): English stays where stage 1 anchored it
    assert torch.equal(after["composer"]["adaptor.weight"], before["composer"]["adaptor.weight"])
    assert after["refit"]["from_sha256"] == source_sha


def test_shipped_arca_is_stage_1_without_its_gloss_view() -> None:
    """The served checkpoint is the committed stage 1 (trained on the real vocabulary with the preserve term) with
    the gloss view dropped (``model.training.arca.wise --views raw,norm,roman``, chosen on the dev sets: model card,
    "Generality"): same student and composer, its provenance names stage 1's file."""
    from model.arca.checkpoint import load_checkpoint

    shipped, _ = load_checkpoint(ARCA)
    stage1, stage1_sha = load_checkpoint(STAGE1)
    assert shipped["train"]["wise_from_sha256"] == stage1_sha and shipped["train"]["wise_scale"] == 1.0
    assert all(torch.equal(shipped["lora"][k], stage1["lora"][k]) for k in stage1["lora"])
    assert all(torch.equal(shipped["composer"][k], stage1["composer"][k]) for k in stage1["composer"])
    assert shipped["config"]["views"] == ["raw", "norm", "roman"] and "gloss" in stage1["config"]["views"]
    assert stage1["train"]["loss_weights"]["preserve"] > 0


def test_refit_keeps_the_best_held_out_composer(refit: Path) -> None:
    log = json.loads((refit / "log.json").read_text())
    history = log["history"]
    assert history[0]["step"] == 0 and "query/top1" in history[0]  # the start is measured on held-out queries
    scored = [(h["score"], h.get("sentence_margin", 0.0)) for h in history]
    best = [h for h in history if h.get("best")][-1]
    assert (best["score"], best.get("sentence_margin", 0.0)) == max(scored)
    assert "product/mrr" in history[0]
    assert (refit / "refit_curve.png").stat().st_size > 0
    losses = [h["total"] for h in history if "total" in h]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]  # the gate learns on its batches


def test_refitted_arca_keeps_the_student(refit: Path, base_encoder) -> None:
    """Same student → same per-view embeddings (a tower distilled from it still fits); a different gate →
    different vectors."""
    from model.arca.encoder import ArcaEncoder

    old = ArcaEncoder.from_checkpoint(base_encoder, STAGE1, None)
    new = ArcaEncoder.from_checkpoint(base_encoder, refit / "arca.pt", None)
    assert new.student_sha256 == old.student_sha256
    texts = ["điện thoại samsung giá rẻ", "লাল শাড়ি কটন"]
    with torch.inference_mode():
        flat = [t for tv in new.core.build_views(texts) for t in tv.texts]
        a, _ = old.core.embed_flat(flat, "passage", 8)
        b, _ = new.core.embed_flat(flat, "passage", 8)
    assert torch.allclose(a, b, atol=1e-6)
    va, vb = old.encode(texts, "passage"), new.encode(texts, "passage")
    assert np.allclose((va * va).sum(1), 1, atol=1e-5)
    best_step = [h for h in json.loads((refit / "log.json").read_text())["history"] if h.get("best")][-1]["step"]
    assert np.allclose(va, vb, atol=1e-4) == (best_step == 0)  # a kept new gate composes the views differently


def test_compare_bitext_counts_top1_and_margins() -> None:
    """Each language's lines are scored against the same English lines: top-1 and the right-minus-best-wrong margin."""
    from model.evaluation.compare import bitext

    en = np.eye(3, dtype=np.float32)
    good = np.array([[0.9, 0.1, 0.0], [0.0, 0.8, 0.3], [0.2, 0.0, 0.7]], dtype=np.float32)
    bad = good[[1, 0, 2]]  # the first two lines swapped: both wrong
    top1, margin = bitext(np.vstack([good, bad]), en, 3)
    assert top1 == pytest.approx((1.0 + 1 / 3) / 2)
    assert margin == pytest.approx(np.mean([0.8, 0.5, 0.5, -0.8, -0.8, 0.5]))
