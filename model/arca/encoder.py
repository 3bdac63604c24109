"""``ArcaEncoder``: the serving encoder built from the base plus the small trained Arca checkpoint."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from core.text import romaniser_versions, warm_up_romanisers
from model.arca.checkpoint import ArcaCheckpointError, load_checkpoint, student_sha256
from model.arca.composer import FrozenComposer, static_features, views_to_keep
from model.arca.lora import load_lora, merge_lora
from model.arca.pipeline import ArcaCore, ArcaModelConfig, build_core
from model.arca.tower import load_tower
from model.encoder import Kind, query_precision_signature

if TYPE_CHECKING:
    from core.settings import Settings
    from model.base_encoder import BaseEncoder


class ArcaEncoder:
    """Encoder protocol over Arca: views of every text, one merged-LoRA student pass, the learned composer.

    Queries and passages go through the same pipeline (with their E5 prefixes), like the base.
    """

    dim = 384

    def __init__(
        self,
        core: ArcaCore,
        checkpoint_sha256: str,
        batch_size: int,
        query_view_bound: float = 0.0,
        student_sha256: str = "",
    ) -> None:
        self.core = core.eval()
        self.batch_size = batch_size
        # queries skip the views whose gate weight provably stays below this (ArcaCore.prune); passages never do,
        # so the index is exactly the model's and only the query side trades a bounded error for latency
        self.query_view_bound = query_view_bound
        self._frozen: FrozenComposer | None = None  # the composer as numpy, for queries on ONNX Runtime
        base = core.base
        self.checkpoint_sha256 = checkpoint_sha256
        self.tower_sha256: str | None = None  # set by ``use_tower``
        self.student_sha256 = student_sha256  # ``checkpoint.student_sha256``: the query tower's key ("" = unknown)
        self.model_id = f"arca@{checkpoint_sha256[:8]} (multilingual-e5-small base)"
        # everything that moves the vectors: the checkpoint bytes, the base weights, the romanisers' rules
        provenance = json.dumps([checkpoint_sha256, base.fingerprint, romaniser_versions()], sort_keys=True)
        self.fingerprint = hashlib.sha256(provenance.encode()).hexdigest()[:12]
        # ``use_base_passages``: passages through the base alone (its trunk made on first use by the factory)
        self._passages: BaseEncoder | None = None
        self._passage_trunk: Callable[[], object] | None = None
        self._passage_lock = threading.Lock()

    def use_base_passages(self, trunk: Callable[[], object] | None = None) -> None:
        """Encode passages with the base model alone (one pass, its own E5 prefix), queries with Arca: the index
        then costs what the base's costs. ``trunk`` makes the base's inference runtime (ONNX) when the first
        passage is encoded (an API that only encodes queries never loads it). Changes the fingerprint."""
        self._passages = self.core.base
        self._passage_trunk = trunk
        self.fingerprint = hashlib.sha256(f"{self.fingerprint}|passages=base".encode()).hexdigest()[:12]
        self.model_id = f"{self.model_id}; passages: base"

    @classmethod
    def from_checkpoint(cls, base: BaseEncoder, path: Path, settings: Settings | None = None) -> ArcaEncoder:
        payload, sha = load_checkpoint(path)
        trained_on = payload["base"].get("fingerprint")
        if trained_on != base.fingerprint:
            raise ArcaCheckpointError(
                f"Arca checkpoint {path} was trained on base {trained_on}, but the installed base is "
                f"{base.fingerprint}: retrain it (python -m model.training arca) or set LIRA_MODEL=base"
            )
        try:
            core = build_core(base, ArcaModelConfig.from_dict(payload["config"]), payload["lexicon"])
            load_lora(core.student, payload["lora"])
            composer_state = dict(payload["composer"])
            # checkpoints from before the learned view prior behave exactly as a zero prior
            composer_state.setdefault("prior", torch.zeros_like(core.composer.prior))
            core.composer.load_state_dict(composer_state)
        except (ValueError, RuntimeError, KeyError, TypeError) as e:
            raise ArcaCheckpointError(f"Arca checkpoint {path} does not fit this model: {e}") from e
        merge_lora(core.student)
        core.to(base.device)
        warm_up_romanisers()  # ~5 s of uroman tables at start-up instead of on the first Urdu/Bengali query
        batch_size = settings.batch_size if settings is not None else base.batch_size
        bound = settings.query_view_bound if settings is not None else 0.0
        encoder = cls(core, sha, batch_size, bound, student_sha256(payload))
        if settings is not None and settings.query_tower == "distilled":
            encoder.use_tower(settings.query_tower_checkpoint, settings.query_tower_max_tokens)
        return encoder

    def use_tower(self, path: Path, max_tokens: int) -> None:
        """Encode query texts of at most ``max_tokens`` tokens with the distilled query tower at ``path``
        (``model.arca.tower``); passages, and so the index and its version, are unchanged."""
        tower, sha = load_tower(self.core.student, path, self.student_sha256)
        self.core.query_student = tower.to(self.core.base.device)
        self.core.query_trunk = None
        self.core.tower_max_tokens = max_tokens
        self.tower_sha256 = sha
        layers = len(cast(Any, tower).encoder.layer)
        self.model_id = (
            f"arca@{self.checkpoint_sha256[:8]} (multilingual-e5-small base; queries: {layers}-layer tower@{sha[:8]})"
        )

    def _encode_queries(self, texts: list[str], chunk: int) -> np.ndarray:
        """Queries on the ONNX runtime: what ``ArcaCore.prune`` then ``ArcaCore.forward`` compute (the same
        vectors), with the views tokenised once and the gate, bounds and adaptor in numpy (``FrozenComposer``)."""
        core, below = self.core, self.query_view_bound
        if self._frozen is None:
            self._frozen = core.composer.frozen()
        views = core.build_views(texts)
        ids = core.base.token_ids([t for tv in views for t in tv.texts], "query")
        starts = np.cumsum([0, *(len(tv.texts) for tv in views)])
        lengths = [[len(x) for x in ids[a:b]] for a, b in zip(starts[:-1], starts[1:], strict=True)]
        static = static_features(views, lengths, max(len(tv.texts) for tv in views)).numpy()
        kept = [
            views_to_keep(self._frozen.weight_bounds(static[b, : len(tv.texts)]), below)
            if below > 0 and len(tv.texts) > 1
            else list(range(len(tv.texts)))
            for b, tv in enumerate(views)
        ]
        rows = [ids[starts[b] + v] for b, keep in enumerate(kept) for v in keep]
        # grouped as ArcaCore.embed_flat groups them (sorted by length, ``chunk`` rows per run): int8 activations
        # are quantised per run, so the same grouping gives the same vectors
        by_length = sorted(range(len(rows)), key=lambda i: len(rows[i]))
        pooled = np.empty((len(rows), self.dim), dtype=np.float32)
        for s in range(0, len(rows), chunk):
            for tower, part in core.routed("query", by_length[s : s + chunk], rows):
                pooled[part] = core.runner(tower)[1].run(*core.base.pad([rows[i] for i in part]), "query")
        unit = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        pos = 0
        for b, keep in enumerate(kept):
            out[b] = self._frozen.compose(unit[pos : pos + len(keep)], static[b, keep])
            pos += len(keep)
        return out

    @property
    def query_signature(self) -> str:
        """What besides the fingerprint shapes query vectors (for caches of encoded queries)."""
        parts = [
            f"view_bound={self.query_view_bound:g}" if self.query_view_bound > 0 else "",
            f"tower={self.tower_sha256[:12]}<={self.core.tower_max_tokens}" if self.tower_sha256 else "",
            query_precision_signature(self.core.trunk),
        ]
        return ",".join(p for p in parts if p)

    def encode(
        self, texts: Sequence[str], kind: Kind = "passage", batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """float32 (len(texts), 384), unit rows; texts grouped by length, all views of a group in one pass."""
        texts = list(texts)
        if kind == "passage" and self._passages is not None:
            with self._passage_lock:
                if self._passage_trunk is not None:
                    self._passages.trunk = self._passage_trunk()  # type: ignore[assignment]
                    self._passage_trunk = None
            return self._passages.encode(texts, "passage", batch_size or self.batch_size, progress)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        bs = batch_size or self.batch_size
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(texts), desc="encode", unit="text")
        fast = (
            kind == "query"
            and self.core.trunk is not None
            and (self.core.query_student is None or self.core.query_trunk is not None)
        )
        try:
            with torch.inference_mode():
                for s in range(0, len(order), bs):
                    idx = order[s : s + bs]
                    if fast:
                        out[idx] = self._encode_queries([texts[i] for i in idx], bs)
                    else:
                        views = self.core.build_views([texts[i] for i in idx])
                        if kind == "query" and self.query_view_bound > 0:
                            views = self.core.prune(views, kind, self.query_view_bound)
                        emb, _ = self.core(views, kind, chunk=bs)
                        out[idx] = emb.float().cpu().numpy()
                    if bar is not None:
                        bar.update(len(idx))
        finally:
            if bar is not None:
                bar.close()
        return out
