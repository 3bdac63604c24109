"""LaSR at serving time: load the committed head, refuse one trained on another encoder's vectors, score lists."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from model.lasr.candidates import CandidateList
from model.lasr.features import SCALARS, Batch
from model.lasr.head import LaSR, LaSRConfig
from model.runtime import Runtime, cached_session, export_key, resolve_runtime


class RerankerLoadError(RuntimeError):
    """The LaSR checkpoint is missing, damaged, or belongs to another encoder."""


class Reranker:
    def __init__(
        self, model: LaSR, checkpoint_sha256: str, encoder_fingerprint: str, rrf_k: int, candidates: int
    ) -> None:
        self.model = model.eval()
        self.checkpoint_sha256 = checkpoint_sha256
        self.model_id = f"lasr@{checkpoint_sha256[:8]}"
        self.encoder_fingerprint = encoder_fingerprint
        self.rrf_k = rrf_k
        self.candidates = candidates
        self._session = None  # ONNX Runtime session of the head for lists padded to ``candidates`` (use_onnx)

    @property
    def runtime(self) -> str:
        return "onnx" if self._session is not None else "torch"

    def use_runtime(self, runtime: Runtime, cache_dir: Path) -> None:
        """Run on what ``runtime`` (``Settings.runtime``) resolves to for a CPU model: ONNX Runtime, or torch."""
        if resolve_runtime(runtime, torch.device("cpu")) == "onnx":
            self.use_onnx(cache_dir)

    def use_onnx(self, cache_dir: Path) -> None:
        """Score with ONNX Runtime (half the time of torch's per-op dispatch for one list of 50) from a graph
        exported once into ``cache_dir/onnx``; lists longer than the checkpoint's N still go through torch."""
        path = Path(cache_dir) / "onnx" / f"lasr-{export_key(self.checkpoint_sha256)}-n{self.candidates}.onnx"
        self._session = cached_session(
            path, lambda: export_head(self.model, path, self.candidates), "exporting the LaSR head"
        )

    @classmethod
    def load(cls, path: Path, encoder_fingerprint: str) -> Reranker:
        if not path.is_file():
            raise RerankerLoadError(
                f"LaSR checkpoint {path} not found: train it (python -m model.training lasr) "
                "or turn reranking off (LIRA_RERANK=false)"
            )
        raw = path.read_bytes()
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
            model = LaSR(LaSRConfig(**payload["config"]))
            model.load_state_dict(payload["state"])
        except Exception as exc:  # torch raises many kinds for a damaged file
            raise RerankerLoadError(f"LaSR checkpoint {path} does not load ({exc}): retrain it") from exc
        trained_on = payload.get("encoder_fingerprint")
        if trained_on != encoder_fingerprint:
            raise RerankerLoadError(
                f"LaSR checkpoint {path} was trained on encoder {trained_on}, but the serving encoder is "
                f"{encoder_fingerprint}: retrain it (python -m model.training lasr) or set LIRA_RERANK=false"
            )
        return cls(
            model,
            hashlib.sha256(raw).hexdigest(),
            trained_on,
            int(payload.get("rrf_k", 60)),
            int(payload.get("candidates", 50)),
        )

    def score(self, candidates: CandidateList, query_language: str | None) -> np.ndarray:
        """(N,) scores, higher is better."""
        if not len(candidates):
            return np.zeros(0, np.float32)
        if self._session is not None and len(candidates) <= self.candidates:
            batch = Batch.collate([candidates], [query_language], n=self.candidates, rrf_k=self.rrf_k)
            (scores,) = self._session.run(None, {k: getattr(batch, k).numpy() for k in _INPUTS})
            return scores[0, : len(candidates)]
        with torch.inference_mode():
            scores = self.model(Batch.collate([candidates], [query_language], rrf_k=self.rrf_k))
        return scores[0, : len(candidates)].numpy()

    def rerank(self, candidates: CandidateList, query_language: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(order, scores): positions into ``candidates`` best first (ties keep the retrieval order), and scores."""
        scores = self.score(candidates, query_language)
        return np.argsort(-scores, kind="stable"), scores


_INPUTS = ("query", "docs", "scalars", "query_lang", "doc_lang", "mask")


class _Inputs(torch.nn.Module):
    def __init__(self, model: LaSR) -> None:
        super().__init__()
        self.model = model

    def forward(self, query, docs, scalars, query_lang, doc_lang, mask):  # noqa: ANN001 - traced tensors
        return self.model(Batch(query, docs, scalars, query_lang, doc_lang, mask))


def export_head(model: LaSR, path: Path, n: int) -> Path:
    """The head as an ONNX graph for one list of exactly ``n`` candidates (shorter lists are padded and masked:
    the exporter fixes the attention's shapes), written atomically."""
    import os
    import warnings

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    dim, scalars = model.cfg.dim, len(SCALARS)
    example = Batch(
        torch.zeros(1, dim),
        torch.zeros(1, n, dim),
        torch.zeros(1, n, scalars),
        torch.zeros(1, dtype=torch.long),
        torch.zeros(1, n, dtype=torch.long),
        torch.ones(1, n, dtype=torch.bool),
    )
    fastpath = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)  # the fused encoder-layer kernel has no ONNX form
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Inputs(model.eval()),
                tuple(getattr(example, k) for k in _INPUTS),
                str(tmp),
                input_names=list(_INPUTS),
                output_names=["scores"],
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        torch.backends.mha.set_fastpath_enabled(fastpath)
        tmp.unlink(missing_ok=True)
    return path
