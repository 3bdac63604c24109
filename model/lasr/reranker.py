"""LaSR at serving time: load the committed head, refuse one trained on another encoder's vectors, score lists."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch

from model.lasr.candidates import CandidateList
from model.lasr.features import Batch
from model.lasr.head import LaSR, LaSRConfig


class RerankerLoadError(RuntimeError):
    """The LaSR checkpoint is missing, damaged, or belongs to another encoder."""


class Reranker:
    def __init__(self, model: LaSR, checkpoint_sha256: str, encoder_fingerprint: str, rrf_k: int,
                 candidates: int) -> None:
        self.model = model.eval()
        self.model_id = f"lasr@{checkpoint_sha256[:8]}"
        self.encoder_fingerprint = encoder_fingerprint
        self.rrf_k = rrf_k
        self.candidates = candidates

    @classmethod
    def load(cls, path: Path, encoder_fingerprint: str) -> Reranker:
        if not path.is_file():
            raise RerankerLoadError(f"LaSR checkpoint {path} not found: train it (python -m model.train lasr) "
                                    "or turn reranking off (LIRA_RERANK=false)")
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
                f"{encoder_fingerprint}: retrain it (python -m model.train lasr) or set LIRA_RERANK=false"
            )
        return cls(model, hashlib.sha256(raw).hexdigest(), trained_on, int(payload.get("rrf_k", 60)),
                   int(payload.get("candidates", 50)))

    def score(self, candidates: CandidateList, query_language: str | None) -> np.ndarray:
        """(N,) scores, higher is better."""
        if not len(candidates):
            return np.zeros(0, np.float32)
        with torch.inference_mode():
            scores = self.model(Batch.collate([candidates], [query_language], rrf_k=self.rrf_k))
        return scores[0, : len(candidates)].numpy()

    def rerank(self, candidates: CandidateList, query_language: str | None) -> tuple[np.ndarray, np.ndarray]:
        """(order, scores): positions into ``candidates`` best first (ties keep the retrieval order), and scores."""
        scores = self.score(candidates, query_language)
        return np.argsort(-scores, kind="stable"), scores
