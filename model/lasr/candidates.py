"""LaSR's input: one query's hybrid candidates (``app.retrieval.hybrid.retrieve``, as the API retrieves them) turned
into the arrays the head scores. Training, evaluation and serving all build it from ``CandidateList.from_hits``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np

from core.store.base import Hit


@dataclass
class CandidateList:
    """One query's candidates: stored vectors, product languages and the retrieval scores (lexical NaN = the
    product was not among the lexical candidates)."""

    query: np.ndarray  # (D,)
    ids: list[str]
    vectors: np.ndarray  # (N, D)
    languages: list[str]
    dense: np.ndarray  # (N,) cosine
    lexical: np.ndarray  # (N,) BM25 or NaN
    fused: np.ndarray  # (N,) RRF score

    @classmethod
    def from_hits(cls, query: np.ndarray, hits: Sequence[Hit]) -> CandidateList:
        dim = len(query)
        return cls(
            query=np.asarray(query, dtype=np.float32),
            ids=[h.id for h in hits],
            vectors=np.stack([cast(np.ndarray, h.vector) for h in hits]).astype(np.float32)
            if hits
            else np.zeros((0, dim), np.float32),
            languages=[h.payload.get("language", "") for h in hits],
            dense=np.array([h.dense if h.dense is not None else float(h.vector @ query) for h in hits], np.float32),
            lexical=np.array([np.nan if h.lexical is None else h.lexical for h in hits], np.float32),
            fused=np.array([h.score for h in hits], np.float32),
        )

    def __len__(self) -> int:
        return len(self.ids)
