"""Hybrid retrieval, as the API serves it: the dense top-``prefetch`` and the lexical top-``prefetch`` of a query
fused by reciprocal rank fusion in the engine, and the dense query of a misspelt query. Evaluation and LaSR's
training lists go through the same ``retrieve``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core.lexical import query_vector
from core.store.base import NO_TERMS, Filters, Hit, Matches, VectorStore


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
    return store.hybrid_search(
        vector, sparse, n, filters, prefetch=max(prefetch, n), rrf_k=rrf_k, with_vectors=with_vectors
    )


def match(
    store: VectorStore,
    vector: np.ndarray,
    text: str,
    filters: Filters | None,
    *,
    window: int,
    lexical_cap: int,
    dense_margin: float = float("inf"),
    lexical_ratio: float = 0.0,
    hybrid: bool = True,
    corrections: Mapping[str, str] | None = None,
    expansions: Sequence[str] = (),
) -> Matches:
    """The query's matches under ``filters`` (``VectorStore.matches``): of the dense top-``window``, those within
    ``dense_margin`` of the best cosine, and, when ``hybrid``, of the products sharing a term of the same lexical
    query ``retrieve`` searches (up to ``lexical_cap``), those with ``lexical_ratio`` of the best BM25 score."""
    sparse = query_vector(text, corrections, expansions) if hybrid else NO_TERMS
    return store.matches(vector, sparse, filters, window, lexical_cap, dense_margin, lexical_ratio)


def spelled_vector(typed: np.ndarray, corrected: np.ndarray) -> np.ndarray:
    """The dense query of a misspelt query: the mean direction of the query as typed and as corrected
    (``app.query.spelling.dense_correction``), so a wrong correction can only pull it halfway."""
    mixed = np.asarray(typed, dtype=np.float32) + np.asarray(corrected, dtype=np.float32)
    return mixed / max(float(np.linalg.norm(mixed)), 1e-12)
