"""Congruence tests: the same scenarios on every engine, compared with each other and with numpy brute force.

Engines: Qdrant Edge (``EdgeStore``) and qdrant-client local mode (``QdrantStore(path=...)``), the stand-in for a
Qdrant server, which speaks the same client API.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import qdrant_edge as qe

from core.catalogue import Product
from core.settings import LANGUAGES, REPO_ROOT, Settings
from core.store import open_store
from core.store.base import HIT_FIELDS, Filters, IndexTuning, IndexVersion, StoreUnavailable, VectorStore
from core.store.edge import POINTER, EdgeStore
from core.store.qdrant import QdrantStore
from indexer.job import remove_abandoned
from tests.core.stores import DIM, ENGINES, make_store

K = 10
TOLERANCE = 1e-4
CATEGORIES = (
    "Electronics > Phones > Android",
    "Electronics > Phones > iPhone",
    "Electronics > Audio",
    "Home > Kitchen",
    "Home > Kitchen > Cookware",
    "Fashion > Shoes",
)
BRANDS = ("Acme", "Zen", "Acme Pro", "")  # "" = no brand; "Acme" must not match "Acme Pro"
FILTERS = {
    "none": Filters(),
    "one-language": Filters(languages=("en",)),
    "three-languages": Filters(languages=("vi", "th", "bn")),
    "category-root": Filters(category="Electronics"),
    "category-middle": Filters(category="Electronics > Phones"),
    "category-leaf": Filters(category="Home > Kitchen > Cookware"),
    "category-partial-name": Filters(category="Electronics > Phone"),
    "category-unknown": Filters(category="Toys"),
    "min-price": Filters(min_price=400.0),
    "max-price": Filters(max_price=50.0),
    "price-range": Filters(min_price=100.0, max_price=200.0),
    "all-combined": Filters(languages=("id", "ms"), category="Electronics", max_price=300.0),
    "one-brand": Filters(brands=("Acme",)),
    "brands-and-language": Filters(brands=("Acme Pro", "Zen"), languages=("en", "vi", "th")),
    "sparse-combined": Filters(languages=("tl",), category="Fashion > Shoes", min_price=100.0),
    "attribute": Filters(attributes=(("colour", ("red",)),)),
    "attribute-unknown-value": Filters(attributes=(("colour", ("blue",)),)),
    "attribute-and-price": Filters(attributes=(("colour", ("red", "blue")),), max_price=250.0),
}


@dataclass(frozen=True)
class Catalogue:
    ids: list[str]
    vectors: np.ndarray
    payloads: list[dict]

    def reference(self, query: np.ndarray, k: int, filters: Filters) -> list[tuple[str, float]]:
        """Exact top-k by cosine among the matching products."""
        idx = np.flatnonzero([filters.admits(p) for p in self.payloads])
        scores = self.vectors[idx].astype(np.float64) @ query.astype(np.float64)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(self.ids[idx[i]], float(scores[i])) for i in order]

    def count(self, filters: Filters) -> int:
        return sum(filters.admits(p) for p in self.payloads)


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_catalogue(seed: int, n: int, prefix: str) -> Catalogue:
    rng = np.random.default_rng(seed)
    products = [
        Product(
            id=f"{prefix}{i:05d}",
            language=LANGUAGES[i % len(LANGUAGES)],
            title=f"product {prefix}{i}",
            category=CATEGORIES[int(rng.integers(len(CATEGORIES)))],
            price=round(float(rng.uniform(0, 500)), 2),
            currency="USD",
            attributes={"colour": "red"} if i % 5 == 0 else {},
            brand=BRANDS[i % len(BRANDS)],
        )
        for i in range(n)
    ]
    return Catalogue([p.id for p in products], _unit(rng, n), [p.payload() for p in products])


def write_version(store: VectorStore, catalogue: Catalogue, *, activate: bool = True) -> IndexVersion:
    version = IndexVersion.new("testmodel", "c0ffee")
    store.create_version(version, DIM)
    for start in range(0, len(catalogue.ids), 128):
        batch = slice(start, start + 128)
        store.upsert(version, catalogue.ids[batch], catalogue.vectors[batch], catalogue.payloads[batch])
    store.finalize(version)
    if activate:
        store.activate(version)
    return version


def assert_same_hits(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert [i for i, _ in got] == [i for i, _ in want]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=TOLERANCE, rtol=0)


def hits(store: VectorStore, query: np.ndarray, k: int = K, filters: Filters | None = None) -> list[tuple[str, float]]:
    return [(h.id, h.score) for h in store.search(query, k, filters, exact=True)]


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return make_catalogue(seed=1, n=300, prefix="a")


@pytest.fixture(scope="module")
def small() -> Catalogue:
    """For scenarios that write versions of their own: local mode commits every point to disk, one by one."""
    return make_catalogue(seed=11, n=40, prefix="s")


@pytest.fixture(scope="module")
def queries(catalogue) -> np.ndarray:
    """Random directions, plus a stored vector (its own product must come first with score 1)."""
    return np.vstack([_unit(np.random.default_rng(2), 6), catalogue.vectors[7:8]])


@pytest.fixture(scope="module")
def serving(tmp_path_factory, catalogue) -> dict[str, VectorStore]:
    """One store per engine, serving the same catalogue."""
    stores = {engine: make_store(engine, tmp_path_factory.mktemp(engine)) for engine in ENGINES}
    for store in stores.values():
        write_version(store, catalogue)
    yield stores
    for store in stores.values():
        store.close()


@pytest.fixture(params=ENGINES)
def engine(request) -> str:
    return request.param


# ---- search and count --------------------------------------------------------------------------------------


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
def test_exact_search_matches_brute_force(serving, engine, catalogue, queries, filters):
    for query in queries:
        assert_same_hits(hits(serving[engine], query, filters=filters), catalogue.reference(query, K, filters))


@pytest.mark.parametrize("filters", FILTERS.values(), ids=FILTERS.keys())
def test_count_matches_brute_force(serving, engine, catalogue, filters):
    assert serving[engine].count(filters) == catalogue.count(filters)


def test_engines_agree_with_each_other(serving, queries):
    edge, local = serving["edge"], serving["local"]
    for filters in FILTERS.values():
        assert edge.count(filters) == local.count(filters)
        for query in queries:
            assert_same_hits(hits(edge, query, filters=filters), hits(local, query, filters=filters))
    assert edge.counts_by_language(LANGUAGES) == local.counts_by_language(LANGUAGES)


def test_scores_are_cosine_similarity_and_payload_round_trips(serving, engine, catalogue, queries):
    top = serving[engine].search(queries[-1], 3, exact=True)
    assert top[0].id == catalogue.ids[7]
    assert top[0].score == pytest.approx(1.0, abs=TOLERANCE)
    assert top[0].payload == {f: catalogue.payloads[7][f] for f in HIT_FIELDS}  # what a hit carries
    assert top[0].score > top[1].score > top[2].score


def test_k_beyond_the_matches_returns_every_match(serving, engine, catalogue, queries):
    filters = FILTERS["sparse-combined"]
    found = hits(serving[engine], queries[0], k=300, filters=filters)
    assert len(found) == catalogue.count(filters) > 0


# ---- retrieve by product id (incremental reindex) ----------------------------------------------------------


def test_retrieve_returns_vectors_and_payloads_by_product_id(serving, engine, catalogue):
    store = serving[engine]
    asked = [catalogue.ids[5], "no-such-product", catalogue.ids[0], catalogue.ids[5]]
    got = store.retrieve(asked)
    assert [p.id for p in got] == [catalogue.ids[5], catalogue.ids[0]], "in the order asked, unknown ids left out"
    for point in got:
        i = catalogue.ids.index(point.id)
        assert point.vector.dtype == np.float32 and point.vector.shape == (DIM,)
        np.testing.assert_allclose(point.vector, catalogue.vectors[i], atol=1e-6)
        assert point.payload == catalogue.payloads[i]
    assert store.retrieve([]) == []


def test_engines_retrieve_the_same_points(serving, catalogue):
    ids = catalogue.ids[::7]
    edge, local = serving["edge"].retrieve(ids), serving["local"].retrieve(ids)
    assert [p.id for p in edge] == [p.id for p in local] == ids
    for a, b in zip(edge, local, strict=True):
        np.testing.assert_allclose(a.vector, b.vector, atol=1e-6)
        assert a.payload == b.payload


def test_scan_payloads_yields_every_point_once(serving, engine, catalogue):
    """Small batches force several engine round trips; every point comes back once with the fields asked for."""
    got = list(serving[engine].scan_payloads(["id", "title", "brand"], batch=64))
    assert sorted(p["id"] for p in got) == sorted(catalogue.ids)
    by_id = {p["id"]: p for p in got}
    for i in (0, 77, 299):
        want = catalogue.payloads[i]
        assert by_id[catalogue.ids[i]] == {"id": catalogue.ids[i], "title": want["title"], "brand": want["brand"]}


def test_retrieve_reads_the_serving_version(engine, tmp_path, small):
    store = make_store(engine, tmp_path)
    try:
        with pytest.raises(StoreUnavailable, match="run the indexer"):
            store.retrieve(small.ids[:2])
        write_version(store, small)
        changed = make_catalogue(seed=12, n=10, prefix="s")  # the same ids as small's first ten, other vectors
        write_version(store, changed)
        got = store.retrieve(changed.ids[:3])
        np.testing.assert_allclose(np.stack([p.vector for p in got]), changed.vectors[:3], atol=1e-6)
        assert store.retrieve(small.ids[10:12]) == [], "products of the old version only are gone"
    finally:
        store.close()


# ---- versions ----------------------------------------------------------------------------------------------


def test_nothing_is_served_before_the_first_activation(engine, tmp_path, small):
    store = make_store(engine, tmp_path)
    try:
        assert store.current_version() is None
        assert store.list_versions() == []
        version = write_version(store, small, activate=False)
        assert store.current_version() is None
        assert store.list_versions() == [version]
        with pytest.raises(StoreUnavailable, match="run the indexer"):
            store.search(small.vectors[0], K)
        with pytest.raises(StoreUnavailable, match="run the indexer"):
            store.count()
    finally:
        store.close()


def test_version_stamps_come_from_one_clock_read(monkeypatch):
    """Seconds and microseconds from two reads could straddle a second and sort a newer version first."""
    import core.store.base as base

    monkeypatch.setattr(base.time, "time_ns", lambda: 1_700_000_000_999_999_000)
    assert IndexVersion.new("m", "d").stamp == "20231114t221320999999"


@pytest.mark.parametrize("keep", [1, 2])
def test_switching_versions_serves_the_new_one_and_keeps_the_last(engine, tmp_path, keep):
    old, new, newest = (make_catalogue(seed, 30 + seed, prefix) for seed, prefix in ((3, "a"), (4, "b"), (5, "c")))
    store = make_store(engine, tmp_path, keep_versions=keep)
    # Edge: a separate read-only store, as in the API process; local mode allows one client per folder.
    reader = EdgeStore(tmp_path, "products", read_only=True) if engine == "edge" else store
    query = _unit(np.random.default_rng(6), 1)[0]
    try:
        v1 = write_version(store, old)
        assert reader.current_version() == v1
        assert_same_hits(hits(reader, query), old.reference(query, K, Filters()))

        v2 = write_version(store, new)
        assert reader.current_version() == v2
        assert_same_hits(hits(reader, query), new.reference(query, K, Filters()))
        assert reader.count() == len(new.ids)
        assert store.list_versions() == ([v1, v2] if keep == 2 else [v2])

        v3 = write_version(store, newest)
        assert_same_hits(hits(reader, query), newest.reference(query, K, Filters()))
        assert store.list_versions() == ([v2, v3] if keep == 2 else [v3])
        with pytest.raises(ValueError, match="is serving"):
            store.drop_version(v3)
    finally:
        store.close()
        if reader is not store:
            reader.close()


def test_an_unfinished_version_is_never_served(engine, tmp_path, small):
    store = make_store(engine, tmp_path)
    try:
        v1 = write_version(store, small)
        v2 = IndexVersion.new("testmodel", "beef")
        store.create_version(v2, DIM)
        store.upsert(v2, ["x1"], small.vectors[:1], [small.payloads[0]])
        with pytest.raises(ValueError, match="not finalized"):
            store.activate(v2)
        assert store.current_version() == v1
        assert store.count() == len(small.ids)
        assert store.list_versions() == [v1, v2]
        remove_abandoned(store)
        assert store.list_versions() == [v1]
    finally:
        store.close()


def test_sidecars_are_kept_with_their_version_and_survive_finalize(engine, tmp_path, small):
    store = make_store(engine, tmp_path)
    try:
        v1 = IndexVersion.new("testmodel", "cafe")
        store.create_version(v1, DIM)
        store.upsert(v1, small.ids, small.vectors, small.payloads)
        data = {"pairs": [["th", "กาแฟ", "coffee", 0.31, "aligned"]], "terms": {"th": 1}}
        store.write_sidecar(v1, "vocabulary", data)
        assert store.read_sidecar(v1, "nothing") is None
        store.finalize(v1)
        with pytest.raises(ValueError, match="finalized"):
            store.write_sidecar(v1, "vocabulary", {})
        store.activate(v1)
        assert store.read_sidecar(v1, "vocabulary") == data
        v2 = write_version(store, small)  # a newer version has its own sidecars (none here)
        assert store.read_sidecar(v2, "vocabulary") is None
        assert store.read_sidecar(v1, "vocabulary") == data
    finally:
        store.close()
    reopened = make_store(engine, tmp_path)
    try:
        assert reopened.read_sidecar(v1, "vocabulary") == data  # on disk, not in the writer's memory
    finally:
        reopened.close()


def test_open_store_picks_the_configured_engine(tmp_path, monkeypatch):
    for name in ("QDRANT_URL", "LIRA_QDRANT_URL"):
        monkeypatch.delenv(name, raising=False)
    for kind, cls in (("edge", EdgeStore), ("local", QdrantStore)):
        store = open_store(Settings(_env_file=None, store=kind, index_dir=tmp_path / kind))
        try:
            assert isinstance(store, cls)
        finally:
            store.close()
    monkeypatch.setenv("QDRANT_URL", "http://127.0.0.1:1")
    store = open_store(Settings(_env_file=None, store="edge", index_dir=tmp_path), read_only=True)
    try:
        assert isinstance(store, QdrantStore)
        with pytest.raises(PermissionError, match="read-only"):
            store.create_version(IndexVersion.new("m", "d"), DIM)
    finally:
        store.close()


class _RecordingClient:
    """Stands in for a Qdrant server's client: records how collections are created."""

    def __init__(self) -> None:
        self.created: dict[str, dict] = {}
        self.queries, self.statuses, self.metadata = [], [], []

    def collection_exists(self, name: str) -> bool:
        return name in self.created

    def create_collection(self, name: str, **kwargs) -> None:
        self.created[name] = kwargs

    def create_payload_index(self, *args, **kwargs) -> None:
        pass

    queries: list[dict]
    statuses: list
    metadata: list[dict]

    def query_points(self, name: str, **kwargs):
        self.queries.append(kwargs)
        return type("Response", (), {"points": []})()

    def get_collection(self, name: str):
        return type("Info", (), {"status": self.statuses.pop(0)})()

    def update_collection(self, name: str, metadata: dict) -> None:
        self.metadata.append(metadata)

    def close(self) -> None:
        pass


def _created_on_server(settings: Settings) -> tuple[VectorStore, _RecordingClient, dict]:
    """A version created through ``open_store(settings)`` against a recording client: the store, the client and the
    collection's creation arguments."""
    store = open_store(settings)
    client = _RecordingClient()
    store._client = client
    version = IndexVersion.new("m", "d")
    store.create_version(version, DIM)
    return store, client, client.created[f"products__{version}"]


def test_server_versions_get_the_configured_shards_and_replicas(monkeypatch):
    monkeypatch.delenv("QDRANT_URL", raising=False)
    settings = Settings(_env_file=None, qdrant_url="http://127.0.0.1:1", shard_number=6, replication_factor=2)
    _, _, created = _created_on_server(settings)
    assert (created["shard_number"], created["replication_factor"]) == (6, 2)
    with pytest.raises(ValueError, match="at least 1"):
        QdrantStore("products", url="http://127.0.0.1:1", replication_factor=0)


def test_server_versions_get_the_configured_index_tuning(monkeypatch):
    from qdrant_client import models

    monkeypatch.delenv("QDRANT_URL", raising=False)
    settings = Settings(
        _env_file=None,
        qdrant_url="http://127.0.0.1:1",
        quantization="int8",
        hnsw_m=32,
        hnsw_ef_construct=200,
        hnsw_ef=256,
        quantization_oversampling=3.0,
        vectors_on_disk=True,
        payload_on_disk=False,
    )
    store, client, created = _created_on_server(settings)
    assert created["vectors_config"].on_disk is True
    assert (created["hnsw_config"].m, created["hnsw_config"].ef_construct, created["hnsw_config"].on_disk) == (
        32,
        200,
        False,
    )
    assert created["quantization_config"].scalar.type == models.ScalarType.INT8
    assert created["on_disk_payload"] is False
    store.search(np.ones(DIM, np.float32), 5)
    params = client.queries[-1]["search_params"]
    assert (params.hnsw_ef, params.quantization.oversampling, params.quantization.rescore) == (256, 3.0, True)
    store.search(np.ones(DIM, np.float32), 5, exact=True)
    params = client.queries[-1]["search_params"]
    assert params.exact and params.quantization.ignore, "an exact search reads the fp32 vectors, not the int8 ones"


def test_server_finalize_waits_for_the_hnsw_build(monkeypatch, capsys):
    from qdrant_client import models

    store = QdrantStore("products", url="http://127.0.0.1:1", index_wait_s=30)
    client = _RecordingClient()
    client.statuses = [models.CollectionStatus.YELLOW, models.CollectionStatus.YELLOW, models.CollectionStatus.GREEN]
    store._client = client
    monkeypatch.setattr(store, "_version_state", lambda version: (DIM, False))
    real_sleep = time.sleep
    monkeypatch.setattr(time, "sleep", lambda s: None)
    store.finalize(IndexVersion.new("m", "d"))
    assert client.statuses == [] and client.metadata == [{"lira_finalized": True}]
    # a build that outlasts the wait is served anyway, with a warning (its searches are exact meanwhile)
    slow = QdrantStore("products", url="http://127.0.0.1:1", index_wait_s=0.01)
    client = _RecordingClient()
    client.statuses = [models.CollectionStatus.YELLOW] * 1000
    slow._client = client
    monkeypatch.setattr(slow, "_version_state", lambda version: (DIM, False))
    monkeypatch.setattr(time, "sleep", lambda s: real_sleep(0.005))
    slow.finalize(IndexVersion.new("m", "d"))
    assert client.metadata == [{"lira_finalized": True}]
    assert "still yellow" in capsys.readouterr().err


def test_local_mode_ignores_cluster_layout(tmp_path, small):
    store = QdrantStore("products", path=tmp_path / "q", shard_number=3, replication_factor=2)
    try:
        write_version(store, small)
        assert store.count() == len(small.ids)
    finally:
        store.close()


# ---- Edge specifics ----------------------------------------------------------------------------------------


def test_edge_hnsw_recall_against_exact(tmp_path):
    big = make_catalogue(seed=7, n=2000, prefix="h")
    store = EdgeStore(tmp_path, "products", hnsw_threshold_kb=1)
    try:
        version = write_version(store, big, activate=False)
        shard = qe.EdgeShard.load(str(store.root / "versions" / str(version)))
        assert shard.info().indexed_vectors_count == len(big.ids), "finalize() must have built the HNSW graph"
        shard.close()
        store.activate(version)
        recalls = []
        for query in _unit(np.random.default_rng(8), 40):
            exact = hits(store, query)
            assert_same_hits(exact, big.reference(query, K, Filters()))
            approx = {h.id for h in store.search(query, K)}
            recalls.append(len(approx & {i for i, _ in exact}) / K)
        assert np.mean(recalls) >= 0.95
    finally:
        store.close()


def test_edge_int8_quantisation_keeps_recall_and_exact_search_stays_exact(tmp_path):
    big = make_catalogue(seed=9, n=2000, prefix="q")
    tuning = IndexTuning(quantization="int8", hnsw_m=8, hnsw_ef_construct=64, hnsw_ef=64)
    store = EdgeStore(tmp_path, "products", hnsw_threshold_kb=1, tuning=tuning)
    try:
        version = write_version(store, big)
        config = json.loads((store.root / "versions" / str(version) / "edge_config.json").read_text())
        assert config["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "memory": "pinned"}}
        assert (config["hnsw_config"]["m"], config["hnsw_config"]["ef_construct"]) == (8, 64)
        recalls = []
        for query in _unit(np.random.default_rng(10), 40):
            exact = hits(store, query)
            assert_same_hits(exact, big.reference(query, K, Filters()))  # exact=True ignores the int8 copy
            approx = store.search(query, K)
            recalls.append(len({h.id for h in approx} & {i for i, _ in exact}) / K)
            reference = dict(big.reference(query, len(big.ids), Filters()))
            for h in approx:  # rescored: the scores are the fp32 cosines, not the quantised ones
                assert h.score == pytest.approx(reference[h.id], abs=1e-5)
        assert np.mean(recalls) >= 0.95
    finally:
        store.close()


def test_edge_broken_pointer_or_shard_is_store_unavailable(tmp_path, small):
    store = EdgeStore(tmp_path, "products")
    version = write_version(store, small)
    store.close()
    pointer = tmp_path / "products" / POINTER

    pointer.write_text("not a version\n")
    with pytest.raises(StoreUnavailable, match="corrupt"):
        EdgeStore(tmp_path, "products", read_only=True).search(small.vectors[0], K)

    pointer.write_text(f"{IndexVersion.new('testmodel', 'dead')}\n")
    with pytest.raises(StoreUnavailable, match="missing or unfinished"):
        EdgeStore(tmp_path, "products", read_only=True).count()

    pointer.write_text(f"{version}\n")
    (tmp_path / "products" / "versions" / str(version) / "COMPLETE").unlink()
    with pytest.raises(StoreUnavailable, match="missing or unfinished"):
        EdgeStore(tmp_path, "products", read_only=True).count()


def test_edge_index_moved_away_is_store_unavailable_until_restored(tmp_path, small):
    store = EdgeStore(tmp_path / "index", "products")
    write_version(store, small)
    reader = EdgeStore(tmp_path / "index", "products", read_only=True)
    try:
        assert reader.count() == len(small.ids)
        (tmp_path / "index").rename(tmp_path / "moved")
        with pytest.raises(StoreUnavailable, match="disappeared"):
            reader.count()
        (tmp_path / "moved").rename(tmp_path / "index")
        assert reader.count() == len(small.ids)
    finally:
        reader.close()
        store.close()


def test_edge_read_only_store_refuses_writes(tmp_path):
    store = EdgeStore(tmp_path, "products", read_only=True)
    with pytest.raises(PermissionError, match="read-only"):
        store.create_version(IndexVersion.new("m", "d"), DIM)
    assert not (tmp_path / "products").exists()


# ---- a killed indexer --------------------------------------------------------------------------------------


@pytest.mark.parametrize("stage", ["upserting", "finalized"])
def test_a_killed_indexer_leaves_the_old_version_serving(engine, tmp_path, small, queries, stage):
    store = make_store(engine, tmp_path)
    v1 = write_version(store, small)
    store.close()  # local mode: one client per folder, and the child needs it
    # Edge: an API-like reader keeps serving while the indexer runs and dies.
    reader = EdgeStore(tmp_path, "products", read_only=True) if engine == "edge" else None
    want = small.reference(queries[0], K, Filters())
    if reader:
        assert_same_hits(hits(reader, queries[0]), want)

    v2 = IndexVersion.new("testmodel", "beef")
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.core.stores", engine, str(tmp_path), str(v2), stage],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert child.stdout.readline().strip() == stage, "the writer died before reaching the stage to kill it in"
        if stage == "upserting":
            time.sleep(0.3)  # let it get into the middle of a batch
    finally:
        child.kill()  # SIGKILL: no clean-up code runs
        child.wait()
    assert child.returncode == -signal.SIGKILL

    if reader:
        assert reader.current_version() == v1
        assert_same_hits(hits(reader, queries[0]), want)
        reader.close()
    writer = make_store(engine, tmp_path)
    try:
        assert writer.current_version() == v1
        assert_same_hits(hits(writer, queries[0]), want)
        assert writer.list_versions() == [v1, v2]
        remove_abandoned(writer)
        assert writer.list_versions() == [v1]
        v3 = write_version(writer, small)
        assert writer.current_version() == v3
    finally:
        writer.close()


# ---- a Qdrant server that goes away and comes back ---------------------------------------------------------

SERVED = IndexVersion.new("testmodel", "c0ffee")


class _FakeQdrant(BaseHTTPRequestHandler):
    """Just enough of Qdrant's REST API for the alias lookup."""

    def do_GET(self) -> None:
        body = {"aliases": [{"alias_name": "products", "collection_name": f"products__{SERVED}"}]}
        data = json.dumps({"result": body, "status": "ok", "time": 0.0}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def test_server_outage_is_store_unavailable_and_recovers_by_itself():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = QdrantStore("products", url=f"http://127.0.0.1:{port}", timeout_s=1)
    try:
        with pytest.raises(StoreUnavailable, match="did not answer"):
            store.current_version()
        with pytest.raises(StoreUnavailable, match="did not answer"):
            store.search(np.ones(DIM, dtype=np.float32), K)
        server = ThreadingHTTPServer(("127.0.0.1", port), _FakeQdrant)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            assert store.current_version() == SERVED
        finally:
            server.shutdown()
            server.server_close()
    finally:
        store.close()
