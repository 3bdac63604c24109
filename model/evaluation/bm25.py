"""The lexical baseline: BM25 (``bm25s``, Lucene variant, k1=1.5, b=0.75) with a tokeniser fit for our scripts.

bm25s' default tokeniser splits on Python's ``\\w``, which excludes combining marks: Bengali, Thai and Urdu
words break at every vowel sign ("আমাদের" -> "আম", "দ", "র"). We tokenise ourselves instead: NFC, lowercase,
runs of letters/marks/digits (diacritics kept, so "ca" and "cá" stay distinct), and Thai runs, which have no
spaces, segmented with PyThaiNLP's newmm. Choosing by script rather than by the row's language label keeps a
Thai query typed in English, or English words inside Thai text, tokenised exactly like English products.
No stopwords are removed: BM25's IDF already discounts them, and lists exist for few of our languages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.text import tokenize


class BM25Index:
    """An in-memory BM25 index over ``texts``; ``search`` returns positions into ``texts``."""

    def __init__(self, texts: Sequence[str]) -> None:
        import bm25s

        self._retriever = bm25s.BM25()
        self._retriever.index([tokenize(t) for t in texts], show_progress=False)

    def search(self, query: str, k: int) -> np.ndarray:
        """Top-k positions by score, ties by position; only documents sharing a token with the query (score > 0),
        so a query with no known word retrieves nothing rather than an arbitrary order."""
        tokens = tokenize(query)
        if not tokens:  # bm25s cannot score an empty query
            return np.empty(0, dtype=np.int64)
        scores = self._retriever.get_scores(tokens)
        top = np.argsort(-scores, kind="stable")[:k]
        return top[scores[top] > 0]
