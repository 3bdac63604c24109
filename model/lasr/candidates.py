"""Candidate lists for LaSR: the hybrid (dense + lexical, RRF) top-N of a query, as the API retrieves them, turned
into the arrays the head scores. Training, evaluation and serving all go through ``retrieve`` + ``CandidateList``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.store.base import Filters, Hit, Sparse, VectorStore
from model.encoder import Encoder
from model.lexical import query_vector

NO_TERMS = Sparse(np.empty(0, np.uint32), np.empty(0, np.float32))


def retrieve(
    store: VectorStore,
    vector: np.ndarray,
    text: str,
    n: int,
    filters: Filters | None = None,
    *,
    prefetch: int = 50,
    rrf_k: int = 60,
    with_vectors: bool = True,
    hybrid: bool = True,
    corrections: Mapping[str, str] | None = None,
    expansions: Sequence[str] = (),
) -> list[Hit]:
    """The hybrid top-``n`` (dense top-``prefetch`` and lexical top-``prefetch`` fused in the engine); with
    ``hybrid=False`` the dense list alone goes through the same fusion (so hits still carry vectors and scores).
    ``corrections``: the index's spelling corrections of ``text`` (``Speller.corrections``) join the lexical query,
    as do ``expansions``: market-language terms of its English words (``QueryTranslator.translations``)."""
    sparse = query_vector(text, corrections, expansions) if hybrid else NO_TERMS
    return store.hybrid_search(vector, sparse, n, filters, prefetch=max(prefetch, n), rrf_k=rrf_k,
                               with_vectors=with_vectors)


def spelled_vector(typed: np.ndarray, corrected: np.ndarray) -> np.ndarray:
    """The dense query of a misspelt query: the mean direction of the query as typed and as corrected
    (``model.lexical.dense_correction``), so a wrong correction can only pull it halfway."""
    mixed = np.asarray(typed, dtype=np.float32) + np.asarray(corrected, dtype=np.float32)
    return mixed / max(float(np.linalg.norm(mixed)), 1e-12)


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
            vectors=np.stack([h.vector for h in hits]).astype(np.float32) if hits else np.zeros((0, dim), np.float32),
            languages=[h.payload.get("language", "") for h in hits],
            dense=np.array([h.dense if h.dense is not None else float(h.vector @ query) for h in hits], np.float32),
            lexical=np.array([np.nan if h.lexical is None else h.lexical for h in hits], np.float32),
            fused=np.array([h.score for h in hits], np.float32),
        )

    def __len__(self) -> int:
        return len(self.ids)


class LookupEncoder:
    """An ``Encoder`` over vectors computed already (the evaluator's cache): lets the real indexer build an index
    of the catalogue for evaluation and training without encoding anything twice."""

    def __init__(self, fingerprint: str, model_id: str, texts: Sequence[str], vectors: np.ndarray,
                 queries: Encoder | None = None) -> None:
        """``queries``: the real encoder, for the query vectors the indexer needs (the catalogue vocabulary's
        terms); without it only passages can be looked up."""
        self.fingerprint, self.model_id, self.dim = fingerprint, model_id, vectors.shape[1]
        self._table = dict(zip(texts, vectors, strict=True))
        self._queries = queries

    def encode(self, texts: Sequence[str], kind: str = "passage", batch_size: int | None = None,
               progress: bool = False) -> np.ndarray:
        if kind != "passage":
            if self._queries is None:
                raise ValueError("this LookupEncoder holds passage vectors only (no query encoder given)")
            return self._queries.encode(list(texts), kind=kind, batch_size=batch_size)
        return np.stack([self._table[t] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def build_index(catalogue: Path, encoder: LookupEncoder, root: Path, vocabulary: bool = False) -> VectorStore:
    """An Edge index of ``catalogue`` (dense from ``encoder``, lexical from the text) in ``root``, served; with its
    mined ``vocabulary`` (terms encoded by the encoder's query side)."""
    from core.store.edge import EdgeStore
    from indexer.job import reindex

    store = EdgeStore(root, "products")
    reindex(catalogue, encoder, store, progress=False, vocabulary=vocabulary)
    return store
