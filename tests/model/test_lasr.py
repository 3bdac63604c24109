"""LaSR: features, losses (incl. NaN-free gradients with padding), the untrained head ranks like the dense
retriever, a tiny training run end to end, and the reranker refuses a checkpoint of another encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from model.lasr.candidates import CandidateList
from model.lasr.features import SCALARS, Batch, scalar_features
from model.lasr.head import LaSR
from model.lasr.reranker import Reranker, RerankerLoadError
from model.training.lasr.losses import consistency, hinge, listnet
from tests.conftest import write_catalogue_subset


def _list(n: int = 6, seed: int = 0, lexical_every: int = 2) -> CandidateList:
    rng = np.random.default_rng(seed)
    q = rng.normal(size=384).astype(np.float32)
    q /= np.linalg.norm(q)
    docs = rng.normal(size=(n, 384)).astype(np.float32)
    docs /= np.linalg.norm(docs, axis=1, keepdims=True)
    dense = docs @ q
    lexical = np.array([float(n - i) if i % lexical_every == 0 else np.nan for i in range(n)], np.float32)
    return CandidateList(
        q,
        [f"p{i}" for i in range(n)],
        docs,
        [("vi", "en")[i % 2] for i in range(n)],
        dense,
        lexical,
        np.linspace(0.03, 0.01, n, dtype=np.float32),
    )


def test_scalar_features() -> None:
    c = _list()
    f = scalar_features(c)
    assert f.shape == (6, len(SCALARS))
    np.testing.assert_allclose(f[:, 0], c.dense)
    best_dense = int(np.argmax(c.dense))
    assert f[best_dense, SCALARS.index("dense_rank")] == 1.0
    assert f[0, SCALARS.index("lexical_rank")] == 1.0 and f[0, SCALARS.index("lexical_rel")] == 1.0
    assert f[1, SCALARS.index("has_lexical")] == 0 and f[1, SCALARS.index("lexical_rank")] == 0


def test_untrained_head_ranks_like_the_dense_retriever() -> None:
    c = _list(n=8, seed=3)
    scores = LaSR()(Batch.collate([c], ["vi"]))[0].detach().numpy()
    assert list(np.argsort(-scores)) == list(np.argsort(-c.dense))


def test_losses_point_the_right_way() -> None:
    gains = torch.tensor([[3.0, 0.0, 1.0, 0.0]])
    good, bad = torch.tensor([[5.0, 0.0, 2.0, -1.0]]), torch.tensor([[-1.0, 5.0, 0.0, 2.0]])
    assert listnet(good, gains) < listnet(bad, gains)
    assert hinge(torch.tensor([2.0]), torch.tensor([[0.0, -5.0]]), margin=1.0) == 0
    assert hinge(torch.tensor([0.0]), torch.tensor([[1.0, float("-inf")]]), margin=1.0) == pytest.approx(2.0)
    mask = torch.tensor([[True, True, False]])
    a = torch.tensor([[1.0, 2.0, 0.0]])
    assert consistency(a, a.clone(), mask, 1.0) == pytest.approx(0.0, abs=1e-7)
    assert consistency(a, torch.tensor([[2.0, 1.0, 9.0]]), mask, 1.0) > 0


def test_gradients_stay_finite_with_padded_lists() -> None:
    """Padded slots are −inf scores: a careless KL or log-softmax turns them into NaN gradients."""
    model = LaSR()
    lists = [_list(n=6, seed=1), _list(n=3, seed=2)]
    b = Batch.collate(lists, ["vi", None], n=6)
    scores = model(b)
    gains = torch.tensor([[3.0, 0, 0, 1, 0, 0], [0, 7.0, 0, 0, 0, 0]])
    mask = b.mask & torch.tensor([[True] * 6, [True, True, True, False, False, False]])
    loss = listnet(scores, gains) + consistency(
        scores.masked_fill(~mask, 0), scores.detach().masked_fill(~mask, 0) * 0.5, mask, 1.0
    )
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


@pytest.fixture(scope="module")
def tiny_lasr(tmp_path_factory, base_encoder) -> tuple[Path, dict]:
    from model.training.lasr.trainer import train_lasr

    root = tmp_path_factory.mktemp("lasr")
    catalogue = write_catalogue_subset(root / "catalogue", per_language=25, queries_per_language=12)
    config = yaml.safe_load(Path("model/training/configs/lasr.yaml").read_text())
    config.update(
        catalogue=str(catalogue), output=str(root / "lasr.pt"), run_dir=str(root / "run"), cache_dir=str(root / "cache")
    )
    config["optim"].update(epochs=3, batch_size=16)
    # pseudo-queries from the tiny catalogue itself (the shipped config reads the wordnet training catalogue)
    config["pseudo"] = {"catalogues": [str(catalogue)], "per_language": 6, "per_listing": 2, "noisy": 0.4}
    path = root / "lasr_tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    summary = train_lasr(path, encoder=base_encoder, progress=False)
    return root, summary


def test_tiny_training_run(tiny_lasr, base_encoder) -> None:
    root, summary = tiny_lasr
    assert (root / "lasr.pt").stat().st_size < 2e6
    assert (root / "run" / "lasr_curve.png").stat().st_size > 0
    assert summary["train_queries"] > 0 and summary["dev_queries"] > 0
    assert 0 < summary["pseudo_queries"][str(root / "catalogue" / "products.jsonl")] <= 7 * 6 * 2
    # the dev split picks the epoch, and an untrained head is one of the candidates: never worse than that
    assert summary["dev_ndcg@10"] >= summary["dev_untrained_ndcg@10"]
    reranker = Reranker.load(root / "lasr.pt", base_encoder.fingerprint)
    order, scores = reranker.rerank(_list(n=6), "vi")
    assert sorted(order.tolist()) == list(range(6)) and np.isfinite(scores).all()


def test_reranker_refuses_missing_damaged_or_foreign_checkpoints(tiny_lasr, base_encoder, tmp_path) -> None:
    root, _ = tiny_lasr
    with pytest.raises(RerankerLoadError, match="not found"):
        Reranker.load(tmp_path / "nope.pt", base_encoder.fingerprint)
    damaged = tmp_path / "damaged.pt"
    damaged.write_bytes(b"garbage")
    with pytest.raises(RerankerLoadError, match="does not load"):
        Reranker.load(damaged, base_encoder.fingerprint)
    with pytest.raises(RerankerLoadError, match="trained on encoder"):
        Reranker.load(root / "lasr.pt", "0123456789ab")


def test_config_rejects_unknown_keys(tmp_path) -> None:
    from model.training.lasr.trainer import LaSRTrainConfig

    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: {epochs: 1, learning_rate: 3}\n")
    with pytest.raises(ValueError, match="learning_rate"):
        LaSRTrainConfig.from_yaml(bad)


def test_onnx_head_scores_like_torch(tmp_path) -> None:
    """The shipped head (one self-attention layer) on ONNX Runtime, lists padded to its N, against torch."""
    import torch

    from core.settings import REPO_ROOT

    path = REPO_ROOT / "model" / "bundle" / "lasr.pt"
    fingerprint = torch.load(path, map_location="cpu", weights_only=True)["encoder_fingerprint"]
    on_torch = Reranker.load(path, fingerprint)
    on_onnx = Reranker.load(path, fingerprint)
    on_onnx.use_onnx(tmp_path)
    assert on_torch.model.cfg.context_layers >= 1 and list((tmp_path / "onnx").glob("lasr-*.onnx"))
    for n, language in ((on_onnx.candidates, "vi"), (37, None), (1, "ur"), (on_onnx.candidates + 10, "th")):
        c = _list(n=n, seed=n)
        np.testing.assert_allclose(on_onnx.score(c, language), on_torch.score(c, language), atol=1e-4)
        assert np.array_equal(on_onnx.rerank(c, language)[0], on_torch.rerank(c, language)[0])
    again = Reranker.load(path, fingerprint)
    again.use_onnx(tmp_path)  # the cached export is reused
    assert len(list((tmp_path / "onnx").glob("lasr-*.onnx"))) == 1
