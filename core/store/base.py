"""One vector-store interface, several engines (Qdrant Edge in-process, Qdrant server / qdrant-client local).

An index *version* is an immutable, fully built copy of the catalogue vectors. The indexer writes a new
version next to the serving one and then switches the serving pointer atomically; the API only reads the
version the pointer names, and re-reads the pointer to pick up a new version without a restart.
"""

from __future__ import annotations

import abc
import math
import re
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

_VERSION_RE = re.compile(r"^(?P<model>[0-9a-z]{1,16})-(?P<data>[0-9a-f]{1,16})-(?P<stamp>\d{8}t\d{6}(?:\d{0,6}))$")


class StoreUnavailable(RuntimeError):
    """The engine cannot be reached (server down, shard missing): callers answer 503 and retry later."""


@dataclass(frozen=True)
class IndexVersion:
    """``<model fingerprint>-<catalogue hash>-<UTC timestamp>``: says which model and data built it."""

    model: str
    data: str
    stamp: str

    @classmethod
    def new(cls, model: str, data: str) -> IndexVersion:
        ns = time.time_ns()  # one clock read: seconds and microseconds from two reads could straddle a second
        stamp = time.strftime("%Y%m%dt%H%M%S", time.gmtime(ns // 1_000_000_000)) + f"{ns // 1000 % 1_000_000:06d}"
        return cls(model[:16].lower(), data[:16].lower(), stamp)

    @classmethod
    def parse(cls, name: str) -> IndexVersion | None:
        m = _VERSION_RE.match(name)
        return cls(m["model"], m["data"], m["stamp"]) if m else None

    def __str__(self) -> str:
        return f"{self.model}-{self.data}-{self.stamp}"

    def sort_key(self) -> tuple[str, str]:
        """Creation order: the timestamp (fixed width, so it sorts as text), ties broken by name."""
        return (self.stamp, str(self))


@dataclass(frozen=True)
class Filters:
    languages: tuple[str, ...] | None = None
    category: str | None = None  # matches the path and all its descendants ("Electronics" ⊇ "Electronics > Phones")
    min_price: float | None = None
    max_price: float | None = None
    brands: tuple[str, ...] | None = None  # exact brand names as listed (any of them)
    # (name, values) pairs: the product's attribute ``name`` is one of ``values``, for every pair
    attributes: tuple[tuple[str, tuple[str, ...]], ...] | None = None

    def is_empty(self) -> bool:
        return (
            not self.languages
            and self.category is None
            and self.min_price is None
            and self.max_price is None
            and not self.brands
            and not self.attributes
        )

    def admits(self, payload: Mapping[str, Any]) -> bool:
        """Whether a stored payload passes these filters: what the engines' filters mean, for brute-force checks."""
        if self.languages and payload.get("language") not in self.languages:
            return False
        if self.category is not None and self.category not in payload.get("category_prefixes", ()):
            return False
        price = payload.get("price")
        if self.min_price is not None and (price is None or price < self.min_price):
            return False
        if self.max_price is not None and (price is None or price > self.max_price):
            return False
        if self.brands and payload.get("brand") not in self.brands:
            return False
        attributes = payload.get("attributes") or {}
        return all(attributes.get(name) in values for name, values in self.attributes or ())


def attribute_key(name: str) -> str:
    """The payload key an attribute filter reads (attributes are stored as one nested object)."""
    return f"attributes.{name}"


@dataclass(frozen=True)
class Sparse:
    """A sparse vector: sorted unique u32 ``indices`` and float32 ``values`` (see core/lexical.py)."""

    indices: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


NO_TERMS = Sparse(np.empty(0, np.uint32), np.empty(0, np.float32))  # a query with no lexical side


# the payload fields a search hit carries: what a result shows and what reranking reads. Descriptions, attributes and
# bookkeeping stay in the engine (``retrieve`` returns the whole payload); converting them for 50 candidates per
# query cost more than the engine's own search
HIT_FIELDS: tuple[str, ...] = ("id", "language", "title", "category", "brand", "price", "currency")
# what a matching product carries for facets, sorting and paging (``matches``)
MATCH_FIELDS: tuple[str, ...] = ("id", "language", "category", "brand", "price", "currency")
# what every hybrid candidate carries at least (the reranker's inputs); ``with_display_fields`` adds the rest
CANDIDATE_FIELDS: tuple[str, ...] = ("id", "language")


@dataclass
class Hit:
    """A result. ``score`` ranks it (cosine for a dense search, the RRF score for a hybrid one); a hybrid search
    also reports its ``dense`` cosine with the query and its ``lexical`` BM25 score (None: not in the lexical
    candidates), and the stored ``vector`` when asked for (the reranker reads it)."""

    id: str
    score: float
    payload: dict = field(default_factory=dict)
    dense: float | None = None
    lexical: float | None = None
    vector: np.ndarray | None = None


@dataclass
class Matches:
    """Every product that matches a query under filters: of the dense top ``window``, those within ``dense_margin``
    of the best cosine, and of the products sharing a lexical term with the query, those scoring at least
    ``lexical_ratio`` of the best BM25 score; each once (dense order first, then the lexical-only ones by BM25).
    ``payloads`` carry MATCH_FIELDS and ``score`` (the cosine for a dense match, else the BM25 score); ``complete``
    is False when the lexical side had more matches than its cap (then the count is a lower bound)."""

    payloads: list[dict]
    dense_ids: frozenset[str]
    complete: bool

    @classmethod
    def union(
        cls,
        dense: Sequence[tuple[dict, float]],
        lexical: Sequence[tuple[dict, float]],
        cap: int,
        dense_margin: float = float("inf"),
        lexical_ratio: float = 0.0,
    ) -> Matches:
        out: dict[str, dict] = {}
        floor = dense[0][1] - dense_margin if dense else 0.0
        for payload, score in dense:
            if score >= floor:
                out.setdefault(payload["id"], {**payload, "score": score})
        dense_ids = frozenset(out)
        least = lexical[0][1] * lexical_ratio if lexical else 0.0
        for payload, score in lexical[:cap]:
            if score >= least:
                out.setdefault(payload["id"], {**payload, "score": score})
        return cls(list(out.values()), dense_ids, len(lexical) <= cap)


@dataclass
class StoredPoint:
    """A point as stored: what an incremental reindex copies into the next version instead of re-encoding."""

    id: str
    vector: np.ndarray  # float32, (dim,)
    payload: dict = field(default_factory=dict)


DENSE = ""  # the unnamed dense vector
LEXICAL = "lexical"  # the named sparse vector (BM25 term weights, IDF applied by the engine)


def payload_of(point: Any) -> dict[str, Any]:
    """A stored point's payload (the engines type it optional; every point written here has one)."""
    return point.payload or {}


def stored_vector(raw: object) -> np.ndarray:
    """The unnamed dense vector of a retrieved record; engines return it bare or as ``{"": [...], "lexical": ..}``."""
    if isinstance(raw, dict):
        if DENSE not in raw:
            raise ValueError(f"expected an unnamed dense vector per point, got vectors {sorted(raw)}")
        raw = raw[DENSE]
    return np.asarray(raw, dtype=np.float32)


def validate_sparse(sparse: Sequence[Sparse] | None, n: int) -> Sequence[Sparse] | None:
    if sparse is not None and len(sparse) != n:
        raise ValueError(f"got {n} points but {len(sparse)} sparse vectors: they must match")
    return sparse


@lru_cache(maxsize=1 << 16)
def point_uuid(product_id: str) -> uuid.UUID:
    """Qdrant point ids must be integers or UUIDs: derive a stable UUID from the product id (memoised: every
    search reads its shown products by point id)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"lira:{product_id}")


def point_id(product_id: str) -> str:
    """``point_uuid`` as the engines' APIs take it."""
    return str(point_uuid(product_id))


# Payload fields that get an index in every engine that supports payload indexes.
KEYWORD_FIELDS = ("language", "category_prefixes", "id", "brand")
FLOAT_FIELDS = ("price",)


@dataclass(frozen=True)
class IndexTuning:
    """How an engine lays out and searches an index version: the same meaning on Edge and on a Qdrant server.

        Build-time (fixed when a version is created, kept in it): ``quantization`` "int8" keeps a scalar-quantised copy
        of the dense vectors in RAM for the HNSW search (a quarter of the fp32 size), the fp32 originals rescoring the
        best ``oversampling`` × k; ``vectors_on_disk`` / ``hnsw_on_disk`` / ``payload_on_disk`` memory-map the fp32
        vectors, the graph and the payloads instead of loading them; ``hnsw_m`` / ``hnsw_ef_construct`` are the graph's
        edges per node and its build beam, ``full_scan_kb`` the size of a filter's matches (in KB of vectors) under
    which a filtered search scans them instead of walking the graph (HNSW recall falls when most nodes fail the
    filter). Search-time: ``hnsw_ef`` the search beam (None: the engine's default, 128
        or k), ``rescore`` and ``oversampling``."""

    quantization: str = "none"  # "none" | "int8"
    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    full_scan_kb: int = 10_000  # a filter matching less vector data than this is searched exactly, not through HNSW
    hnsw_ef: int | None = None
    oversampling: float = 2.0
    rescore: bool = True
    vectors_on_disk: bool = False
    hnsw_on_disk: bool = False
    payload_on_disk: bool = True  # both engines' default

    def __post_init__(self) -> None:
        if self.quantization not in ("none", "int8"):
            raise ValueError(f'quantization must be "none" or "int8", got {self.quantization!r}')
        if self.hnsw_m < 4 or self.hnsw_ef_construct < 4:
            raise ValueError("hnsw_m and hnsw_ef_construct must be at least 4")
        if self.hnsw_ef is not None and self.hnsw_ef < 1:
            raise ValueError("hnsw_ef must be at least 1 (or None for the engine's default)")
        if self.oversampling < 1.0:
            raise ValueError(f"oversampling must be at least 1.0, got {self.oversampling}")

    def search_params(self, params: Callable[..., T], quantization: Callable[..., object]) -> T | None:
        """The dense search's parameters in an engine's classes (``SearchParams``, ``QuantizationSearchParams`` of
        qdrant_edge or qdrant-client, which take the same keywords); None: the engine's defaults."""
        if self.hnsw_ef is None and self.quantization == "none":
            return None
        rescoring = (
            quantization(rescore=self.rescore, oversampling=self.oversampling) if self.quantization != "none" else None
        )
        return params(hnsw_ef=self.hnsw_ef, quantization=rescoring)


def validate_batch(ids: Sequence[str], vectors: np.ndarray, payloads: Sequence[dict], dim: int) -> np.ndarray:
    """Check an upsert batch up front, so a bad batch fails with a clear message instead of an engine error."""
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise ValueError(f"vectors must have shape (n, {dim}) for this version, got {arr.shape}")
    if not len(ids) == len(payloads) == arr.shape[0]:
        raise ValueError(f"got {len(ids)} ids, {arr.shape[0]} vectors and {len(payloads)} payloads: they must match")
    if not np.isfinite(arr).all():
        raise ValueError("vectors contain NaN or infinity: check the encoder output")
    return arr


def versions_to_drop(
    versions: Sequence[IndexVersion], current: IndexVersion, keep: int, finished: Callable[[IndexVersion], bool]
) -> list[IndexVersion]:
    """Retention after a switch: keep ``current`` and the ``keep - 1`` newest finished versions older than it.

    Versions newer than ``current`` are never dropped (a writer may still be filling them), and unfinished older ones
    always are (they can never be served)."""
    older = [v for v in versions if v.sort_key() < current.sort_key()]
    kept = set(sorted((v for v in older if finished(v)), key=IndexVersion.sort_key, reverse=True)[: keep - 1])
    return [v for v in older if v not in kept]


class VectorStore(abc.ABC):
    """What the indexer writes through and the API reads through. Vectors are L2-normalised float32;
    scores are cosine similarities (higher is better)."""

    # reads are in-process and sub-millisecond once ``open_current`` has opened the serving version: the API calls
    # them on its event loop, where a worker thread's hand-off would cost more than the read (and, the engine
    # being in-process, could not be timed out either)
    local_reads: bool = False

    # ---- writing (indexer only) -------------------------------------------------------------
    @abc.abstractmethod
    def create_version(self, version: IndexVersion, dim: int) -> None:
        """Create an empty, not-yet-serving version with payload indexes."""

    @abc.abstractmethod
    def upsert(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
    ) -> None:
        """Write a batch of points into a version that is not serving yet. ``ids`` are product ids; ``sparse``
        are their lexical vectors (core.lexical.document_vector), absent = no lexical terms."""

    @abc.abstractmethod
    def finalize(self, version: IndexVersion) -> None:
        """Make the version search-ready (build HNSW, flush to disk). Blocking; indexer process only."""

    @abc.abstractmethod
    def write_sidecar(self, version: IndexVersion, name: str, data: dict) -> None:
        """Keep ``data`` (JSON) under ``name`` with a version that is not finalized yet: what was derived from the
        same catalogue and must be read with its vectors (the catalogue vocabulary). Indexer only."""

    @abc.abstractmethod
    def read_sidecar(self, version: IndexVersion, name: str) -> dict | None:
        """What ``write_sidecar`` kept under ``name`` with ``version``; None if nothing was."""

    @abc.abstractmethod
    def activate(self, version: IndexVersion) -> None:
        """Atomically make ``version`` the serving one, then drop versions beyond ``keep_versions``."""

    @abc.abstractmethod
    def drop_version(self, version: IndexVersion) -> None:
        """Delete a version that is not serving (e.g. an abandoned, half-written one)."""

    @abc.abstractmethod
    def list_versions(self) -> list[IndexVersion]:
        """All versions present, serving or not, oldest first."""

    # ---- the document API (API only) ---------------------------------------------------------
    @abc.abstractmethod
    def write_live(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
        deletes: Sequence[str] = (),
    ) -> None:
        """Upsert points into, and delete ``deletes`` from, ``version`` while it serves: the one write the API
        makes (even on a store opened read-only, which writes no versions). Searches see the points at once.
        Raises StoreUnavailable when ``version`` no longer serves. Durability is the journal's (core.journal)."""

    # ---- reading (API) ----------------------------------------------------------------------
    @abc.abstractmethod
    def current_version(self) -> IndexVersion | None:
        """The serving version (re-read from the pointer / alias on every call), or None if none."""

    def open_current(self) -> IndexVersion | None:
        """``current_version``, with whatever the engine needs to search it opened now (Edge: the shard of a version
        that just started serving), so that the reads after it find it open."""
        return self.current_version()

    def opened_version(self) -> IndexVersion | None:
        """The version ``open_current`` last opened in this process, known without any I/O (None: nothing is open,
        or the engine keeps nothing open: the server's)."""
        return None

    @abc.abstractmethod
    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None, exact: bool = False) -> list[Hit]:
        """Top-k by cosine in the serving version; ``exact`` bypasses HNSW."""

    def hybrid_search(
        self,
        vector: np.ndarray,
        sparse: Sparse,
        k: int,
        filters: Filters | None = None,
        prefetch: int = 50,
        rrf_k: int = 60,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Dense top-``prefetch`` and lexical top-``prefetch`` (both filtered) fused by reciprocal rank fusion in
        the engine, top-k; hits carry ``dense`` and ``lexical`` scores (and vectors when ``with_vectors``). An empty
        ``sparse`` (no terms) fuses the dense list alone. A hit's payload has at least CANDIDATE_FIELDS: pass the
        hits to be shown through ``with_display_fields``."""
        if k < 1 or prefetch < 1:
            raise ValueError(f"k and prefetch must be at least 1, got {k} and {prefetch}")
        query = np.asarray(vector, dtype=np.float32)
        fused, lexical = self._hybrid_query(query, sparse, k, filters, prefetch, rrf_k)
        lexical_scores = {h.id: h.score for h in lexical}
        for h in fused:
            if h.vector is not None:
                h.dense = float(h.vector @ query)
            h.lexical = lexical_scores.get(h.id)
            if not with_vectors:
                h.vector = None
        return fused

    @abc.abstractmethod
    def _hybrid_query(
        self, query: np.ndarray, sparse: Sparse, k: int, filters: Filters | None, prefetch: int, rrf_k: int
    ) -> tuple[list[Hit], list[Hit]]:
        """The engine's part of ``hybrid_search``, one round trip: the fused top-k with their dense vectors, and
        the lexical top-``prefetch`` (id and score; empty when ``sparse`` has no terms)."""

    def with_display_fields(self, hits: Sequence[Hit]) -> list[Hit]:
        """``hits`` (from ``hybrid_search``) with every HIT_FIELDS field in their payloads, read for those that lack
        them. A hit whose product is no longer in the serving version (it moved in between) is left out."""
        missing = [h.id for h in hits if "title" not in h.payload]
        if not missing:
            return list(hits)
        found = self._display_payloads(missing)
        out = []
        for h in hits:
            if "title" not in h.payload:
                if h.id not in found:
                    continue
                h.payload = {**{f: found[h.id][f] for f in HIT_FIELDS if f in found[h.id]}, **h.payload}
            out.append(h)
        return out

    def _display_payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        """Payloads of the serving version's products ``ids`` (at least HIT_FIELDS), by product id."""
        return {p.id: p.payload for p in self.retrieve(ids)}

    def matches(
        self,
        vector: np.ndarray,
        sparse: Sparse,
        filters: Filters | None,
        window: int,
        lexical_cap: int,
        dense_margin: float = float("inf"),
        lexical_ratio: float = 0.0,
    ) -> Matches:
        """The products matching a query under ``filters`` (``Matches``): of the dense top-``window`` and of up to
        ``lexical_cap`` lexical matches, those close enough to the best of their side. With a cut, the engine finds
        each side's best score first and then returns only what passes it, so only what can match is converted."""
        if window < 1 or lexical_cap < 1:
            raise ValueError(f"window and lexical_cap must be at least 1, got {window} and {lexical_cap}")
        query = np.asarray(vector, dtype=np.float32)
        dense_floor = lexical_floor = None
        cut_dense, cut_lexical = math.isfinite(dense_margin), lexical_ratio > 0 and len(sparse) > 0
        if cut_dense or cut_lexical:
            best_dense, best_lexical = self._best_scores(query, sparse if cut_lexical else NO_TERMS, filters)
            # a hair below the exact bounds: the engine compares the same floats ``Matches.union`` does
            if cut_dense and best_dense is not None:
                dense_floor = best_dense - dense_margin - 1e-6
            if best_lexical is not None:
                lexical_floor = best_lexical * lexical_ratio * (1 - 1e-6)
        dense, lexical = self._match_query(query, sparse, filters, window, lexical_cap, dense_floor, lexical_floor)
        return Matches.union(dense, lexical, lexical_cap, dense_margin, lexical_ratio)

    @abc.abstractmethod
    def _best_scores(
        self, query: np.ndarray, sparse: Sparse, filters: Filters | None
    ) -> tuple[float | None, float | None]:
        """The best dense and the best lexical score under ``filters`` (None: nothing on that side, or ``sparse``
        has no terms): one round trip of two one-point searches."""

    @abc.abstractmethod
    def _match_query(
        self,
        query: np.ndarray,
        sparse: Sparse,
        filters: Filters | None,
        window: int,
        lexical_cap: int,
        dense_floor: float | None,
        lexical_floor: float | None,
    ) -> tuple[list[tuple[dict, float]], list[tuple[dict, float]]]:
        """The engine's part of ``matches``: (payload with MATCH_FIELDS, score) of the dense top-``window`` and of
        up to ``lexical_cap + 1`` lexical matches (none when ``sparse`` has no terms), each side cut by the engine
        at its floor (``score_threshold``; None: no cut)."""

    @abc.abstractmethod
    def count(self, filters: Filters | None = None) -> int:
        """Points in the serving version matching ``filters``."""

    @abc.abstractmethod
    def scan_payloads(self, fields: Sequence[str], batch: int = 1024) -> Iterator[dict]:
        """Every point's ``fields`` in the serving version, ``batch`` points per engine round trip (for what is
        derived from the whole index, e.g. the spelling vocabulary). Raises StoreUnavailable when nothing serves."""

    @abc.abstractmethod
    def retrieve(self, ids: Sequence[str]) -> list[StoredPoint]:
        """Points of the serving version by product id, with vectors and payloads, in the order of ``ids``;
        unknown ids are left out. Raises StoreUnavailable when nothing serves."""

    def counts_by_language(self, languages: Sequence[str]) -> dict[str, int]:
        return {lang: self.count(Filters(languages=(lang,))) for lang in languages}

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files / connections."""
