"""The document API: POST /v1/products and DELETE /v1/products/{id} over a real index and model. A product posted
is searched at once and gone after its DELETE; bad rows are named and skipped; the writes survive the next batch
reindex (it merges the journal) and ``kill -9`` of the API (it replays the journal)."""

from __future__ import annotations

import os
import shutil
import signal
import time

import httpx
import pytest
from fastapi.testclient import TestClient

ADMIN = {"X-API-Key": "admin-secret-0123456789"}
NEW = {
    "id": "vi-900001",
    "language": "vi",
    "title": "Ấm siêu tốc Zojirushi Quasar 1.7L inox",
    "category": "Home & Living > Kitchen > Kettles",
    "brand": "Zojirushi",
    "price": 1290000,
    "currency": "VND",
    "attributes": {"colour": "silver"},
}


@pytest.fixture()
def writable(tmp_path, indexed_settings, encoder):
    """An app over its own copy of the index, with an admin key: writes never touch the shared index."""
    from app.main import create_app
    from app.search import Searcher
    from core.store import open_store

    shutil.copytree(indexed_settings.index_dir, tmp_path / "index")
    settings = indexed_settings.model_copy(
        update={"index_dir": tmp_path / "index", "admin_api_keys": ["admin-secret-0123456789"]}
    )
    store = open_store(settings, read_only=True)
    searcher = Searcher.build(settings, encoder, store)
    with TestClient(create_app(settings, searcher=searcher), raise_server_exceptions=False) as client:
        yield client, settings, searcher
    searcher.queries.close()
    store.close()


def _ids(client, query: str, **body) -> list[str]:
    r = client.post("/v1/search", json={"query": query, "k": 10, **body})
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["results"]]


def test_a_posted_product_is_found_at_once_and_gone_after_its_delete(writable):
    client, _, _ = writable
    assert "vi-900001" not in _ids(client, "ấm siêu tốc zojirushi", languages=["vi"])
    t0 = time.monotonic()
    r = client.post("/v1/products", json={"products": [NEW]}, headers=ADMIN)
    assert r.status_code == 200, r.text
    assert r.json()["written"] == ["vi-900001"] and r.json()["errors"] == []
    assert _ids(client, "ấm siêu tốc zojirushi", languages=["vi"])[0] == "vi-900001"
    assert time.monotonic() - t0 < 2.0  # searched within 2 s of the request (here: at once)
    assert _ids(client, "zojirushi kettle")[:3].count("vi-900001") == 1  # cross-lingual too, through the dense side
    assert client.get("/v1/products/vi-900001").json()["product"]["attributes"] == {"colour": "silver"}
    body = {"query": "zojirushi", "brands": ["Zojirushi"], "facets": ["brand"]}
    assert client.post("/v1/search", json=body).json()["facets"]["brand"] == [{"value": "Zojirushi", "count": 1}]

    # replacing it: same id, new price and title
    changed = {**NEW, "title": "Ấm đun nước Zojirushi Quasar", "price": 990000}
    assert client.post("/v1/products", json={"products": [changed]}, headers=ADMIN).status_code == 200
    assert client.get("/v1/products/vi-900001").json()["product"]["price"] == 990000

    r = client.delete("/v1/products/vi-900001", headers=ADMIN)
    assert r.status_code == 200 and r.json()["deleted"] == "vi-900001"
    assert "vi-900001" not in _ids(client, "ấm siêu tốc zojirushi", languages=["vi"])
    assert client.get("/v1/products/vi-900001").status_code == 404
    assert client.delete("/v1/products/vi-900001", headers=ADMIN).status_code == 404


def test_bad_rows_are_named_and_the_good_ones_written(writable):
    client, _, _ = writable
    rows = [
        NEW,
        {**NEW, "id": "vi-900002", "price": -5},
        {**NEW, "id": "vi-900003", "language": "xx"},
        {**NEW, "title": "the same id again"},
        {"title": "no id"},
    ]
    r = client.post("/v1/products", json={"products": rows}, headers=ADMIN)
    assert r.status_code == 422
    body = r.json()
    assert body["error"] == "invalid_rows" and body["written"] == ["vi-900001"]
    named = {(p["row"], p["field"]) for p in body["details"]}
    assert {(1, "price"), (2, "language"), (3, "id"), (4, "id")} <= named
    assert client.get("/v1/products/vi-900001").status_code == 200
    assert client.get("/v1/products/vi-900002").status_code == 404


def test_writes_need_an_admin_key_and_a_sane_body(writable):
    client, _, _ = writable
    assert client.post("/v1/products", json={"products": [NEW]}).status_code == 401
    assert client.delete("/v1/products/vi-000001").status_code == 401
    assert client.post("/v1/products", json={"products": []}, headers=ADMIN).status_code == 422
    too_many = [{**NEW, "id": f"vi-9{i:05d}"} for i in range(1001)]
    assert client.post("/v1/products", json={"products": too_many}, headers=ADMIN).status_code == 422


def test_the_next_batch_reindex_keeps_the_writes(writable, subset_catalogue, encoder):
    from core.journal import ProductJournal, journal_path
    from core.store import open_store
    from indexer.job import reindex

    client, settings, _ = writable
    first = client.get("/v1/info").json()["index_version"]
    assert client.post("/v1/products", json={"products": [NEW]}, headers=ADMIN).status_code == 200
    gone = _ids(client, "điện thoại", languages=["vi"])[0]
    assert client.delete(f"/v1/products/{gone}", headers=ADMIN).status_code == 200

    writer = open_store(settings)
    try:
        journal = ProductJournal(journal_path(settings.index_dir, settings.collection))
        summary = reindex(subset_catalogue, encoder, writer, progress=False, vocabulary=False, journal=journal)
    finally:
        writer.close()
    assert summary.journal_applied == 2 and summary.version != first
    assert client.get("/v1/info").json()["index_version"] == summary.version  # the API moved to it
    assert client.get("/v1/products/vi-900001").json()["index_version"] == summary.version
    assert client.get(f"/v1/products/{gone}").status_code == 404
    # and a write made after that reindex read the journal is applied when the API opens a newer version
    late = {**NEW, "id": "vi-900009", "title": "Bình giữ nhiệt Lock&Lock 500ml"}
    assert client.post("/v1/products", json={"products": [late]}, headers=ADMIN).status_code == 200
    assert "vi-900009" in _ids(client, "bình giữ nhiệt lock&lock", languages=["vi"])


@pytest.mark.slow
def test_an_acknowledged_write_survives_kill_9_of_the_api(tmp_path, indexed_settings):
    from bench.common import uvicorn_process

    shutil.copytree(indexed_settings.index_dir, tmp_path / "index")
    env = {
        "LIRA_INDEX_DIR": str(tmp_path / "index"),
        "LIRA_STORE": "edge",
        "LIRA_ADMIN_API_KEYS": "admin-secret-0123456789",
        "LIRA_PRODUCT_LEXICON": "true",
    }
    with uvicorn_process(env) as (url, proc):
        r = httpx.post(f"{url}/v1/products", json={"products": [NEW]}, headers=ADMIN, timeout=30)
        assert r.status_code == 200, r.text
        os.kill(proc.pid, signal.SIGKILL)  # no shutdown, no flush: only what was durable before the answer
        proc.wait(timeout=10)
    with uvicorn_process(env) as (url, _):
        got = httpx.get(f"{url}/v1/products/vi-900001", timeout=30)
        assert got.status_code == 200, got.text
        found = httpx.post(
            f"{url}/v1/search", json={"query": "ấm siêu tốc zojirushi", "languages": ["vi"], "k": 3}, timeout=30
        ).json()["results"]
        assert found[0]["id"] == "vi-900001"
