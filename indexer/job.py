"""The batch reindex job: validate → encode → write a new index version → switch atomically.

The serving version is never touched: a failed or killed run leaves it serving, and the next run removes
whatever the dead one left behind.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from tqdm import tqdm

from core.catalogue import CatalogueReport, read_catalogue
from core.store.base import IndexVersion, VectorStore
from model.encoder import Encoder

MAX_ERRORS_PRINTED = 50


@dataclass
class ReindexSummary:
    version: str
    indexed: int
    skipped: int
    seconds: float
    products_per_s: float
    encode_seconds: float
    up_to_date: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if self.up_to_date:
            return f"index {self.version} is up to date ({self.indexed} products); nothing to do"
        return (
            f"indexed {self.indexed} products, skipped {self.skipped} bad rows, "
            f"{self.seconds:.1f} s ({self.products_per_s:.1f} products/s; encoding {self.encode_seconds:.1f} s) "
            f"→ serving version {self.version}"
        )


def report_errors(report: CatalogueReport, out=None) -> None:
    out = out or sys.stderr
    for err in report.errors[:MAX_ERRORS_PRINTED]:
        print(f"skipped {err}", file=out)
    if report.skipped > MAX_ERRORS_PRINTED:
        print(f"… and {report.skipped - MAX_ERRORS_PRINTED} more bad rows", file=out)


def is_up_to_date(store: VectorStore, encoder: Encoder, catalogue_sha: str) -> IndexVersion | None:
    current = store.current_version()
    probe = IndexVersion.new(encoder.fingerprint, catalogue_sha)
    if current and current.model == probe.model and current.data == probe.data and store.count() > 0:
        return current
    return None


def remove_abandoned(store: VectorStore) -> None:
    """Drop versions a dead run left behind (never the serving one or any older kept one)."""
    current = store.current_version()
    for version in store.list_versions():
        if current is None or version.stamp > current.stamp:
            print(f"removing abandoned index version {version}", file=sys.stderr)
            store.drop_version(version)


def reindex(
    catalogue: Path,
    encoder: Encoder,
    store: VectorStore,
    *,
    batch_size: int = 64,
    if_stale: bool = False,
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> ReindexSummary:
    t0 = time.perf_counter()
    report = read_catalogue(catalogue)
    report_errors(report)
    if not report.products:
        raise SystemExit(f"error: {catalogue} has no valid product rows ({report.skipped} skipped); nothing indexed")

    data_hash = report.sha256[:12]
    if if_stale and (current := is_up_to_date(store, encoder, data_hash)):
        return ReindexSummary(str(current), store.count(), report.skipped, 0.0, 0.0, 0.0, up_to_date=True)

    remove_abandoned(store)
    version = IndexVersion.new(encoder.fingerprint, data_hash)
    store.create_version(version, encoder.dim)
    encode_s = 0.0
    products = report.products
    bar = tqdm(total=len(products), desc="indexing", unit="product", disable=not progress, file=sys.stderr)
    for start in range(0, len(products), batch_size):
        batch = products[start : start + batch_size]
        te = time.perf_counter()
        vectors = encoder.encode([p.passage_text() for p in batch], kind="passage", batch_size=batch_size)
        encode_s += time.perf_counter() - te
        store.upsert(version, [p.id for p in batch], vectors, [p.payload() for p in batch])
        bar.update(len(batch))
        if on_batch:
            on_batch(start + len(batch))
    bar.close()
    store.finalize(version)
    store.activate(version)
    seconds = time.perf_counter() - t0
    return ReindexSummary(str(version), len(products), report.skipped, seconds, len(products) / seconds, encode_s)
