"""Qdrant Edge (the Qdrant engine, in-process): one shard directory per index version, a pointer file names the
serving one.

Layout under ``<index_dir>/<collection>/``::

    CURRENT                        name of the serving version, replaced atomically (temp file, fsync, rename)
    versions/<version>/            the Edge shard of one version
    versions/<version>/COMPLETE    written last by finalize(): a version without it is never served
    versions/<version>/dense.f32   the dense vectors again, raw float32 rows (row number in each point's ``_row``)
    versions/<version>/rows.json   each row's product id and language, in row order

A version is written once, by one indexer process, and never changes afterwards. So its shard runs without a
write-ahead log: finalize() flushes it, a version killed before that is never served, and nothing holds the WAL's
file lock, which would otherwise stop the API from opening the serving shard while an indexer process has it open.
The indexer only ever creates new version directories and the API only opens the current one.

``dense.f32`` is memory-mapped by the API: a hybrid search that feeds the reranker reads its 50 candidates' vectors
from there instead of having the engine turn each into a Python list (about half of such a query's cost). A version
without the file (built before it existed) or with a file of the wrong size is served the slower way.
``rows.json`` lets the hybrid query ask the engine for point ids and scores only: each candidate's product id and
language come from the row its point id maps to, and the display fields are read for the shown results alone
(``with_display_fields``): reading the payloads of all 50 candidates cost as much as the engine's fused search.

qdrant_edge 0.9.0 holds the GIL for the whole of ``optimize()`` and for most of a shard load: HNSW builds belong in
the indexer process, and the API opens a newly serving version's shard in ``open_current`` (which it runs off its
event loop); searches are sub-millisecond in-process reads, which the API runs on its event loop (``local_reads``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import qdrant_edge as qe

from core.store.base import (
    CANDIDATE_FIELDS,
    DENSE,
    FLOAT_FIELDS,
    HIT_FIELDS,
    KEYWORD_FIELDS,
    LEXICAL,
    MATCH_FIELDS,
    Filters,
    Hit,
    IndexTuning,
    IndexVersion,
    Sparse,
    StoredPoint,
    StoreUnavailable,
    VectorStore,
    attribute_key,
    payload_of,
    point_uuid,
    stored_vector,
    validate_batch,
    validate_sparse,
    versions_to_drop,
)

POINTER = "CURRENT"
MARKER = "COMPLETE"
DENSE_FILE = "dense.f32"
ROWS_FILE = "rows.json"
SIDECAR_PREFIX = "sidecar."  # + name + ".json": JSON kept with the version (write_sidecar)
ROW = "_row"  # payload key: the point's row in DENSE_FILE
_DROPPING = ".dropping-"  # a version being deleted is renamed first, so a half-deleted one never looks whole


def _atomic_write(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never a torn one, even across a crash."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def edge_filter(filters: Filters | None) -> qe.Filter | None:
    if filters is None or filters.is_empty():
        return None
    must: list[Any] = []
    if filters.languages:
        must.append(qe.FieldCondition(key="language", match=qe.MatchAny(list(filters.languages))))
    if filters.category is not None:
        must.append(qe.FieldCondition(key="category_prefixes", match=qe.MatchValue(filters.category)))
    if filters.min_price is not None or filters.max_price is not None:
        price = qe.RangeFloat(gte=filters.min_price, lte=filters.max_price)
        must.append(qe.FieldCondition(key="price", range=price))
    if filters.brands:
        must.append(qe.FieldCondition(key="brand", match=qe.MatchAny(list(filters.brands))))
    for name, values in filters.attributes or ():
        must.append(qe.FieldCondition(key=attribute_key(name), match=qe.MatchAny(list(values))))
    return qe.Filter(must=must)


# an exact search reads the fp32 vectors, never the int8 copy
_EXACT = qe.SearchParams(exact=True, quantization=qe.QuantizationSearchParams(ignore=True))


def _hit(payload: dict, score: float, vector: object = None) -> Hit:
    payload.pop(ROW, None)
    return Hit(payload["id"], score, payload, vector=None if vector is None else stored_vector(vector))


class _Serving(NamedTuple):
    version: IndexVersion
    shard: qe.EdgeShard
    dim: int
    dense: np.ndarray | None  # DENSE_FILE memory-mapped; None when absent or not the size the marker promises
    rows: _RowTable | None  # ROWS_FILE; None likewise (or without ``dense``: then candidates read payloads)
    # points the document API wrote since the version was opened (point id → product id): the tables above do not
    # hold them (or hold their old vector), so candidates among them are read from the engine
    live: dict[uuid.UUID, str]


class _DenseRows:
    """A version's DENSE_FILE while the indexer writes it (raw float32 rows appended batch after batch), and the
    product id and language of each row for ROWS_FILE."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed by finalize(), drop_version() or close()
        self.rows = 0
        self.ids: list[str] = []
        self.languages: list[str] = []

    def append(self, vectors: np.ndarray, ids: Sequence[str], languages: Sequence[str]) -> int:
        """Writes ``vectors``; returns the row number of the first."""
        first = self.rows
        self._file.write(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
        self.rows += len(vectors)
        self.ids.extend(ids)
        self.languages.extend(languages)
        return first

    def close(self, sync: bool = False) -> None:
        if sync:
            self._file.flush()
            os.fsync(self._file.fileno())
        self._file.close()


class _RowTable(NamedTuple):
    """ROWS_FILE of a serving version: what a candidate needs without its payload."""

    ids: list[str]
    languages: list[str]
    by_point: dict[uuid.UUID, int]  # point id → row (an id written twice maps to its newest row, as in the engine)


def _load_rows(path: Path, rows: object) -> _RowTable | None:
    """``path`` as a row table of ``rows`` rows, or None when absent, unreadable or not that size."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        ids, languages = data["ids"], data["languages"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if (
        not isinstance(rows, int)
        or not isinstance(ids, list)
        or not isinstance(languages, list)
        or not len(ids) == len(languages) == rows
    ):
        return None
    return _RowTable(ids, languages, {point_uuid(pid): row for row, pid in enumerate(ids)})


def _edge_sparse(sparse: Sparse) -> qe.SparseVector:
    return qe.SparseVector(indices=sparse.indices.tolist(), values=sparse.values.tolist())


def _edge_points(
    ids: Sequence[str],
    arr: np.ndarray,
    payloads: Sequence[dict],
    sparse: Sequence[Sparse] | None,
    first_row: int | None = None,
) -> list[qe.Point]:
    """Points as Edge stores them: the dense vector, the lexical one when it has terms, the payload with the product
    id and, for a version being written, the point's row in the dense and row tables (``first_row`` + position)."""
    points = []
    for i, (pid, vec, payload) in enumerate(zip(ids, arr.tolist(), payloads, strict=True)):
        named: dict = {DENSE: vec}
        if sparse is not None and len(sparse[i]):
            named[LEXICAL] = _edge_sparse(sparse[i])
        extra = {"id": pid} if first_row is None else {"id": pid, ROW: first_row + i}
        points.append(qe.Point(point_uuid(pid), named, {**payload, **extra}))
    return points


def _map_dense(path: Path, rows: object, dim: int) -> np.ndarray | None:
    """``path`` memory-mapped as ``rows`` × ``dim`` float32, or None when absent or not that size."""
    try:
        if not isinstance(rows, int) or rows < 1 or path.stat().st_size != rows * dim * 4:
            return None
        return np.memmap(path, dtype=np.float32, mode="r", shape=(rows, dim))
    except (OSError, ValueError):
        return None


class EdgeStore(VectorStore):
    """Versions as Edge shards on local disk; see the module docstring for the layout and its guarantees."""

    local_reads = True

    def __init__(
        self,
        index_dir: Path,
        collection: str = "products",
        *,
        keep_versions: int = 2,
        hnsw_threshold_kb: int | None = None,
        read_only: bool = False,
        tuning: IndexTuning | None = None,
    ) -> None:
        """``hnsw_threshold_kb``: segments with more vector data than this get an HNSW graph in finalize(); None
        keeps Qdrant's default (10 MB, ~6.5k vectors of 384-d), below which brute force is as fast. ``tuning``:
        quantisation, HNSW and memory placement of new versions and the search parameters (``IndexTuning``)."""
        if keep_versions < 1:
            raise ValueError("keep_versions must be at least 1 (the serving version)")
        self.root = Path(index_dir) / collection
        self._versions_dir = self.root / "versions"
        self._pointer = self.root / POINTER
        self._keep = keep_versions
        self._hnsw_threshold_kb = hnsw_threshold_kb
        self._read_only = read_only
        self._tuning = tuning or IndexTuning()
        self._params = self._tuning.search_params(qe.SearchParams, qe.QuantizationSearchParams)
        self._writers: dict[IndexVersion, tuple[qe.EdgeShard, int]] = {}
        self._dense_out: dict[IndexVersion, _DenseRows] = {}
        self._lock = threading.Lock()
        self._serving: _Serving | None = None
        self._pointer_seen: tuple[tuple[int, int, int], IndexVersion] | None = None

    # ---- layout ---------------------------------------------------------------------------------
    def _dir(self, version: IndexVersion) -> Path:
        return self._versions_dir / str(version)

    def _finished(self, version: IndexVersion) -> bool:
        return (self._dir(version) / MARKER).is_file()

    def _check_writable(self) -> None:
        if self._read_only:
            raise PermissionError(f"this store at {self.root} was opened read-only: only the indexer writes the index")

    # ---- writing --------------------------------------------------------------------------------
    def create_version(self, version: IndexVersion, dim: int) -> None:
        self._check_writable()
        if dim < 1:
            raise ValueError(f"dim must be the encoder's output size (at least 1), got {dim}")
        path = self._dir(version)
        self._versions_dir.mkdir(parents=True, exist_ok=True)
        try:
            path.mkdir()
        except FileExistsError:
            raise ValueError(f"index version {version} already exists at {path}: create a new version") from None
        optimizers = (
            qe.EdgeOptimizersConfig(indexing_threshold=self._hnsw_threshold_kb)
            if self._hnsw_threshold_kb is not None
            else None
        )
        t = self._tuning
        quantization = (
            qe.ScalarQuantizationConfig(qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned)
            if t.quantization == "int8"
            else None
        )
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(
                size=dim, distance=qe.Distance.Cosine, memory=qe.Memory.Cold if t.vectors_on_disk else None
            ),
            sparse_vectors={LEXICAL: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)},
            hnsw_config=qe.HnswIndexConfig(
                t.hnsw_m,
                t.hnsw_ef_construct,
                full_scan_threshold=t.full_scan_kb,
                memory=qe.Memory.Cold if t.hnsw_on_disk else None,
            ),
            quantization_config=quantization,
            payload_memory=qe.Memory.Cold if t.payload_on_disk else qe.Memory.Cached,
            optimizers=optimizers,
            wal_enabled=False,
        )
        shard = qe.EdgeShard.create(str(path), config)
        for name in KEYWORD_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Keyword))
        for name in FLOAT_FIELDS:
            shard.update(qe.UpdateOperation.create_field_index(name, qe.PayloadSchemaType.Float))
        self._writers[version] = (shard, dim)
        self._dense_out[version] = _DenseRows(path / DENSE_FILE)

    def _writer(self, version: IndexVersion) -> tuple[qe.EdgeShard, int]:
        self._check_writable()
        try:
            return self._writers[version]
        except KeyError:
            state = "is already finalized" if self._finished(version) else "was not created by this store"
            raise ValueError(
                f"index version {version} {state}: an indexer writes a version from create_version() to finalize() "
                "in one process; start a new version instead"
            ) from None

    def upsert(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
    ) -> None:
        shard, dim = self._writer(version)
        arr = validate_batch(ids, vectors, payloads, dim)
        sparse = validate_sparse(sparse, len(ids))
        # an id written twice keeps its newest row: the payload (and its _row) is replaced with the point
        first = self._dense_out[version].append(arr, ids, [p.get("language", "") for p in payloads])
        shard.update(qe.UpdateOperation.upsert_points(_edge_points(ids, arr, payloads, sparse, first)))

    def finalize(self, version: IndexVersion) -> None:
        """Build HNSW, flush, reopen once, then mark the version complete.

        ``optimize()`` holds the GIL for its whole run, so only the indexer process calls this. The reopen proves the
        shard loads before it can be served, and settles the metadata Edge rewrites on a shard's first load."""
        shard, dim = self._writer(version)
        dense = self._dense_out.pop(version)
        dense.close(sync=True)
        _atomic_write(self._dir(version) / ROWS_FILE, json.dumps({"ids": dense.ids, "languages": dense.languages}))
        shard.optimize()
        shard.flush()
        shard.close()
        del self._writers[version]
        qe.EdgeShard.load(str(self._dir(version))).close()
        marker = {"version": str(version), "dim": dim, "dense_rows": dense.rows}
        _atomic_write(self._dir(version) / MARKER, json.dumps(marker))

    def write_sidecar(self, version: IndexVersion, name: str, data: dict) -> None:
        self._check_writable()
        if not self._dir(version).is_dir() or self._finished(version):
            state = "is already finalized" if self._finished(version) else "does not exist"
            raise ValueError(f"index version {version} {state}: sidecars go with an unfinished version")
        _atomic_write(self._sidecar(version, name), json.dumps(data, ensure_ascii=False))

    def read_sidecar(self, version: IndexVersion, name: str) -> dict | None:
        path = self._sidecar(version, name)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None

    def _sidecar(self, version: IndexVersion, name: str) -> Path:
        if not name.isidentifier():
            raise ValueError(f"sidecar name {name!r} must be an identifier")
        return self._dir(version) / f"{SIDECAR_PREFIX}{name}.json"

    def activate(self, version: IndexVersion) -> None:
        self._check_writable()
        if not self._finished(version):
            raise ValueError(
                f"index version {version} is not finalized (no {MARKER} in {self._dir(version)}): "
                "finalize() it before activating it"
            )
        _atomic_write(self._pointer, f"{version}\n")
        self._sweep_dropping()
        for old in versions_to_drop(self.list_versions(), version, self._keep, self._finished):
            self.drop_version(old)

    def drop_version(self, version: IndexVersion) -> None:
        self._check_writable()
        if version == self.current_version():
            raise ValueError(f"index version {version} is serving: activate another version before dropping it")
        if version in self._writers:
            self._writers.pop(version)[0].close()
        if version in self._dense_out:
            self._dense_out.pop(version).close()
        with self._lock:
            if self._serving is not None and self._serving.version == version:  # read by an incremental reindex
                self._serving.shard.close()
                self._serving = None
        path = self._dir(version)
        if not path.exists():
            return
        doomed = path.with_name(f"{_DROPPING}{path.name}")
        os.replace(path, doomed)
        shutil.rmtree(doomed)

    def _sweep_dropping(self) -> None:
        """Finish deletions a killed indexer left half done."""
        for path in self._versions_dir.glob(f"{_DROPPING}*"):
            shutil.rmtree(path, ignore_errors=True)

    def list_versions(self) -> list[IndexVersion]:
        if not self._versions_dir.is_dir():
            return []
        found = (IndexVersion.parse(p.name) for p in self._versions_dir.iterdir() if p.is_dir())
        return sorted((v for v in found if v is not None), key=IndexVersion.sort_key)

    # ---- reading --------------------------------------------------------------------------------
    def current_version(self) -> IndexVersion | None:
        """Re-read the pointer only when its inode, mtime or size changed: one stat per call."""
        try:
            st = os.stat(self._pointer)
        except FileNotFoundError:
            if self._pointer_seen is None:
                return None
            # activate() only ever replaces the pointer: if it vanished, the index directory was moved or deleted.
            raise StoreUnavailable(
                f"the index pointer {self._pointer} disappeared: restore {self.root} or re-run the indexer"
            ) from None
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
        seen = self._pointer_seen
        if seen is not None and seen[0] == key:
            return seen[1]
        try:
            text = self._pointer.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise StoreUnavailable(
                f"cannot read the index pointer {self._pointer} ({exc}): re-run the indexer"
            ) from exc
        version = IndexVersion.parse(text)
        if version is None:
            raise StoreUnavailable(
                f"the index pointer {self._pointer} is corrupt ({text[:60]!r} is not a version name): write the name "
                f"of a finished version under {self._versions_dir} into it, or re-run the indexer"
            )
        self._pointer_seen = (key, version)
        return version

    def open_current(self) -> IndexVersion | None:
        version = self.current_version()
        if version is not None:
            self._open_serving()
        return version

    def opened_version(self) -> IndexVersion | None:
        serving = self._serving
        return serving.version if serving is not None else None

    def _open_serving(self) -> _Serving:
        """The serving shard, reopened whenever the pointer moved. The replaced shard is not closed explicitly:
        searches still running on it would fail; dropping the last reference closes it once they return."""
        version = self.current_version()
        if version is None:
            raise StoreUnavailable(f"no index version is serving under {self.root} yet: run the indexer")
        with self._lock:
            if self._serving is None or self._serving.version != version:
                self._serving = self._load(version)
            return self._serving

    def _load(self, version: IndexVersion) -> _Serving:
        path = self._dir(version)
        try:
            marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
            dim = int(marker["dim"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StoreUnavailable(
                f"the serving index version {version} is missing or unfinished at {path} ({exc}): re-run the indexer, "
                f"or write the name of a finished version into {self._pointer}"
            ) from exc
        try:
            shard = qe.EdgeShard.load(str(path))
        except Exception as exc:  # qdrant_edge raises bare Exception for every engine error
            raise StoreUnavailable(
                f"cannot open the shard of index version {version} at {path} ({exc}): re-run the indexer"
            ) from exc
        dense = _map_dense(path / DENSE_FILE, marker.get("dense_rows"), dim)
        rows = _load_rows(path / ROWS_FILE, marker.get("dense_rows")) if dense is not None else None
        return _Serving(version, shard, dim, dense, rows, {})

    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None, exact: bool = False) -> list[Hit]:
        _, shard, dim, _, _, _ = self._open_serving()
        query = np.asarray(vector, dtype=np.float32)
        if query.shape != (dim,):
            raise ValueError(f"query vector must have shape ({dim},) for the serving index, got {query.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        request = qe.QueryRequest(
            limit=k,
            query=qe.Query.Nearest(query.tolist()),
            filter=edge_filter(filters),
            with_payload=list(HIT_FIELDS),
            params=_EXACT if exact else self._params,
        )
        return [_hit(payload_of(p), p.score) for p in shard.query(request)]

    def _hybrid_query(
        self, query: np.ndarray, sparse: Sparse, k: int, filters: Filters | None, prefetch: int, rrf_k: int
    ) -> tuple[list[Hit], list[Hit]]:
        serving = self._open_serving()
        _, shard, dim, table, rows, _ = serving
        if query.shape != (dim,):
            raise ValueError(f"query vector must have shape ({dim},) for the serving index, got {query.shape}")
        flt = edge_filter(filters)
        stages = [qe.Prefetch(limit=prefetch, query=qe.Query.Nearest(query.tolist()), filter=flt, params=self._params)]
        lexical = None
        if len(sparse):
            lexical_query = qe.Query.Nearest(_edge_sparse(sparse), using=LEXICAL)
            stages.append(qe.Prefetch(limit=prefetch, query=lexical_query, filter=flt))
            lexical = qe.QueryRequest(
                limit=prefetch, query=lexical_query, filter=flt, with_payload=False if rows is not None else ["id"]
            )
        if rows is not None:  # point ids and scores only: the row table has the rest
            fields: list[str] | bool = False
        else:
            fields = [*HIT_FIELDS, ROW] if table is not None else list(HIT_FIELDS)
        fused = qe.QueryRequest(
            limit=k,
            prefetches=stages,
            query=cast(Any, qe.Fusion.Rrf(k=rrf_k)),  # the stub omits Rrf from the union
            filter=flt,
            with_payload=fields,
            # the dense vector only (the sparse one would be converted for nothing), and only without the table
            with_vector=False if table is not None else [DENSE],
        )
        results = shard.query_batch(qe.QueryBatchRequest([fused] if lexical is None else [fused, lexical]))
        lexical_hits = results[1] if lexical is not None else []
        # every ``.payload`` / ``.vector`` access converts from the engine's Rust objects: read each once
        if rows is not None and table is not None:
            live = serving.live
            found = [(cast(uuid.UUID, p.id), p.score) for p in results[0]]
            fetched = self._live_candidates(shard, [pid for pid, _ in found if pid in live]) if live else {}
            tabled = [rows.by_point[pid] for pid, _ in found if pid not in fetched]
            vectors = iter(np.array(table[tabled]) if tabled else np.zeros((0, dim), np.float32))
            hits = []
            for pid, score in found:
                if pid in fetched:
                    hits.append(Hit(fetched[pid][0]["id"], score, fetched[pid][0], vector=fetched[pid][1]))
                else:
                    row = rows.by_point[pid]
                    hits.append(
                        Hit(
                            rows.ids[row],
                            score,
                            {"id": rows.ids[row], "language": rows.languages[row]},
                            vector=next(vectors),
                        )
                    )
            lexical_ids = [
                live.get(pid) or rows.ids[rows.by_point[pid]] for pid in (cast(uuid.UUID, p.id) for p in lexical_hits)
            ]
            return hits, [Hit(i, p.score) for i, p in zip(lexical_ids, lexical_hits, strict=True)]
        if table is not None:
            payloads = [(payload_of(p), p.score) for p in results[0]]
            if all(ROW in payload for payload, _ in payloads):
                at = table[[payload[ROW] for payload, _ in payloads]] if payloads else table[:0]
                return [
                    _hit(payload, score, row) for (payload, score), row in zip(payloads, np.array(at), strict=True)
                ], [Hit(payload_of(p)["id"], p.score) for p in lexical_hits]
            # points the document API wrote have no table row: read every vector from the engine this time
            ids: list[int | uuid.UUID | str] = [cast(uuid.UUID, p.id) for p in results[0]]
            got = {r.id: r for r in shard.retrieve(ids, False, [DENSE])}
            hits = [_hit(payload, score, got[pid].vector) for (payload, score), pid in zip(payloads, ids, strict=True)]
        else:
            hits = [_hit(payload_of(p), p.score, p.vector) for p in results[0]]
        return hits, [Hit(payload_of(p)["id"], p.score) for p in lexical_hits]

    @staticmethod
    def _live_candidates(shard: qe.EdgeShard, ids: list[uuid.UUID]) -> dict[uuid.UUID, tuple[dict, np.ndarray]]:
        """Payload (CANDIDATE_FIELDS) and vector of points the document API wrote, from the engine."""
        if not ids:
            return {}
        records = shard.retrieve(list[int | uuid.UUID | str](ids), list(CANDIDATE_FIELDS), [DENSE])
        return {cast(uuid.UUID, r.id): (payload_of(r), stored_vector(r.vector)) for r in records}

    # ---- the document API: writes into the serving version -------------------------------------
    def write_live(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
        deletes: Sequence[str] = (),
    ) -> None:
        serving = self._open_serving()
        if serving.version != version:
            raise StoreUnavailable(f"the serving version moved from {version} to {serving.version}: write again")
        arr = validate_batch(ids, vectors, payloads, serving.dim) if len(ids) else None
        sparse = validate_sparse(sparse, len(ids))
        with self._lock:
            if arr is not None:  # no table rows: until the next version, these points are read from the engine
                serving.shard.update(qe.UpdateOperation.upsert_points(_edge_points(ids, arr, payloads, sparse)))
                serving.live.update({point_uuid(pid): pid for pid in ids})
            if deletes:
                serving.shard.update(qe.UpdateOperation.delete_points([point_uuid(pid) for pid in deletes]))
                for pid in deletes:
                    serving.live.pop(point_uuid(pid), None)

    def _best_scores(
        self, query: np.ndarray, sparse: Sparse, filters: Filters | None
    ) -> tuple[float | None, float | None]:
        shard = self._open_serving().shard
        flt = edge_filter(filters)
        best = [
            qe.QueryRequest(
                limit=1, query=qe.Query.Nearest(query.tolist()), filter=flt, with_payload=False, params=self._params
            )
        ]
        if len(sparse):
            lexical_query = qe.Query.Nearest(_edge_sparse(sparse), using=LEXICAL)
            best.append(qe.QueryRequest(limit=1, query=lexical_query, filter=flt, with_payload=False))
        tops = [r[0].score if r else None for r in shard.query_batch(qe.QueryBatchRequest(best))]
        return tops[0], tops[1] if len(tops) > 1 else None

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
        _, shard, dim, _, _, _ = self._open_serving()
        if query.shape != (dim,):
            raise ValueError(f"query vector must have shape ({dim},) for the serving index, got {query.shape}")
        flt = edge_filter(filters)
        fields = list(MATCH_FIELDS)
        requests = [
            qe.QueryRequest(
                limit=window,
                query=qe.Query.Nearest(query.tolist()),
                filter=flt,
                with_payload=fields,
                params=self._params,
                score_threshold=dense_floor,
            )
        ]
        if len(sparse):
            requests.append(
                qe.QueryRequest(
                    limit=lexical_cap + 1,
                    query=qe.Query.Nearest(_edge_sparse(sparse), using=LEXICAL),
                    filter=flt,
                    with_payload=fields,
                    score_threshold=lexical_floor,
                )
            )
        results = shard.query_batch(qe.QueryBatchRequest(requests))
        dense = [(payload_of(p), p.score) for p in results[0]]
        lexical = [(payload_of(p), p.score) for p in results[1]] if len(results) > 1 else []
        return dense, lexical

    def _display_payloads(self, ids: Sequence[str]) -> dict[str, dict]:
        shard = self._open_serving().shard
        # UUID objects: the binding parses id strings at several times the cost of the read itself
        records = shard.retrieve([point_uuid(pid) for pid in ids], list(HIT_FIELDS), False)
        return {r.payload["id"]: r.payload for r in records if r.payload and "id" in r.payload}

    def count(self, filters: Filters | None = None) -> int:
        shard = self._open_serving().shard
        return shard.count(qe.CountRequest(exact=True, filter=edge_filter(filters)))

    def scan_payloads(self, fields: Sequence[str], batch: int = 1024) -> Iterator[dict]:
        shard = self._open_serving().shard  # this shard object stays valid to the end even if the pointer moves
        offset = None
        while True:
            records, offset = shard.scroll(
                qe.ScrollRequest(offset=offset, limit=batch, with_payload=list(fields), with_vector=False)
            )
            for r in records:
                yield payload_of(r)
            if offset is None:
                return

    def retrieve(self, ids: Sequence[str]) -> list[StoredPoint]:
        shard = self._open_serving().shard
        if not ids:
            return []
        records = shard.retrieve([point_uuid(pid) for pid in ids], True, True)
        by_id = {r.payload["id"]: r for r in records if r.payload and "id" in r.payload}
        return [
            StoredPoint(
                pid, stored_vector(by_id[pid].vector), {k: v for k, v in payload_of(by_id[pid]).items() if k != ROW}
            )
            for pid in dict.fromkeys(ids)
            if pid in by_id
        ]

    def close(self) -> None:
        for shard, _ in self._writers.values():
            shard.close()
        self._writers.clear()
        for dense in self._dense_out.values():
            dense.close()
        self._dense_out.clear()
        with self._lock:
            if self._serving is not None:
                self._serving.shard.close()
                self._serving = None
