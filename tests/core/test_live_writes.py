"""The document API's writes into the serving version, on every engine: new, changed and deleted products are
searched at once (dense, hybrid and matches alike, with their new vectors), and the journal that makes them
durable."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.catalogue import Product
from core.journal import ProductJournal
from core.lexical import document_vector, query_vector
from core.store.base import Filters, IndexVersion, StoreUnavailable, VectorStore
from tests.core.stores import DIM, ENGINES, make_store

TITLES = [f"steel kettle model {i}" for i in range(30)] + [f"running shoes size {i}" for i in range(30)]


def _unit(rng, n):
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _product(i: int, title: str, price: float = 10.0) -> Product:
    return Product(id=f"p{i:03d}", language="en", title=title, category="Home > Kitchen", price=price, currency="USD")


@pytest.fixture(params=ENGINES)
def live(request, tmp_path):
    rng = np.random.default_rng(1)
    products = [_product(i, t) for i, t in enumerate(TITLES)]
    store = make_store(request.param, tmp_path)
    version = IndexVersion.new("testmodel", "f00d")
    store.create_version(version, DIM)
    store.upsert(
        version,
        [p.id for p in products],
        _unit(rng, len(products)),
        [p.payload() for p in products],
        [document_vector(p.title) for p in products],
    )
    store.finalize(version)
    store.activate(version)
    store.open_current()
    yield store, version, rng
    store.close()


def _write(store: VectorStore, version, products, vectors, deletes=()):
    store.write_live(
        version,
        [p.id for p in products],
        vectors,
        [p.payload() for p in products],
        [document_vector(p.title) for p in products],
        deletes=deletes,
    )


def test_new_changed_and_deleted_products_are_searched_at_once(live):
    store, version, rng = live
    new = _product(900, "bamboo cutting board", price=3.0)
    changed = _product(5, "titanium kettle deluxe", price=99.0)
    vectors = _unit(rng, 2)
    _write(store, version, [new, changed], vectors, deletes=["p040"])

    assert store.search(vectors[0], 1, exact=True)[0].id == "p900"
    hit = store.search(vectors[1], 1, exact=True)[0]
    assert hit.id == "p005" and hit.payload["title"] == "titanium kettle deluxe"
    # hybrid: the candidates carry the new vectors (what LaSR reads), and the lexical side knows the new words
    hybrid = store.hybrid_search(vectors[1], query_vector("titanium kettle"), 10, prefetch=20, with_vectors=True)
    top = hybrid[0]
    assert top.id == "p005" and top.lexical is not None
    np.testing.assert_allclose(top.vector, vectors[1], atol=1e-5)
    assert top.dense == pytest.approx(1.0, abs=1e-4)
    board = store.hybrid_search(vectors[0], query_vector("bamboo board"), 5, prefetch=20)
    assert board[0].id == "p900" and store.with_display_fields(board[:1])[0].payload["price"] == 3.0
    # gone everywhere
    assert "p040" not in {h.id for h in store.search(vectors[0], 60, exact=True)}
    assert "p040" not in {h.id for h in store.hybrid_search(vectors[0], query_vector("running shoes"), 60, prefetch=60)}
    assert not store.retrieve(["p040"])
    matches = store.matches(vectors[0], query_vector("shoes"), Filters(), 5, 1000)
    assert "p040" not in {p["id"] for p in matches.payloads} and len(matches.payloads) >= 29
    assert store.count() == len(TITLES)  # one new, one deleted


def test_a_write_to_a_version_that_no_longer_serves_is_refused(live):
    store, version, rng = live
    other = IndexVersion.new("testmodel", "beef")
    store.create_version(other, DIM)
    store.upsert(other, ["q1"], _unit(rng, 1), [_product(1, "x").payload()])
    store.finalize(other)
    store.activate(other)
    store.open_current()
    with pytest.raises(StoreUnavailable):
        _write(store, version, [_product(2, "late")], _unit(rng, 1))


def test_the_journal_keeps_acknowledged_writes_and_merges_over_a_catalogue(tmp_path):
    journal = ProductJournal(tmp_path / "products.journal.jsonl")
    assert journal.seq() == 0 and journal.entries() == []
    a, b = _product(1, "first"), _product(2, "second")
    assert journal.append([a, b]) == 2
    assert journal.append(deletes=["p001"]) == 3
    # a crash mid-append leaves a torn line: it was never acknowledged, so it is skipped, then cut off
    with open(journal.path, "ab") as fh:
        fh.write(b'{"seq": 4, "op": "upsert", "prod')
    assert [e.seq for e in journal.entries()] == [1, 2, 3]
    assert journal.append([_product(3, "third")]) == 4
    assert [e.op for e in journal.entries(after=2)] == ["delete", "upsert"]
    catalogue = [_product(1, "old first"), _product(2, "old second"), _product(7, "untouched")]
    merged, applied, seq = journal.merged(catalogue)
    assert {p.id: p.title for p in merged} == {"p007": "untouched", "p002": "second", "p003": "third"}
    assert (applied, seq) == (4, 4)
    lines = [json.loads(line) for line in journal.path.read_text().splitlines()]
    assert [x["seq"] for x in lines] == [1, 2, 3, 4]
    # cleared once folded into the catalogue: numbering goes on, so versions' records stay true
    assert journal.clear() == 4 and journal.entries() == [] and journal.seq() == 4
    assert journal.append([a]) == 5
