"""Qdrant through qdrant-client: a real server (``url``) or qdrant-client's local mode (``path`` or ``":memory:"``).

Each index version is a collection ``<collection>__<version>``; the alias ``<collection>`` names the serving one.
Searches go through the alias and activate() swaps it in one ``update_collection_aliases`` call, so a switch is atomic
for every reader. finalize() records ``lira_finalized`` in the collection's metadata and activate() refuses a version
without it, so a half-written version is never served.

Local mode searches exactly, ignores payload indexes (none are created there) and locks its folder: one process
per path, so the indexer and the API cannot share it the way they share an Edge index or a server.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.common.client_exceptions import ResourceExhaustedResponse
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from core.store.base import (
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
    point_id,
    stored_vector,
    validate_batch,
    validate_sparse,
    versions_to_drop,
)

FINALIZED = "lira_finalized"
SIDECAR_PREFIX = "lira_sidecar."
T = TypeVar("T")


def _client_sparse(sparse: Sparse) -> models.SparseVector:
    return models.SparseVector(indices=sparse.indices.tolist(), values=sparse.values.tolist())


def _points(
    ids: Sequence[str], arr: np.ndarray, payloads: Sequence[dict], sparse: Sequence[Sparse] | None
) -> list[models.PointStruct]:
    points = []
    for i, (pid, vec, payload) in enumerate(zip(ids, arr.tolist(), payloads, strict=True)):
        named: dict = {DENSE: vec}
        if sparse is not None and len(sparse[i]):
            named[LEXICAL] = _client_sparse(sparse[i])
        points.append(models.PointStruct(id=point_id(pid), vector=named, payload={**payload, "id": pid}))
    return points


def qdrant_filter(filters: Filters | None) -> models.Filter | None:
    if filters is None or filters.is_empty():
        return None
    must: list[models.Condition] = []
    if filters.languages:
        must.append(models.FieldCondition(key="language", match=models.MatchAny(any=list(filters.languages))))
    if filters.category is not None:
        must.append(models.FieldCondition(key="category_prefixes", match=models.MatchValue(value=filters.category)))
    if filters.min_price is not None or filters.max_price is not None:
        price = models.Range(gte=filters.min_price, lte=filters.max_price)
        must.append(models.FieldCondition(key="price", range=price))
    if filters.brands:
        must.append(models.FieldCondition(key="brand", match=models.MatchAny(any=list(filters.brands))))
    for name, values in filters.attributes or ():
        must.append(models.FieldCondition(key=attribute_key(name), match=models.MatchAny(any=list(values))))
    return models.Filter(must=must)


class QdrantStore(VectorStore):
    """Versions as Qdrant collections behind one alias; see the module docstring."""

    def __init__(
        self,
        collection: str = "products",
        *,
        url: str | None = None,
        api_key: str | None = None,
        path: Path | str | None = None,
        location: str | None = None,
        timeout_s: float = 5.0,
        keep_versions: int = 2,
        read_only: bool = False,
        shard_number: int = 1,
        replication_factor: int = 1,
        tuning: IndexTuning | None = None,
        index_wait_s: float = 3600.0,
    ) -> None:
        """``shard_number`` / ``replication_factor`` shape each version's collection on a server (a cluster spreads
        shards and their replicas over its peers); local mode has neither and ignores them. ``tuning``: the
        collection's quantisation, HNSW and on-disk choices and the search parameters (``IndexTuning``; local mode
        searches exactly and ignores them); ``index_wait_s``: how long finalize() waits for the server to finish
        the version's HNSW graph before it gives up (a version is never served half-indexed)."""
        if sum(x is not None for x in (url, path, location)) != 1:
            raise ValueError(
                "pass exactly one of url (a Qdrant server), path (local mode on disk) or location=':memory:'"
            )
        if keep_versions < 1:
            raise ValueError("keep_versions must be at least 1 (the serving version)")
        if shard_number < 1 or replication_factor < 1:
            raise ValueError(
                f"shard_number and replication_factor must be at least 1, got {shard_number} and {replication_factor}"
            )
        self._tuning = tuning or IndexTuning()
        self._params = self._tuning.search_params(models.SearchParams, models.QuantizationSearchParams)
        self._index_wait_s = index_wait_s
        self._shard_number = shard_number
        self._replication_factor = replication_factor
        self._alias = collection
        self._prefix = f"{collection}__"
        self._server = url is not None
        self._where = str(next(x for x in (url, path, location) if x is not None))
        self._keep = keep_versions
        self._read_only = read_only
        if url is not None:
            # No compatibility check: it would call the server from a background thread at start-up and only warn;
            # an unreachable server is reported per call instead.
            self._client = QdrantClient(
                url=url, api_key=api_key, timeout=math.ceil(timeout_s), check_compatibility=False
            )
            return
        try:
            self._client = QdrantClient(path=str(path)) if path is not None else QdrantClient(location=location)
        except RuntimeError as exc:  # local mode's folder lock is taken by another process
            raise StoreUnavailable(
                f"{exc}: local mode serves one process; use LIRA_STORE=edge or a Qdrant server (QDRANT_URL) to run the "
                "indexer and the API side by side"
            ) from exc

    # ---- plumbing -------------------------------------------------------------------------------
    def _name(self, version: IndexVersion) -> str:
        return f"{self._prefix}{version}"

    def _check_writable(self) -> None:
        if self._read_only:
            raise PermissionError(
                f"this store on {self._where} was opened read-only: only the indexer writes the index"
            )

    @contextmanager
    def _guard(self, doing: str) -> Iterator[None]:
        """Map "Qdrant is not answering" to StoreUnavailable. Nothing is cached, so the next call simply retries and
        succeeds as soon as the server is back."""
        try:
            yield
        except ResourceExhaustedResponse as exc:
            raise StoreUnavailable(
                f"Qdrant at {self._where} is rate-limiting ({doing}): retry after {exc.retry_after_s} s"
            ) from exc
        except ResponseHandlingException as exc:
            raise StoreUnavailable(
                f"Qdrant at {self._where} did not answer while {doing} ({exc.source!r}): check that it is running and "
                "that QDRANT_URL points at it"
            ) from exc
        except UnexpectedResponse as exc:
            if exc.status_code in (401, 403):
                raise StoreUnavailable(
                    f"Qdrant at {self._where} refused the request while {doing}: check QDRANT_API_KEY"
                ) from exc
            if exc.status_code is None or exc.status_code >= 500:
                raise StoreUnavailable(
                    f"Qdrant at {self._where} failed while {doing} (HTTP {exc.status_code}): retry shortly"
                ) from exc
            raise

    def _nothing_serving(self) -> StoreUnavailable:
        return StoreUnavailable(f"no index version is serving in Qdrant at {self._where} yet: run the indexer")

    def _version_state(self, version: IndexVersion) -> tuple[int, bool]:
        """(vector size, finalized) of an existing version."""
        name = self._name(version)
        with self._guard(f"reading version {version}"):
            if not self._client.collection_exists(name):
                raise ValueError(
                    f"index version {version} does not exist in Qdrant at {self._where}: create_version() it first"
                )
            config = self._client.get_collection(name).config
        return cast(models.VectorParams, config.params.vectors).size, bool((config.metadata or {}).get(FINALIZED))

    def _finished(self, version: IndexVersion) -> bool:
        return self._version_state(version)[1]

    # ---- writing --------------------------------------------------------------------------------
    def create_version(self, version: IndexVersion, dim: int) -> None:
        self._check_writable()
        if dim < 1:
            raise ValueError(f"dim must be the encoder's output size (at least 1), got {dim}")
        name = self._name(version)
        with self._guard(f"creating version {version}"):
            if self._client.collection_exists(name):
                raise ValueError(
                    f"index version {version} already exists in Qdrant at {self._where}: create a new version"
                )
            layout: dict[str, Any] = (
                {"shard_number": self._shard_number, "replication_factor": self._replication_factor}
                if self._server
                else {}
            )
            t = self._tuning
            self._client.create_collection(
                name,
                vectors_config=models.VectorParams(
                    size=dim, distance=models.Distance.COSINE, on_disk=t.vectors_on_disk
                ),
                sparse_vectors_config={LEXICAL: models.SparseVectorParams(modifier=models.Modifier.IDF)},
                hnsw_config=models.HnswConfigDiff(
                    m=t.hnsw_m,
                    ef_construct=t.hnsw_ef_construct,
                    full_scan_threshold=t.full_scan_kb,
                    on_disk=t.hnsw_on_disk,
                ),
                quantization_config=(
                    models.ScalarQuantization(
                        scalar=models.ScalarQuantizationConfig(
                            type=models.ScalarType.INT8, quantile=0.99, always_ram=True
                        )
                    )
                    if t.quantization == "int8"
                    else None
                ),
                on_disk_payload=t.payload_on_disk,
                metadata={FINALIZED: False},
                **layout,
            )
            if self._server:
                for field in KEYWORD_FIELDS:
                    self._client.create_payload_index(name, field, field_schema=models.PayloadSchemaType.KEYWORD)
                for field in FLOAT_FIELDS:
                    self._client.create_payload_index(name, field, field_schema=models.PayloadSchemaType.FLOAT)

    def upsert(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
    ) -> None:
        self._check_writable()
        dim, finished = self._version_state(version)
        if finished:
            raise ValueError(f"index version {version} is already finalized: start a new version instead")
        arr = validate_batch(ids, vectors, payloads, dim)
        sparse = validate_sparse(sparse, len(ids))
        points = _points(ids, arr, payloads, sparse)
        with self._guard(f"writing to version {version}"):
            self._client.upsert(self._name(version), points=points, wait=True)

    def write_live(
        self,
        version: IndexVersion,
        ids: Sequence[str],
        vectors: np.ndarray,
        payloads: Sequence[dict],
        sparse: Sequence[Sparse] | None = None,
        deletes: Sequence[str] = (),
    ) -> None:
        name = self._name(version)
        with self._guard(f"writing to the serving version {version}"):
            if self._alias_target() != name:
                raise StoreUnavailable(f"{version} is no longer the serving version: write again")
            if len(ids):
                dim, _ = self._version_state(version)
                arr = validate_batch(ids, vectors, payloads, dim)
                points = _points(ids, arr, payloads, validate_sparse(sparse, len(ids)))
                self._client.upsert(name, points=points, wait=True)
            if deletes:
                selector = models.PointIdsList(points=[point_id(pid) for pid in deletes])
                self._client.delete(name, points_selector=selector, wait=True)

    def finalize(self, version: IndexVersion) -> None:
        """Mark the version servable once the server has built its HNSW graph (status green), so that the switch
        never puts a version that searches by brute force behind the alias; after ``index_wait_s`` it is marked
        anyway, with a warning (its searches are exact, and slower, until the graph is done). Local mode always
        searches exactly."""
        self._check_writable()
        self._version_state(version)
        name = self._name(version)
        if self._server:
            deadline = time.monotonic() + self._index_wait_s
            while True:
                with self._guard(f"waiting for version {version}'s index"):
                    status = self._client.get_collection(name).status
                if status == models.CollectionStatus.GREEN:
                    break
                if time.monotonic() > deadline:
                    print(
                        f"warning: version {version} is still {status.value} after {self._index_wait_s:.0f} s; "
                        "serving it while the server finishes its HNSW graph",
                        file=sys.stderr,
                    )
                    break
                time.sleep(1.0)
        with self._guard(f"finalizing version {version}"):
            self._client.update_collection(name, metadata={FINALIZED: True})

    def write_sidecar(self, version: IndexVersion, name: str, data: dict) -> None:
        """In the version's collection metadata (one JSON string per name), beside ``lira_finalized``."""
        self._check_writable()
        if self._version_state(version)[1]:
            raise ValueError(f"index version {version} is already finalized: sidecars go with an unfinished version")
        with self._guard(f"writing {name} of version {version}"):
            self._client.update_collection(
                self._name(version), metadata={SIDECAR_PREFIX + name: json.dumps(data, ensure_ascii=False)}
            )

    def read_sidecar(self, version: IndexVersion, name: str) -> dict | None:
        with self._guard(f"reading {name} of version {version}"):
            metadata = self._client.get_collection(self._name(version)).config.metadata or {}
        raw = metadata.get(SIDECAR_PREFIX + name)
        return json.loads(raw) if raw is not None else None

    def activate(self, version: IndexVersion) -> None:
        self._check_writable()
        if not self._finished(version):
            raise ValueError(f"index version {version} is not finalized: finalize() it before activating it")
        create = models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=self._name(version), alias_name=self._alias)
        )
        # The server rejects deleting an alias that does not exist, so delete only when there is one to replace.
        delete = models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=self._alias))
        ops: list[Any] = [create] if self._alias_target() is None else [delete, create]
        with self._guard(f"activating version {version}"):
            self._client.update_collection_aliases(change_aliases_operations=ops)
        for old in versions_to_drop(self.list_versions(), version, self._keep, self._finished):
            self.drop_version(old)

    def drop_version(self, version: IndexVersion) -> None:
        self._check_writable()
        if version == self.current_version():
            raise ValueError(f"index version {version} is serving: activate another version before dropping it")
        with self._guard(f"dropping version {version}"):
            self._client.delete_collection(self._name(version))

    def list_versions(self) -> list[IndexVersion]:
        with self._guard("listing versions"):
            names = [c.name for c in self._client.get_collections().collections]
        found = (IndexVersion.parse(n.removeprefix(self._prefix)) for n in names if n.startswith(self._prefix))
        return sorted((v for v in found if v is not None), key=IndexVersion.sort_key)

    # ---- reading --------------------------------------------------------------------------------
    def _alias_target(self) -> str | None:
        with self._guard("reading the serving alias"):
            aliases = self._client.get_aliases().aliases
        return next((a.collection_name for a in aliases if a.alias_name == self._alias), None)

    def current_version(self) -> IndexVersion | None:
        target = self._alias_target()
        if target is None:
            return None
        version = IndexVersion.parse(target.removeprefix(self._prefix)) if target.startswith(self._prefix) else None
        if version is None:
            raise StoreUnavailable(
                f"the alias {self._alias!r} in Qdrant at {self._where} points at {target!r}, which is no index version "
                "of this store: re-run the indexer to point it at a new one"
            )
        return version

    def _read(self, doing: str, call: Callable[[], T]) -> T:
        """Run a read against the alias; a missing alias means nothing has been activated yet."""
        if not self._server and self._alias_target() is None:  # local mode answers a missing alias with ValueError
            raise self._nothing_serving()
        with self._guard(doing):
            try:
                return call()
            except UnexpectedResponse as exc:
                if exc.status_code == 404:
                    raise self._nothing_serving() from exc
                raise

    def search(self, vector: np.ndarray, k: int, filters: Filters | None = None, exact: bool = False) -> list[Hit]:
        query = np.asarray(vector, dtype=np.float32)
        if query.ndim != 1:
            raise ValueError(f"query vector must be one-dimensional, got shape {query.shape}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        # Local mode always searches exactly and warns when given search params.
        exact_params = models.SearchParams(exact=True, quantization=models.QuantizationSearchParams(ignore=True))
        params = (exact_params if exact else self._params) if self._server else None
        response = self._read(
            "searching",
            lambda: self._client.query_points(
                self._alias,
                query=query.tolist(),
                query_filter=qdrant_filter(filters),
                search_params=params,
                limit=k,
                with_payload=list(HIT_FIELDS),
            ),
        )
        return [Hit(payload["id"], p.score, payload) for payload, p in ((payload_of(p), p) for p in response.points)]

    def _hybrid_query(
        self, query: np.ndarray, sparse: Sparse, k: int, filters: Filters | None, prefetch: int, rrf_k: int
    ) -> tuple[list[Hit], list[Hit]]:
        if query.ndim != 1:
            raise ValueError(f"query vector must be one-dimensional, got shape {query.shape}")
        flt = qdrant_filter(filters)
        stages = [
            models.Prefetch(
                query=query.tolist(), filter=flt, limit=prefetch, params=self._params if self._server else None
            )
        ]
        requests = []
        if len(sparse):
            lexical_query = _client_sparse(sparse)
            stages.append(models.Prefetch(query=lexical_query, using=LEXICAL, filter=flt, limit=prefetch))
            requests.append(
                models.QueryRequest(query=lexical_query, using=LEXICAL, filter=flt, limit=prefetch, with_payload=["id"])
            )
        fused = models.QueryRequest(
            prefetch=stages,
            query=models.RrfQuery(rrf=models.Rrf(k=rrf_k)),
            filter=flt,
            limit=k,
            with_payload=list(HIT_FIELDS),
            with_vector=[DENSE],
        )
        responses = self._read("searching", lambda: self._client.query_batch_points(self._alias, [fused, *requests]))
        dense = [(payload_of(p), p) for p in responses[0].points]
        hits = [Hit(payload["id"], p.score, payload, vector=stored_vector(p.vector)) for payload, p in dense]
        return hits, [Hit(payload_of(p)["id"], p.score) for p in responses[1].points] if requests else []

    def _best_scores(
        self, query: np.ndarray, sparse: Sparse, filters: Filters | None
    ) -> tuple[float | None, float | None]:
        flt = qdrant_filter(filters)
        params = self._params if self._server else None
        best = [models.QueryRequest(query=query.tolist(), filter=flt, limit=1, params=params, with_payload=False)]
        if len(sparse):
            best.append(
                models.QueryRequest(
                    query=_client_sparse(sparse), using=LEXICAL, filter=flt, limit=1, with_payload=False
                )
            )
        tops = self._read("matching", lambda: self._client.query_batch_points(self._alias, best))
        scores = [r.points[0].score if r.points else None for r in tops]
        return scores[0], scores[1] if len(scores) > 1 else None

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
        if query.ndim != 1:
            raise ValueError(f"query vector must be one-dimensional, got shape {query.shape}")
        flt = qdrant_filter(filters)
        fields = list(MATCH_FIELDS)
        requests = [
            models.QueryRequest(
                query=query.tolist(),
                filter=flt,
                limit=window,
                params=self._params if self._server else None,
                with_payload=fields,
                score_threshold=dense_floor,
            )
        ]
        if len(sparse):
            requests.append(
                models.QueryRequest(
                    query=_client_sparse(sparse),
                    using=LEXICAL,
                    filter=flt,
                    limit=lexical_cap + 1,
                    with_payload=fields,
                    score_threshold=lexical_floor,
                )
            )
        responses = self._read("matching", lambda: self._client.query_batch_points(self._alias, requests))
        dense = [(payload_of(p), p.score) for p in responses[0].points]
        lexical = [(payload_of(p), p.score) for p in responses[1].points] if len(responses) > 1 else []
        return dense, lexical

    def count(self, filters: Filters | None = None) -> int:
        result = self._read(
            "counting", lambda: self._client.count(self._alias, count_filter=qdrant_filter(filters), exact=True)
        )
        return result.count

    def scan_payloads(self, fields: Sequence[str], batch: int = 1024) -> Iterator[dict]:
        offset = None
        while True:
            records, offset = self._read(
                "scanning payloads",
                lambda o=offset: self._client.scroll(  # type: ignore[misc]
                    self._alias, limit=batch, offset=o, with_payload=list(fields), with_vectors=False
                ),
            )
            for r in records:
                yield dict(r.payload or {})
            if offset is None:
                return

    def retrieve(self, ids: Sequence[str]) -> list[StoredPoint]:
        if not ids:
            if not self._server and self._alias_target() is None:
                raise self._nothing_serving()
            return []
        records = self._read(
            "reading points",
            lambda: self._client.retrieve(
                self._alias, ids=[point_id(pid) for pid in ids], with_payload=True, with_vectors=True
            ),
        )
        by_id = {r.payload["id"]: r for r in records if r.payload and "id" in r.payload}
        return [
            StoredPoint(pid, stored_vector(by_id[pid].vector), dict(payload_of(by_id[pid])))
            for pid in dict.fromkeys(ids)
            if pid in by_id
        ]

    def close(self) -> None:
        self._client.close()
