"""Lexical sparse vectors for hybrid search, the way Qdrant does BM25: the document side carries BM25's
saturated term frequency, the query side a 1 per distinct term, and the engine applies IDF (``Modifier.Idf``)
from its own collection statistics; dense and lexical candidates are fused there with reciprocal rank fusion.

Terms come from ``core.text.tokenize`` (Thai segmented by PyThaiNLP, combining marks kept) plus:

* a diacritic-folded twin of every token that has diacritics ("giày" → also "giay"), so a Vietnamese query
  typed without diacritics still matches, while one typed with them matches twice (exact form scores higher);
* a joined pair for each token next to a token with a digit ("galaxy a54" → "galaxy_a54", "iphone 15" →
  "iphone_15"), so a typed model number outranks its neighbours (A54 over A34/A55, iPhone 15 over 14).

Term ids are CRC32 of the UTF-8 term (Qdrant sparse indices are u32): no vocabulary file to keep in sync
between the indexer and the API, and collisions among our ~40k terms are a handful at most.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

from core.store.base import Sparse
from core.text import fold_token, tokenize

LEXICAL_VERSION = "lex1"
K1 = 1.2
B = 0.75
AVG_LEN = 40.0  # terms per product passage (title + brand + description) on the bundled catalogue, rounded


def terms(text: str) -> list[str]:
    """The lexical terms of ``text`` (with repeats: term frequency matters on the document side)."""
    tokens = tokenize(text)
    out: list[str] = []
    for tok in tokens:
        out.append(tok)
        folded = fold_token(tok)
        if folded != tok:
            out.append(folded)
    for a, b in zip(tokens, tokens[1:], strict=False):
        if any(ch.isdigit() for ch in a + b):
            out.append(f"{fold_token(a)}_{fold_token(b)}")
    return out


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def _sparse(weights: dict[int, float]) -> Sparse:
    idx = np.fromiter(sorted(weights), dtype=np.uint32, count=len(weights))
    return Sparse(idx, np.array([weights[int(i)] for i in idx], dtype=np.float32))


def document_vector(text: str) -> Sparse:
    """BM25 document weights: tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len)); IDF comes from the engine."""
    return document_vector_of_terms(terms(text))


def document_vector_of_terms(found: Sequence[str]) -> Sparse:
    """``document_vector`` of a text whose ``terms`` are already known."""
    counts = Counter(term_id(t) for t in found)
    norm = K1 * (1 - B + B * len(found) / AVG_LEN)
    return _sparse({i: tf * (K1 + 1) / (tf + norm) for i, tf in counts.items()})


def query_vector(text: str, corrections: Mapping[str, str] | None = None, expansions: Sequence[str] = ()) -> Sparse:
    """1 per distinct query term (the engine multiplies in IDF), plus the terms of the indexed words of
    ``corrections`` (``Speller.corrections`` of the same text) and of ``expansions``
    (``QueryTranslator.translations``); empty when the query has no terms."""
    found = terms(text)
    for extra in [*(corrections or {}).values(), *expansions]:
        found += terms(extra)
    return _sparse(dict.fromkeys((term_id(t) for t in found), 1.0))
