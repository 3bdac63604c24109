"""The batch reindex job: validate → encode → write a new index version → switch atomically.

The serving version is never touched: a failed or killed run leaves it serving, and the next run removes
whatever the dead one left behind.

Incremental by default: every point carries ``content_hash`` (the model fingerprint and the text the encoder sees),
so a product whose hash is unchanged gets its vector copied from the serving version instead of re-encoded; its
payload (price, category…) is always rewritten from the catalogue. Products no longer in the catalogue are simply
not copied. The new version is still a complete, separate version, switched atomically like a full rebuild.
"""

from __future__ import annotations

import hashlib
import sys
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.catalogue import CatalogueReport, Product, content_hash, read_catalogue
from core.journal import ProductJournal
from core.lexical import LEXICAL_VERSION, document_vector
from core.store.base import IndexVersion, StoredPoint, StoreUnavailable, VectorStore
from indexer.vocabulary import VOCABULARY_VERSION, TermCache, mine_vocabulary, write_vocabulary
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
    reencoded: int = 0
    reused: int = 0
    deleted: int = 0
    incremental: bool = False
    vocabulary_pairs: int = 0
    vocabulary_seconds: float = 0.0
    journal_applied: int = 0  # document-API operations merged over the catalogue (core.journal)

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        if self.up_to_date:
            return f"index {self.version} is up to date ({self.indexed} products); nothing to do"
        mode = "incremental" if self.incremental else "full"
        journal = f", {self.journal_applied} document-API operations merged" if self.journal_applied else ""
        return (
            f"indexed {self.indexed} products ({mode}: re-encoded {self.reencoded}, reused {self.reused}, "
            f"deleted {self.deleted}{journal}), skipped {self.skipped} bad rows, "
            f"{self.vocabulary_pairs} vocabulary pairs, "
            f"{self.seconds:.1f} s ({self.products_per_s:.1f} products/s; encoding {self.encode_seconds:.1f} s) "
            f"→ serving version {self.version}"
        )


# what the indexer writes besides the catalogue's content; bumping it makes ``--if-stale`` build a new version
# (incrementally: unchanged products keep their vectors). 2: Edge versions carry a memory-mapped dense table;
# 3: and a row table of product ids and languages (candidates without payload reads); 4: and the catalogue's
# vocabulary (indexer.vocabulary)
INDEX_LAYOUT = 4


def index_data_hash(catalogue_sha256: str, journal_seq: int = 0) -> str:
    """The data part of a version name: the catalogue's bytes, the lexical term rules, the index layout and the
    vocabulary mining rules, and how far the document-API journal goes (a change to any builds a new index)."""
    key = f"{catalogue_sha256}|{LEXICAL_VERSION}|layout{INDEX_LAYOUT}|{VOCABULARY_VERSION}"
    if journal_seq:
        key += f"|journal{journal_seq}"
    return hashlib.sha256(key.encode()).hexdigest()[:12]


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


class _Previous:
    """The serving version as a source of reusable vectors; unreadable means "re-encode everything"."""

    def __init__(self, store: VectorStore, encoder: Encoder, full: bool) -> None:
        self.store = store
        self.count = 0
        self.reusable = False
        try:
            current = store.current_version()
            if current is not None:
                self.count = store.count()
                self.reusable = not full and current.model == encoder.fingerprint[: len(current.model)]
        except StoreUnavailable as exc:
            print(f"warning: cannot read the serving index ({exc}); re-encoding every product", file=sys.stderr)

    def points(self, ids: list[str]) -> dict[str, StoredPoint]:
        if not self.count:
            return {}
        try:
            return {p.id: p for p in self.store.retrieve(ids)}
        except StoreUnavailable as exc:
            print(f"warning: cannot read the serving index ({exc}); re-encoding the rest", file=sys.stderr)
            self.count = 0
            self.reusable = False
            return {}


JOURNAL_SIDECAR = "journal"  # {"seq": n}: the version holds the document API's writes up to n

ENCODE_CHUNK = 512  # products per encoder call (measured: bench.index_throughput)


@dataclass
class _Chunk:
    start: int
    products: list[Product]
    texts: list[str]  # their passage texts
    hashes: list[str]
    vectors: np.ndarray
    todo: list[int]  # positions that need encoding


def reindex(
    catalogue: Path,
    encoder: Encoder,
    store: VectorStore,
    *,
    batch_size: int = 64,
    if_stale: bool = False,
    full: bool = False,
    progress: bool = True,
    on_batch: Callable[[int, int], None] | None = None,
    vocabulary: bool = True,
    term_cache: Path | None = None,
    journal: ProductJournal | None = None,
) -> ReindexSummary:
    """Build a new version from ``catalogue`` and switch to it; ``full`` re-encodes every product.

    ``on_batch(done, total)`` is called after every written batch (progress reporting). ``vocabulary``: the
    catalogue's own cross-lingual vocabulary is mined (its terms encoded as queries by ``encoder``) and kept
    with the version; ``term_cache``: where the terms' vectors are kept between runs
    (``TermCache``), so that a reindex encodes only new terms. ``journal``: the document API's writes, merged over
    the catalogue (``ProductJournal.merged``: the last write of an id wins); the version records how far it read
    (sidecar ``journal``), and the API applies whatever came after."""
    t0 = time.perf_counter()
    report = read_catalogue(catalogue)
    report_errors(report)
    if not report.products:
        raise SystemExit(f"error: {catalogue} has no valid product rows ({report.skipped} skipped); nothing indexed")

    products = report.products
    applied = journal_seq = 0
    if journal is not None:
        products, applied, journal_seq = journal.merged(products)
    data_hash = index_data_hash(report.sha256, journal_seq)
    if if_stale and (current := is_up_to_date(store, encoder, data_hash)):
        return ReindexSummary(str(current), store.count(), report.skipped, 0.0, 0.0, 0.0, up_to_date=True)

    remove_abandoned(store)
    previous = _Previous(store, encoder, full)
    incremental = previous.reusable
    version = IndexVersion.new(encoder.fingerprint, data_hash)
    store.create_version(version, encoder.dim)
    if journal is not None:
        store.write_sidecar(version, JOURNAL_SIDECAR, {"seq": journal_seq})
    encode_s = 0.0
    reencoded = reused = still_there = 0
    bar = tqdm(total=len(products), desc="indexing", unit="product", disable=not progress, file=sys.stderr)

    def prepare(start: int) -> _Chunk:
        """A chunk's reusable vectors copied from the serving version, and which products need encoding."""
        nonlocal still_there
        positions = by_length[start : start + chunk_size]
        batch, texts = [products[i] for i in positions], [passages[i] for i in positions]
        hashes = [content_hash(t, encoder.fingerprint) for t in texts]
        old = previous.points([p.id for p in batch])
        still_there += len(old)
        vectors = np.empty((len(batch), encoder.dim), dtype=np.float32)
        todo = []
        for i, (product, h) in enumerate(zip(batch, hashes, strict=True)):
            kept = old.get(product.id) if previous.reusable else None
            if kept is not None and kept.payload.get("content_hash") == h and kept.vector.shape == (encoder.dim,):
                vectors[i] = kept.vector
            else:
                todo.append(i)
        return _Chunk(start, batch, texts, hashes, vectors, todo)

    def encode(chunk: _Chunk) -> float:
        """Fill in the chunk's new vectors (in the encoder thread); the seconds it took."""
        te = time.perf_counter()
        if chunk.todo:
            texts = [chunk.texts[i] for i in chunk.todo]
            chunk.vectors[chunk.todo] = encoder.encode(texts, kind="passage", batch_size=batch_size)
        return time.perf_counter() - te

    def write(chunk: _Chunk) -> None:
        for at in range(0, len(chunk.products), batch_size):
            part = slice(at, at + batch_size)
            batch, hashes = chunk.products[part], chunk.hashes[part]
            payloads = [{**p.payload(), "content_hash": h} for p, h in zip(batch, hashes, strict=True)]
            sparse = [document_vector(t) for t in chunk.texts[part]]  # cheap: always recomputed, never copied
            store.upsert(version, [p.id for p in batch], chunk.vectors[part], payloads, sparse)
            bar.update(len(batch))
            if on_batch:
                on_batch(chunk.start + at + len(batch), len(products))

    # Products go shortest text first, in chunks of ENCODE_CHUNK, so that the encoder's batches pad little; the next
    # chunk is encoded in a second thread while this one's payloads and sparse vectors are written.
    passages = [p.passage_text() for p in products]
    by_length = sorted(range(len(products)), key=lambda i: len(passages[i]))
    chunk_size = max(batch_size, ENCODE_CHUNK)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lira-encode") as pool:
        pending: tuple[_Chunk, Future[float]] | None = None
        for start in range(0, len(products), chunk_size):
            chunk = prepare(start)
            submitted = (chunk, pool.submit(encode, chunk))
            if pending is not None:
                encode_s += pending[1].result()
                write(pending[0])
            pending = submitted
            reencoded += len(chunk.todo)
            reused += len(chunk.products) - len(chunk.todo)
        if pending is not None:
            encode_s += pending[1].result()
            write(pending[0])
    bar.close()
    vocab_terms, vocab_seconds = 0, 0.0
    if vocabulary:
        cache = TermCache(term_cache)
        vocab = mine_vocabulary(
            products,
            cache.wrap(lambda texts: encoder.encode(texts, kind="query", batch_size=batch_size)),
            progress=progress,
        )
        if progress and cache.reused:
            print(f"vocabulary: {cache.reused} terms' vectors reused from {term_cache}", file=sys.stderr)
        write_vocabulary(store, version, vocab)
        vocab_terms, vocab_seconds = len(vocab.pairs), vocab.seconds
    store.finalize(version)
    store.activate(version)
    seconds = time.perf_counter() - t0
    return ReindexSummary(
        str(version),
        len(products),
        report.skipped,
        seconds,
        len(products) / seconds,
        encode_s,
        reencoded=reencoded,
        reused=reused,
        deleted=max(previous.count - still_there, 0),
        incremental=incremental,
        vocabulary_pairs=vocab_terms,
        vocabulary_seconds=vocab_seconds,
        journal_applied=applied,
    )
