"""A catalogue in a domain nobody configured: indexed, searched, and its mined vocabulary shown, with no code or
lexicon change."""

from __future__ import annotations

import json

import pytest

from core.settings import Settings
from core.store.edge import EdgeStore
from core.text import romanise
from indexer.job import reindex
from tests.conftest import app_client
from tests.indexer.test_vocabulary import catalogue_rows


@pytest.fixture(scope="module")
def new_domain(encoder, tmp_path_factory):
    root = tmp_path_factory.mktemp("new-domain")
    catalogue = root / "products.jsonl"
    catalogue.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in catalogue_rows()), encoding="utf-8")
    settings = Settings(_env_file=None, store="edge", index_dir=root / "index", product_lexicon=False)
    store = EdgeStore(settings.index_dir, settings.collection)
    reindex(catalogue, encoder, store, progress=False)
    try:
        with app_client(settings, encoder, store) as client:
            yield client
    finally:
        store.close()


def test_info_shows_the_mined_vocabulary(new_domain):
    info = new_domain.get("/v1/info").json()
    vocab = info["vocabulary"]
    assert vocab is not None, info
    assert vocab["terms"]["th"] >= 6 and vocab["terms"]["en"] >= 6
    assert sum(vocab["pairs"].values()) >= 8 and vocab["romanised"]["th"] >= 6
    assert "cooccurrence" in vocab  # every source is counted (none here: one listing per category)


def test_romanised_thai_finds_the_thai_listing_through_the_vocabulary(new_domain):
    query = romanise("กาแฟ")
    r = new_domain.post("/v1/search", json={"query": query, "k": 3, "languages": ["th"], "explain": True})
    assert r.status_code == 200, r.text
    body = r.json()
    assert "กาแฟ" in body["translations"]
    assert body["results"][0]["id"] == "th-0", body["results"]
    assert any(p["term"] == query and p["source"] == "romanised" for p in body["vocabulary"]), body["vocabulary"]


def test_without_explain_no_vocabulary_is_listed(new_domain):
    r = new_domain.post("/v1/search", json={"query": "coffee", "k": 3, "languages": ["vi", "en"]})
    assert r.status_code == 200 and r.json()["vocabulary"] is None
