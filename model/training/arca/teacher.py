"""Teacher targets: the frozen base's embeddings of every English training text, computed once and cached.

The targets never change during a run (the teacher is frozen and the English side is never augmented), so
epochs only pay for the student. The cache key is the base fingerprint + the data digest + the sequence
length, so a different base, data set or truncation can never reuse stale targets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from model.encoder import Kind

if TYPE_CHECKING:
    from model.base_encoder import BaseEncoder

KINDS: tuple[Kind, ...] = ("query", "passage")


class TeacherTargets:
    """Row lookup of teacher embeddings by (kind, English text)."""

    def __init__(self, texts: dict[Kind, Sequence[str]], vectors: dict[Kind, np.ndarray]) -> None:
        self.index = {k: {t: i for i, t in enumerate(texts[k])} for k in KINDS}
        self.vectors = {k: torch.from_numpy(v) for k, v in vectors.items()}

    def __call__(self, kind: Kind, texts: Sequence[str]) -> torch.Tensor:
        return self.vectors[kind][[self.index[kind][t] for t in texts]]

    def ids(self, texts: Sequence[str]) -> torch.Tensor:
        """One id per distinct English text (the same for both kinds): rows sharing it are not negatives."""
        index = self.index["query"]
        return torch.tensor([index[t] for t in texts], dtype=torch.long)


def teacher_targets(
    base: BaseEncoder, texts: dict[Kind, Sequence[str]], digest: str, cache_dir: Path
) -> TeacherTargets:
    """Embed ``texts[kind]`` with that kind's E5 prefix (or load them from ``cache_dir``).

    Every text needs a "query" target (it also provides the ids); "passage" targets only for the texts
    trained with the passage prefix.
    """
    texts = {k: list(texts[k]) for k in KINDS}
    if not set(texts["passage"]) <= set(texts["query"]):
        raise ValueError("every passage-prefixed teacher text must also have a query-prefixed target")
    sizes = "/".join(str(len(texts[k])) for k in KINDS)
    key = hashlib.sha256(f"{base.fingerprint}|{digest}|{base.max_seq_len}|{sizes}".encode()).hexdigest()[:16]
    path = Path(cache_dir) / f"teacher-{key}.npz"
    if path.is_file():
        with np.load(path) as cached:
            return TeacherTargets(texts, {k: cached[k] for k in KINDS})
    vectors = {k: base.encode(texts[k], kind=k, progress=True) for k in KINDS}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, **vectors)
    tmp.replace(path)
    return TeacherTargets(texts, vectors)
