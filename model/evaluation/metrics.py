"""Ranking metrics for graded relevance judgements (grades 3 exact / 2 substitute / 1 complement).

A ranking is a sequence of product ids, best first; ``relevant`` maps judged ids to grades, and only grades
>= 1 count as relevant. Every metric raises on a query without relevant ids: averaging a silent 0 (or 1) in
would bias the aggregate, so callers must drop such queries explicitly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def _positive(relevant: Mapping[str, int]) -> dict[str, int]:
    graded = {pid: g for pid, g in relevant.items() if g >= 1}
    if not graded:
        raise ValueError("query has no relevant id (grade >= 1): its metrics are undefined")
    return graded


def dcg(gains: Sequence[float]) -> float:
    """Linear gains with the standard log2 discount: sum(g_i / log2(i + 1)) for ranks i = 1, 2, ..."""
    return sum(g / math.log2(rank + 2) for rank, g in enumerate(gains))


def ndcg_at_k(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with the grade as gain; the ideal DCG sorts all judged relevant ids, retrieved or not."""
    graded = _positive(relevant)
    ideal = dcg(sorted(graded.values(), reverse=True)[:k])
    return dcg([graded.get(pid, 0) for pid in ranking[:k]]) / ideal


def recall_at_k(ranking: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """Fraction of the relevant ids (any grade >= 1) found in the top k; below 1 by construction when > k exist."""
    graded = _positive(relevant)
    return len(graded.keys() & set(ranking[:k])) / len(graded)


def reciprocal_rank(ranking: Sequence[str], relevant: Mapping[str, int]) -> float:
    """1 / rank of the first relevant id of any grade in the ranking; 0 when none was retrieved."""
    graded = _positive(relevant)
    return next((1.0 / rank for rank, pid in enumerate(ranking, start=1) if pid in graded), 0.0)
