"""Arca: views, composer, LoRA, data guards, a tiny real training run and the served encoder."""

from __future__ import annotations

import os
import unicodedata
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from core.settings import REPO_ROOT
from core.text import fold, guess_language
from model.arca.checkpoint import ArcaCheckpointError, load_checkpoint
from model.arca.composer import Composer, static_features
from model.arca.views import VIEW_TYPES, Glosser, ViewBuilder
from model.training.arca.data import (
    ForbiddenDataError,
    corpus_dir,
    read_parallel,
    read_train_queries,
    train_queries_path,
)
from tests.model.helpers import config_in

TINY_CONFIG = REPO_ROOT / "model" / "training" / "configs" / "arca_tiny.yaml"
LEXICON = [  # hand-written so the expectations do not move with the catalogue lexicon
    ("vi", "giày thể thao", "sports shoes"),
    ("vi", "giay the thao", "sports shoes"),
    ("vi", "khóa", "padlock"),
    ("vi", "in", "inch"),
    ("id", "sepatu olahraga", "sports shoes"),
    ("id", "celana panjang", "trousers"),
    ("th", "รองเท้า", "shoes"),
    ("ur", "جوتے", "shoes"),
    ("en", "phone case", "phone case"),
]


def _kinds(views) -> list[str]:
    return [VIEW_TYPES[t] for t in views.types]


def _is_latin(text: str) -> bool:
    return all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") for ch in text)


# ------------------------------------------------------------------------------------------- views


def test_fold_strips_latin_diacritics_only() -> None:
    assert fold("Giày Thể Thao ĐẸP  Nữ") == "giay the thao dep nu"
    assert fold("Ñandú naïve") == "nandu naive"
    for native in ("รองเท้าสีดำ", "জুতা কালো", "جوتے"):  # vowel signs of other scripts are letters, not accents
        assert fold(native) == native


def test_language_guess_from_script() -> None:
    assert guess_language("รองเท้า") == "th"
    assert guess_language("جوتے") == "ur"
    assert guess_language("জুতা") == "bn"
    assert guess_language("điện thoại") == "vi"
    assert guess_language("sepatu") is None  # Latin without tell-tale letters: unknown


@pytest.mark.parametrize("text", ["รองเท้ากีฬาสีดำ", "کالے جوتے", "লাল শাড়ি"])
def test_romanised_view_for_non_latin_scripts(text: str) -> None:
    views = ViewBuilder(None).build(text)
    assert "roman" in _kinds(views)
    roman = views.texts[_kinds(views).index("roman")]
    assert roman.strip() and _is_latin(roman), roman


def test_gloss_maps_plain_vietnamese_and_typos_to_english() -> None:
    builder = ViewBuilder(Glosser(LEXICON))
    views = builder.build("giay the thao nike")
    assert views.texts[_kinds(views).index("gloss")] == "sports shoes nike"
    assert views.coverage == pytest.approx(len("giaythethao") / len("giaythethaonike"))
    typo = builder.build("sepatu olahrgaa")  # one slip in a 9-letter word
    assert typo.texts[_kinds(typo).index("gloss")] == "sports shoes"
    assert "gloss" in _kinds(builder.build("รองเท้าสีดำ"))  # Thai: longest-substring match without spaces


def test_gloss_with_the_real_lexicon() -> None:
    from data.lexicon import term_pairs
    from model.training.arca.data import lexicon_entries

    english = dict(term_pairs("vi"))["giay the thao"]
    views = ViewBuilder(Glosser(lexicon_entries())).build("giay the thao")
    assert views.texts[_kinds(views).index("gloss")] == english


def test_gloss_is_precise() -> None:
    glosser = Glosser(LEXICON)
    assert glosser.gloss("phone case in black") is None  # "in" is English here, not vi_plain "inch"
    assert glosser.gloss("nhà khoa học") is None  # typed with diacritics: "khoa" is not "khóa"
    assert glosser.gloss("khóa cửa").text == "padlock cửa"


def test_views_are_deduplicated() -> None:
    builder = ViewBuilder(Glosser(LEXICON))
    assert builder.build("running shoes").texts == ("running shoes",)  # clean English: one encoder pass
    assert _kinds(builder.build("Running Shoes")) == ["raw", "norm"]
    assert len(set(builder.build("Giày Thể Thao").texts)) == len(builder.build("Giày Thể Thao").texts)


# ------------------------------------------------------------------------------------------- composer


MIXED_TEXTS = ("Running Shoes", "Giày Thể Thao Nữ", "รองเท้าสีดำ", "জুতা কালো", "ao thun")


def _composer_inputs(texts, lengths) -> tuple[list, torch.Tensor, torch.Tensor]:
    """(views of ``texts``, their (B, V) presence mask, static features); ``lengths(k)``: token counts of k views."""
    builder = ViewBuilder(Glosser(LEXICON))
    views = [builder.build(t) for t in texts]
    n_views = max(len(v.texts) for v in views)
    mask = torch.tensor([[i < len(v.texts) for i in range(n_views)] for v in views])
    return views, mask, static_features(views, [lengths(len(v.texts)) for v in views], n_views)


def _sharp_composer() -> Composer:
    """A composer with a sharp, non-monotone gate and a strong view prior."""
    composer = Composer()
    for layer in (composer.gate[0], composer.gate[-1]):
        torch.nn.init.normal_(layer.weight, std=2.0)
    torch.nn.init.normal_(composer.prior, std=2.0)
    return composer


def test_composer_output_is_unit_and_gate_sums_to_one() -> None:
    torch.manual_seed(0)
    views, mask, static = _composer_inputs(("running shoes", "Giày Thể Thao Nữ", "รองเท้าสีดำ"), lambda k: [5] * k)
    n_views = mask.shape[1]
    stacked = torch.nn.functional.normalize(torch.randn(len(views), n_views, 384), dim=-1)
    composer = Composer()
    torch.nn.init.normal_(composer.gate[-1].weight)  # a non-uniform gate
    out, weights = composer(stacked, mask, static)
    assert torch.allclose(out.norm(dim=-1), torch.ones(len(views)), atol=1e-5)
    assert torch.allclose(weights.sum(dim=-1), torch.ones(len(views)), atol=1e-5)
    assert torch.all(weights[~mask] == 0)


def test_weight_bounds_hold_for_any_encoder_output() -> None:
    """The pre-encoding bound is never below the weight the gate gives, whatever the views' embeddings are."""
    torch.manual_seed(1)
    views, mask, static = _composer_inputs(MIXED_TEXTS, lambda k: [7] * k)
    n_views = mask.shape[1]
    composer = _sharp_composer()
    bounds = composer.weight_bounds(static, mask)
    assert torch.all(bounds[~mask] == 0) and torch.all(bounds <= 1)
    for _ in range(200):
        stacked = torch.nn.functional.normalize(torch.randn(len(views), n_views, 384), dim=-1)
        if _ % 2:  # nearly identical views: agreement close to 1
            stacked = torch.nn.functional.normalize(stacked[:, :1] + 0.05 * stacked, dim=-1)
        _, weights = composer(stacked, mask, static)
        assert torch.all(weights <= bounds + 1e-6)
    lone = torch.tensor([[True] + [False] * (n_views - 1)])
    assert composer.weight_bounds(static[:1], lone)[0, 0] == pytest.approx(1.0)


def test_frozen_composer_computes_what_the_module_does() -> None:
    """The numpy composer queries are served with: same bounds, same composed vectors as the torch module."""
    torch.manual_seed(2)
    views, mask, static = _composer_inputs(MIXED_TEXTS, lambda k: [3 + i for i in range(k)])
    n_views = mask.shape[1]
    composer = _sharp_composer()
    for layer in (composer.gate[0], composer.gate[-1]):
        torch.nn.init.normal_(layer.bias)
    with torch.no_grad():
        composer.adaptor.weight.add_(0.05 * torch.randn(384, 384))
    stacked = torch.nn.functional.normalize(torch.randn(len(views), n_views, 384), dim=-1)
    with torch.no_grad():
        out, _ = composer(stacked, mask, static)
        bounds = composer.weight_bounds(static, mask)
    frozen = composer.frozen()
    for b, tv in enumerate(views):
        k = len(tv.texts)
        assert np.allclose(frozen.weight_bounds(static[b, :k].numpy()), bounds[b, :k].numpy(), atol=1e-6)
        got = frozen.compose(stacked[b, :k].numpy(), static[b, :k].numpy())
        assert np.allclose(got, out[b].numpy(), atol=1e-6)
    assert {len(tv.texts) for tv in views} >= {1, 2}  # lone views and gated ones both checked


def test_adaptor_is_orthogonal_at_init() -> None:
    composer = Composer()
    assert composer.orthogonality_gap().item() == pytest.approx(0.0, abs=1e-8)


# ------------------------------------------------------------------------------------------- LoRA


def test_lora_starts_at_base_and_merges_exactly(base_encoder) -> None:
    from model.arca.lora import lora_modules, make_student, merge_lora
    from model.base_encoder import mean_pool

    batch = base_encoder.tokenize(["giày thể thao", "running shoes for women"], "query")

    def pooled(model) -> torch.Tensor:
        with torch.no_grad():
            out = model(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"))
            return mean_pool(out.last_hidden_state, batch.get("attention_mask"))

    reference = pooled(base_encoder.model)
    student = make_student(base_encoder.model, top_layers=2, rank=4, alpha=8)
    assert torch.allclose(pooled(student), reference, atol=1e-5)
    assert student.embeddings is base_encoder.model.embeddings  # frozen parts are shared, not copied
    assert not any(p.requires_grad for p in base_encoder.model.parameters())
    for m in lora_modules(student).values():
        torch.nn.init.normal_(m.lora_b, std=0.02)
    adapted = pooled(student)
    merge_lora(student)
    assert not lora_modules(student)
    assert torch.allclose(pooled(student), adapted, atol=1e-4)
    assert torch.allclose(pooled(base_encoder.model), reference)  # the base is untouched


# ------------------------------------------------------------------------------------------- data guards


def _write_pairs(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{en}\t{xx}\n" for en, xx in rows), encoding="utf-8")


@pytest.mark.parametrize("name", ["flores200_devtest", "sib200", "my_devtest_copy", "wmt_unknown"])
def test_forbidden_corpora_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ForbiddenDataError):
        corpus_dir(tmp_path, name)


def test_devtest_only_dir_yields_no_training_data(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "flores200_devtest" / "vi.tsv", [("Hello.", "Xin chào.")])
    with pytest.raises(FileNotFoundError, match="no training sentences"):
        read_parallel(tmp_path)


def test_devtest_disguised_as_dev_is_refused(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "flores200_devtest" / "vi.tsv", [("Hello.", "Xin chào.")])
    os.symlink(tmp_path / "flores200_devtest", tmp_path / "flores200_dev")
    with pytest.raises(ForbiddenDataError):
        read_parallel(tmp_path, corpora=["flores200_dev"])


def test_devtest_sentences_are_dropped_from_training(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "flores200_devtest" / "vi.tsv", [("Leaked.", "Rò rỉ.")])
    _write_pairs(tmp_path / "ntrex128" / "vi.tsv", [("Leaked.", "Rò rỉ."), ("Fine.", "Ổn.")])
    pairs, _ = read_parallel(tmp_path, corpora=["ntrex128"], languages=["vi"])
    assert [p.english for p in pairs] == ["Fine."]


def test_flores_dev_holdout_is_not_trained_on(tmp_path: Path) -> None:
    _write_pairs(tmp_path / "flores200_dev" / "vi.tsv", [(f"S{i}.", f"C{i}.") for i in range(10)])
    pairs, holdout = read_parallel(tmp_path, corpora=["flores200_dev"], languages=["vi"], holdout_flores_dev=3)
    assert [p.english for p in holdout] == ["S7.", "S8.", "S9."]
    assert not {p.english for p in pairs} & {p.english for p in holdout}


@pytest.mark.parametrize("name", ["queries.dev.jsonl", "queries.test.jsonl"])
def test_dev_and_test_queries_are_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / name).write_text("")
    with pytest.raises(ForbiddenDataError):
        train_queries_path(tmp_path / name)
    with pytest.raises(ForbiddenDataError):
        read_train_queries(tmp_path / name, tmp_path / "products.jsonl")


@pytest.mark.corpora
def test_real_corpora_load_without_devtest(data_dir: Path) -> None:
    pairs, holdout = read_parallel(data_dir, holdout_flores_dev=50)
    assert len(pairs) > 1000 and len(holdout) == 50 * 7
    devtest = set()
    for f in (data_dir / "flores200_devtest").glob("*.tsv"):
        devtest |= {line.split("\t")[0] for line in f.read_text(encoding="utf-8").splitlines()}
    assert not devtest & {p.english for p in pairs}


# ------------------------------------------------------------------------------------------- training + serving


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """A real (tiny) training run into a temp dir; returns the run dir (checkpoint at ``arca.pt``)."""
    from model.training.arca.trainer import train_arca

    run_dir = tmp_path_factory.mktemp("arca_run")
    train_arca(config_in(TINY_CONFIG, run_dir))
    return run_dir


def test_tiny_training_writes_logs_and_a_small_checkpoint(tiny_run: Path) -> None:
    import json

    history = json.loads((tiny_run / "log.json").read_text())["history"]
    assert len(history) >= 4 and all(np.isfinite(h["total"]) for h in history)
    assert (tiny_run / "loss_curve.png").stat().st_size > 0
    assert (tiny_run / "state.pt").is_file()
    payload, _ = load_checkpoint(tiny_run / "arca.pt")
    assert payload["base"]["fingerprint"] and payload["lora"] and payload["lexicon"]
    assert (tiny_run / "arca.pt").stat().st_size < 20e6


@pytest.fixture(scope="module")
def arca(tiny_run: Path, base_encoder):
    from model.arca.encoder import ArcaEncoder

    return ArcaEncoder.from_checkpoint(base_encoder, tiny_run / "arca.pt", None)


def test_arca_satisfies_the_encoder_protocol(arca, base_encoder) -> None:
    texts = ["giày thể thao nữ", "รองเท้าสีดำ", "running shoes", "joote ladies", ""]
    for kind in ("query", "passage"):
        out = arca.encode(texts, kind=kind)
        assert out.dtype == np.float32 and out.shape == (len(texts), arca.dim) and arca.dim == 384
        assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
        assert np.array_equal(out, arca.encode(texts, kind=kind))  # deterministic
    single = np.stack([arca.encode([t], kind="query")[0] for t in texts])
    assert np.allclose(single, arca.encode(texts, kind="query"), atol=1e-4)  # batching does not change vectors
    assert arca.encode([], kind="query").shape == (0, 384)
    assert arca.fingerprint != base_encoder.fingerprint
    assert all(c in "0123456789abcdef" for c in arca.fingerprint)
    assert arca.model_id.startswith("arca@") and "multilingual-e5-small" in arca.model_id


def test_query_view_pruning_keeps_vectors_close(arca) -> None:
    """Pruned query views: never all dropped, only views whose bound is below the threshold, and the vectors stay
    near the all-views ones (the bound limits how much a dropped view could have weighed)."""
    texts = ["Giày Thể Thao Nữ", "รองเท้าสีดำ", "joote ladies", "কালো জুতা", "running shoes", "Ao Thun Nam"]
    views = arca.core.build_views(texts)
    pruned = arca.core.prune(views, "query", 0.5)
    for full, kept in zip(views, pruned, strict=True):
        assert 1 <= len(kept.texts) <= len(full.texts)
        assert set(kept.texts) <= set(full.texts) and kept.language == full.language
    assert arca.core.prune(views, "query", 0.0) == views
    arca.query_view_bound = 0.0
    exact = arca.encode(texts, kind="query")
    try:
        arca.query_view_bound = 0.1
        approx = arca.encode(texts, kind="query")
        assert arca.query_signature == "view_bound=0.1"
        assert np.array_equal(arca.encode(texts, kind="passage"), arca.encode(texts, kind="passage"))
    finally:
        arca.query_view_bound = 0.0
    assert np.min(np.sum(exact * approx, axis=1)) > 0.98


def test_preserve_term_measures_drift_from_the_base() -> None:
    """The preserve term is 1 − cos(arca(x), base(x)): zero when Arca is the base, weighted into the total."""
    from model.training.arca.losses import LossWeights, arca_losses

    g = torch.Generator().manual_seed(0)
    pred, targets = torch.randn(4, 8, generator=g), torch.randn(4, 8, generator=g)
    empty = torch.zeros(0, 8)
    common = dict(
        pred=pred,
        targets=targets,
        target_ids=torch.arange(4),
        english_pred=empty,
        english_targets=empty,
        variant_pred=empty,
        variant_targets=empty,
        variant_clean=empty,
        ortho_gap=torch.tensor(0.0),
    )
    same = arca_losses(LossWeights(preserve=1.0), base_pred=pred.clone(), **common)
    assert float(same["preserve"]) == pytest.approx(0.0, abs=1e-6)
    moved = arca_losses(LossWeights(preserve=1.0), base_pred=-pred, **common)
    assert float(moved["preserve"]) == pytest.approx(2.0, abs=1e-5)  # opposite vectors: cos −1
    off = arca_losses(LossWeights(preserve=0.0), base_pred=-pred, **common)
    assert float(moved["total"] - off["total"]) == pytest.approx(2.0, abs=1e-4)
    assert float(arca_losses(LossWeights(preserve=1.0), **common)["preserve"]) == 0.0  # no base vectors: no term


def test_tiny_training_lowers_the_anchor_loss(arca, base_encoder) -> None:
    """On its training pairs, Arca(xx) is closer to the teacher's English than the untrained start (the base)."""
    pairs = yaml.safe_load(TINY_CONFIG.read_text())["data"]["inline_pairs"]
    xx, en = [p[0] for p in pairs], [p[1] for p in pairs]
    target = base_encoder.encode(en, kind="query")
    before = 1 - np.mean(np.sum(base_encoder.encode(xx, kind="query") * target, axis=1))
    after = 1 - np.mean(np.sum(arca.encode(xx, kind="query") * target, axis=1))
    assert after < before


def test_missing_or_corrupt_checkpoint_names_the_file(tmp_path: Path, tiny_run: Path, base_encoder) -> None:
    from model.arca.encoder import ArcaEncoder

    missing = tmp_path / "nope.pt"
    with pytest.raises(ArcaCheckpointError, match="nope.pt"):
        ArcaEncoder.from_checkpoint(base_encoder, missing, None)
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes((tiny_run / "arca.pt").read_bytes()[:5000])
    with pytest.raises(ArcaCheckpointError, match="corrupt.pt"):
        ArcaEncoder.from_checkpoint(base_encoder, corrupt, None)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(2)}, foreign)
    with pytest.raises(ArcaCheckpointError, match="foreign.pt"):
        ArcaEncoder.from_checkpoint(base_encoder, foreign, None)


def test_a_real_vocabulary_replaces_the_lexicon_in_training(tmp_path: Path) -> None:
    """With ``data.vocabulary`` set, the term pool and the gloss view come from that file, not the hand lexicon."""
    from core.settings import Settings
    from model.training.arca.trainer import DataConfig, gloss_lexicon, load_data

    vocab = tmp_path / "vocabulary.tsv"
    vocab.write_text("vi\tcái ô\tumbrella\nbn\tছাতা\tumbrella\nth\tร่ม\tumbrella\nxx\tbad row\n", encoding="utf-8")
    d = DataConfig(corpora=(), vocabulary=str(vocab), phrases_per_language=0, queries=False, mix={"term": 1.0})
    pools = load_data(d, 0, Settings(_env_file=None)).pools
    assert set(pools) == {"term"}
    terms = {(p.language, p.text, p.english) for p in pools["term"]}
    assert {("vi", "cái ô", "umbrella"), ("bn", "ছাতা", "umbrella"), ("th", "ร่ม", "umbrella")} <= terms
    assert all(en == "umbrella" for _, _, en in terms)  # nothing from the hand-written lexicon
    glosser = Glosser(gloss_lexicon(d))
    assert glosser.gloss("cai o xanh").text.startswith("umbrella")  # typed without diacritics
    romanised = next(text for lang, text, _ in terms if lang == "bn" and text.isascii())
    assert glosser.gloss(romanised).text == "umbrella"  # romanised Bengali is glossed too


def test_wise_interpolation_scales_only_the_update(tiny_run: Path, tmp_path: Path, base_encoder) -> None:
    """λ scales every LoRA B (the update), keeps A and the composer, records λ, and λ = 0 is the base's trunk."""
    from model.arca.lora import load_lora, merge_lora
    from model.arca.pipeline import ArcaModelConfig, build_core
    from model.training.arca.wise import interpolate, main

    payload, _ = load_checkpoint(tiny_run / "arca.pt")
    half = interpolate(payload, 0.5)
    for name, t in payload["lora"].items():
        expected = t * 0.5 if name.endswith("lora_b") else t
        assert torch.equal(half["lora"][name], expected)
    assert half["composer"] is payload["composer"] and half["train"]["wise_scale"] == 0.5
    assert interpolate(half, 0.5)["train"]["wise_scale"] == 0.25
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        interpolate(payload, 1.5)
    assert main(["--checkpoint", str(tiny_run / "arca.pt"), "--scale", "0", "--out", str(tmp_path / "zero.pt")]) == 0
    zero, _ = load_checkpoint(tmp_path / "zero.pt")
    base = base_encoder
    core = build_core(base, ArcaModelConfig.from_dict(zero["config"]), zero["lexicon"])
    load_lora(core.student, zero["lora"])
    merge_lora(core.student)
    ids = base.collate(base.token_ids(["giày thể thao nữ", "รองเท้าสีดำ"], "query"))
    with torch.no_grad():
        got = core.student(**ids).last_hidden_state
        want = base.model(**ids).last_hidden_state
    assert torch.allclose(got, want, atol=1e-5)


def test_served_arca_encodes_passages_with_the_base_and_says_so(encoder, base_encoder):
    """LIRA_PASSAGE_ENCODER=base (the default): the index is the base model's, queries are Arca's, and the model
    fingerprint differs from an Arca-passages configuration, so the two indexes are never mixed."""
    from core.settings import Settings
    from model.loader import load_encoder

    texts = ["Máy Hút Bụi Xiaomi Xám. Hàng chính hãng", "กาแฟ", "running shoes"]
    base = base_encoder.encode(texts, "passage")
    assert (encoder.encode(texts, "passage") * base).sum(axis=1).min() > 0.9999  # ONNX against torch: same vectors
    assert "passages: base" in encoder.model_id
    own = load_encoder(Settings(_env_file=None, passage_encoder="arca"))
    assert own.fingerprint != encoder.fingerprint
    cos = (own.encode(texts, "passage") * base).sum(axis=1)
    assert cos.min() < 0.999  # Arca's own passages are not the base's
    np.testing.assert_allclose(own.encode(texts, "query"), encoder.encode(texts, "query"), atol=1e-5)
