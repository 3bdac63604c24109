"""The API follows the index: new versions without a restart, 503 while the store is gone, then recovery."""

from __future__ import annotations

import shutil
import time

import pytest

from core.store import open_store
from indexer.job import reindex
from tests.conftest import app_client


@pytest.fixture()
def own_index(tmp_path, indexed_settings):
    index_dir = tmp_path / "index"
    shutil.copytree(indexed_settings.index_dir, index_dir)
    return indexed_settings.model_copy(update={"index_dir": index_dir})


@pytest.fixture()
def own_client(own_index, encoder):
    store = open_store(own_index, read_only=True)
    with app_client(own_index, encoder, store) as c:
        yield c
    store.close()


def test_new_version_is_served_without_restart(own_client, own_index, encoder, subset_catalogue, tmp_path):
    before = own_client.post("/v1/search", json={"query": "tas", "k": 3}).json()["index_version"]
    smaller = tmp_path / "ten.jsonl"
    smaller.write_text("".join(subset_catalogue.open(encoding="utf-8").readlines()[:10]), encoding="utf-8")
    writer = open_store(own_index)
    try:
        summary = reindex(smaller, encoder, writer, progress=False)
    finally:
        writer.close()
    assert summary.version != before
    after = own_client.post("/v1/search", json={"query": "tas", "k": 3}).json()
    assert after["index_version"] == summary.version
    assert own_client.get("/v1/info").json()["documents"] == 10


def _until_ready(client, within_s: float = 60.0):
    """/readyz polled the way an orchestrator's probe does: the spelling vocabulary is built in the background."""
    deadline = time.monotonic() + within_s
    while True:
        r = client.get("/readyz")
        if r.status_code == 200 or time.monotonic() > deadline:
            return r
        time.sleep(0.2)


def test_store_gone_gives_503_then_recovers(own_client, own_index):
    assert _until_ready(own_client).status_code == 200
    moved = own_index.index_dir.with_name("moved-away")
    own_index.index_dir.rename(moved)
    try:
        r = own_client.post("/v1/search", json={"query": "sepatu"})
        assert r.status_code == 503
        assert r.json()["error"] in {"store_unavailable", "index_not_ready"} and r.json()["message"]
        assert own_client.get("/readyz").status_code == 503
    finally:
        moved.rename(own_index.index_dir)
    assert own_client.post("/v1/search", json={"query": "sepatu"}).status_code == 200
    assert own_client.get("/readyz").status_code == 200  # same version: its vocabulary survived the outage


def test_store_gone_before_the_first_vocabulary_recovers(own_index, encoder):
    """The store vanishes while the start-up vocabulary is being built: once it is back, the first search
    starts a new build and the service becomes ready again (CI once saw the build fail this way)."""
    store = open_store(own_index, read_only=True)
    moved = own_index.index_dir.with_name("moved-away")
    own_index.index_dir.rename(moved)
    try:
        with app_client(own_index, encoder, store) as c:
            assert c.get("/readyz").status_code == 503
            moved.rename(own_index.index_dir)
            assert c.post("/v1/search", json={"query": "sepatu"}).status_code == 200
            r = _until_ready(c)
            assert r.status_code == 200, r.json()
    finally:
        if moved.exists():
            moved.rename(own_index.index_dir)
        store.close()


def test_unreachable_server_gives_503(encoder):
    from core.settings import Settings

    settings = Settings(_env_file=None, qdrant_url="http://127.0.0.1:9", store_timeout_s=2)
    store = open_store(settings, read_only=True)
    with app_client(settings, encoder, store) as c:
        r = c.post("/v1/search", json={"query": "sepatu"})
        assert r.status_code == 503 and r.json()["error"] == "store_unavailable"
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["reasons"]


class _OtherModel:
    """Stands for a different model: its fingerprint differs from the one that built the index."""

    fingerprint = "ffffffffffff"
    model_id = "another-model"
    dim = 384

    def encode(self, texts, kind="passage", batch_size=None, progress=False):
        raise AssertionError("must not encode against an index of another model")


def test_index_from_another_model_is_refused(own_index):
    store = open_store(own_index, read_only=True)
    with app_client(own_index, _OtherModel(), store) as c:
        r = c.post("/v1/search", json={"query": "sepatu"})
        assert r.status_code == 503 and "never mix" in r.json()["message"]
        assert c.get("/readyz").status_code == 503
    store.close()


class _ThreadSpy:
    """The real store, noting which thread each read ran on."""

    def __init__(self, store, local_reads: bool) -> None:
        self._store = store
        self.local_reads = local_reads
        self.threads: dict[str, set[str]] = {}

    def __getattr__(self, name):
        import threading

        real = getattr(self._store, name)
        if not callable(real):
            return real

        def spied(*args, **kwargs):
            self.threads.setdefault(name, set()).add(threading.current_thread().name)
            return real(*args, **kwargs)

        spied.__name__ = name
        return spied


@pytest.mark.parametrize("local_reads", [True, False], ids=["local reads", "remote reads"])
def test_local_reads_run_on_the_event_loop_and_version_opens_off_it(own_index, encoder, local_reads):
    """Edge's reads are in-process and sub-millisecond: searched on the loop, and so is the check of the serving
    version (a stat of its pointer); opening a newly serving version's shard (the slow part) never happens on the
    loop (``open_current`` in a worker thread, or the spelling vocabulary's background scan got there first). A
    remote store is read off the loop."""
    import threading

    store = open_store(own_index, read_only=True)
    loads: set[str] = set()
    real_load = store._load

    def load(version):
        loads.add(threading.current_thread().name)
        return real_load(version)

    store._load = load
    spy = _ThreadSpy(store, local_reads)
    try:
        with app_client(own_index, encoder, spy) as c:
            for query in ("sepatu lari", "áo khoác"):
                assert c.post("/v1/search", json={"query": query}).status_code == 200
            loop_thread = c.portal.call(_current_thread_name)
    finally:
        store.close()
    assert loads and loop_thread not in loads, loads  # the shard was opened, off the loop
    assert loop_thread not in spy.threads.get("open_current", set())
    assert (spy.threads["current_version"] >= {loop_thread}) is local_reads  # the version check, on the loop
    for read in ("hybrid_search", "with_display_fields"):
        assert (spy.threads[read] == {loop_thread}) is local_reads, (read, spy.threads[read], loop_thread)


async def _current_thread_name() -> str:
    import threading

    return threading.current_thread().name
