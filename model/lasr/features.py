"""What LaSR sees of a (query, candidate) pair: both embeddings, both languages and the retrieval evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core.settings import LANGUAGES
from model.lasr.candidates import CandidateList

SCALARS = ("dense", "lexical_log", "lexical_rel", "has_lexical", "fused", "dense_rank", "lexical_rank")
UNKNOWN = len(LANGUAGES)  # the language slot for "not given and not detected"


def language_index(code: str | None) -> int:
    return LANGUAGES.index(code) if code in LANGUAGES else UNKNOWN


def scalar_features(c: CandidateList, rrf_k: int = 60) -> np.ndarray:
    """(N, len(SCALARS)) float32: cosine, BM25 (log and relative to the list's best), whether the lexical side
    found it, the RRF score (×k, so 1 = top of one list), and reciprocal ranks within the list."""
    n = len(c)
    out = np.zeros((n, len(SCALARS)), dtype=np.float32)
    if n == 0:
        return out
    has = ~np.isnan(c.lexical)
    lex = np.where(has, c.lexical, 0.0)
    out[:, 0] = c.dense
    out[:, 1] = np.log1p(lex)
    out[:, 2] = lex / max(float(lex.max()), 1e-6)
    out[:, 3] = has
    out[:, 4] = c.fused * rrf_k
    out[np.argsort(-c.dense, kind="stable"), 5] = 1.0 / (1.0 + np.arange(n))
    lex_order = np.argsort(-np.where(has, lex, -np.inf), kind="stable")
    ranks = np.empty(n)
    ranks[lex_order] = np.arange(n)
    out[:, 6] = np.where(has, 1.0 / (1.0 + ranks), 0.0)
    return out


@dataclass
class Batch:
    """Padded tensors for B lists of up to N candidates."""

    query: torch.Tensor  # (B, D)
    docs: torch.Tensor  # (B, N, D)
    scalars: torch.Tensor  # (B, N, S)
    query_lang: torch.Tensor  # (B,)
    doc_lang: torch.Tensor  # (B, N)
    mask: torch.Tensor  # (B, N) bool

    @classmethod
    def collate(
        cls, lists: Sequence[CandidateList], query_langs: Sequence[str | None], n: int | None = None, rrf_k: int = 60
    ) -> Batch:
        n = n or max((len(c) for c in lists), default=1) or 1
        b, d = len(lists), (lists[0].query.shape[0] if lists else 384)
        docs = np.zeros((b, n, d), np.float32)
        scalars = np.zeros((b, n, len(SCALARS)), np.float32)
        doc_lang = np.full((b, n), UNKNOWN, np.int64)
        mask = np.zeros((b, n), bool)
        for i, c in enumerate(lists):
            m = min(len(c), n)
            docs[i, :m] = c.vectors[:m]
            scalars[i, :m] = scalar_features(c, rrf_k)[:m]
            doc_lang[i, :m] = [language_index(x) for x in c.languages[:m]]
            mask[i, :m] = True
        return cls(
            torch.from_numpy(np.stack([c.query for c in lists]) if lists else np.zeros((0, d), np.float32)),
            torch.from_numpy(docs),
            torch.from_numpy(scalars),
            torch.tensor([language_index(x) for x in query_langs], dtype=torch.long),
            torch.from_numpy(doc_lang),
            torch.from_numpy(mask),
        )
