"""The engines under test, built the same way by the tests and by the kill tests' writer process.

``python -m tests.core.stores ENGINE ROOT VERSION STAGE`` is that writer: it writes VERSION, says STAGE on stdout
and keeps going (``upserting``) or waits (``finalized``) until the parent kills it. It imports only the engine it
needs, so it starts fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from core.store.base import IndexVersion, VectorStore

ENGINES = ("edge", "local")
DIM = 384


def make_store(engine: str, root: Path, **kwargs) -> VectorStore:
    """Edge in ``root``, or qdrant-client local mode in a folder of ``root``."""
    if engine == "edge":
        from core.store.edge import EdgeStore

        return EdgeStore(root, "products", **kwargs)
    from core.store.qdrant import QdrantStore

    return QdrantStore("products", path=root / "qdrant-local", **kwargs)


def write_until_killed(engine: str, root: Path, version: IndexVersion, stage: str) -> None:
    store = make_store(engine, root)
    rng = np.random.default_rng(0)
    ids = [f"k{i}" for i in range(50)]
    payloads = [{"language": "en", "category_prefixes": ["Toys"], "price": 1.0} for _ in ids]
    store.create_version(version, DIM)
    store.upsert(version, ids, rng.normal(size=(len(ids), DIM)), payloads)
    if stage == "finalized":
        store.finalize(version)
    print(stage, flush=True)
    while True:
        if stage == "upserting":
            store.upsert(version, ids, rng.normal(size=(len(ids), DIM)), payloads)
        else:
            time.sleep(1)


if __name__ == "__main__":
    engine, root, version, stage = sys.argv[1:]
    write_until_killed(engine, Path(root), IndexVersion.parse(version), stage)
