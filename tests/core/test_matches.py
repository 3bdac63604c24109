"""A query's matches (total, facets, price sort) on every engine, against a brute-force count over the catalogue:
the dense top-``window`` under the filters and every product sharing a lexical term with the query."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest

from app.retrieval.facets import by_price, facet_counts, price_bucket
from core.catalogue import Product
from core.lexical import document_vector, query_vector
from core.store.base import Filters, IndexVersion, Matches, VectorStore
from tests.core.stores import DIM, ENGINES, make_store

WORDS = ["phone", "case", "black", "shoes", "running", "giày", "thể", "thao", "kettle", "steel", "tai", "nghe"]
BRANDS = ["Acme", "Zen", "Acme Pro", ""]
CATEGORIES = ["Electronics > Phones", "Electronics > Audio", "Fashion > Shoes", "Home > Kitchen"]
LANGUAGES = ["en", "vi", "th", "id"]
COLOURS = ["black", "white", "red"]
N = 240


@pytest.fixture(scope="module")
def corpus():
    rng = random.Random(3)
    vectors = np.random.default_rng(3).normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    products = [
        Product(
            id=f"m{i:04d}",
            language=LANGUAGES[i % 4],
            title=" ".join(rng.sample(WORDS, 3)) + f" {i}",
            category=rng.choice(CATEGORIES),
            brand=rng.choice(BRANDS),
            price=rng.choice([0.5, 1, 3.5, 9.99, 10, 19, 49, 120, 2500, 1_299_000]),
            currency="VND" if i % 4 == 1 else "USD",
            attributes={"colour": rng.choice(COLOURS)} if i % 3 else {},
        )
        for i in range(N)
    ]
    return products, vectors, [document_vector(p.title) for p in products]


@pytest.fixture(scope="module")
def stores(tmp_path_factory, corpus):
    products, vectors, sparse = corpus
    out: dict[str, VectorStore] = {}
    for engine in ENGINES:
        store = make_store(engine, tmp_path_factory.mktemp(f"matches-{engine}"))
        version = IndexVersion.new("testmodel", "face")
        store.create_version(version, DIM)
        store.upsert(version, [p.id for p in products], vectors, [p.payload() for p in products], sparse)
        store.finalize(version)
        store.activate(version)
        out[engine] = store
    yield out
    for store in out.values():
        store.close()


def cases(corpus) -> list[tuple[np.ndarray, str, Filters, int]]:
    """20 random queries (a vector and a text of catalogue words) under random filters, with random windows."""
    products, vectors, _ = corpus
    rng = random.Random(11)
    filters = [
        Filters(),
        Filters(languages=("en", "vi")),
        Filters(category="Electronics"),
        Filters(min_price=5, max_price=200),
        Filters(brands=("Acme", "Zen")),
        Filters(attributes=(("colour", ("black", "red")),)),
        Filters(languages=("th",), attributes=(("colour", ("white",)),), max_price=1000),
    ]
    out = []
    for i in range(20):
        anchor = vectors[rng.randrange(N)] + 0.5 * np.random.default_rng(i).normal(size=DIM).astype(np.float32)
        out.append(
            (
                anchor / np.linalg.norm(anchor),
                " ".join(rng.sample(WORDS, 2)),
                rng.choice(filters),
                rng.choice([5, 20, 60]),
            )
        )
    return out


def brute_force(corpus, vector: np.ndarray, text: str, filters: Filters, window: int) -> set[str]:
    products, vectors, sparse = corpus
    admitted = [i for i, p in enumerate(products) if filters.admits(p.payload())]
    dense = sorted(admitted, key=lambda i: -float(vectors[i] @ vector))[:window]
    terms = set(query_vector(text).indices.tolist())
    lexical = [i for i in admitted if terms & set(sparse[i].indices.tolist())]
    return {products[i].id for i in set(dense) | set(lexical)}


@pytest.mark.parametrize("engine", ENGINES)
def test_matches_and_facet_counts_equal_a_brute_force_count(stores, corpus, engine):
    products = {p.id: p for p in corpus[0]}
    for vector, text, filters, window in cases(corpus):
        got = stores[engine].matches(vector, query_vector(text), filters, window, lexical_cap=10_000)
        want = brute_force(corpus, vector, text, filters, window)
        ids = [p["id"] for p in got.payloads]
        assert len(ids) == len(set(ids)) and set(ids) == want, (text, filters, window)
        assert got.complete
        facets = facet_counts(got.payloads, ["category", "brand", "language", "price"], size=100)
        rows = [products[i] for i in want]
        assert {f["value"]: f["count"] for f in facets["category"]} == Counter(p.category for p in rows)
        assert {f["value"]: f["count"] for f in facets["brand"]} == Counter(p.brand for p in rows if p.brand)
        assert {f["value"]: f["count"] for f in facets["language"]} == Counter(p.language for p in rows)
        for bucket in facets["price"]:
            inside = [p for p in rows if p.currency == bucket["currency"] and bucket["min"] <= p.price < bucket["max"]]
            assert bucket["count"] == len(inside), bucket
        assert sum(b["count"] for b in facets["price"]) == len(rows)


def test_engines_agree_on_matches(stores, corpus):
    for vector, text, filters, window in cases(corpus):
        edge, local = (stores[e].matches(vector, query_vector(text), filters, window, 10_000) for e in ENGINES)
        assert edge.dense_ids == local.dense_ids  # the lexical matches' order has ties: their set is what counts
        assert {p["id"] for p in edge.payloads} == {p["id"] for p in local.payloads}


def test_a_lexical_cap_makes_the_total_a_lower_bound(stores, corpus):
    products, vectors, _ = corpus
    for store in stores.values():
        got = store.matches(vectors[0], query_vector("phone case black shoes"), Filters(), 5, lexical_cap=10)
        assert not got.complete and len(got.payloads) <= 15
        full = store.matches(vectors[0], query_vector("phone case black shoes"), Filters(), 5, lexical_cap=10_000)
        assert full.complete and len(full.payloads) > len(got.payloads)


def test_price_buckets_and_order():
    assert [price_bucket(x) for x in (0, 0.99, 1, 4.99, 5, 10, 1_299_000)] == [
        (0, 1),
        (0, 1),
        (1, 2),
        (2, 5),
        (5, 10),
        (10, 20),
        (1_000_000, 2_000_000),
    ]
    rows = [{"id": "a", "price": 5.0}, {"id": "b", "price": 1.0}, {"id": "c"}, {"id": "d", "price": 5.0}]
    assert [p["id"] for p in by_price(rows, descending=False)] == ["b", "a", "d", "c"]
    assert [p["id"] for p in by_price(rows, descending=True, relevance=["d", "a"])] == ["d", "a", "b", "c"]
    # two currencies: the one most matches are in first (the market's), each by its own prices
    mixed = [
        {"id": "u1", "price": 30.0, "currency": "USD"},
        {"id": "v1", "price": 259000.0, "currency": "VND"},
        {"id": "v2", "price": 19000.0, "currency": "VND"},
        {"id": "u2", "price": 9.99, "currency": "USD"},
        {"id": "v3", "price": 99000.0, "currency": "VND"},
    ]
    assert [p["id"] for p in by_price(mixed, descending=False)] == ["v2", "v3", "v1", "u2", "u1"]
    assert [p["id"] for p in by_price(mixed, descending=True)] == ["v1", "v3", "v2", "u1", "u2"]
    top = facet_counts([{"brand": "X"}, {"brand": "Y"}, {"brand": "Y"}, {"brand": ""}], ["brand"], size=1)
    assert top == {"brand": [{"value": "Y", "count": 2}]}


def test_only_matches_close_to_the_best_of_their_side_count():
    from core.store.base import Matches

    dense = [({"id": "a"}, 0.90), ({"id": "b"}, 0.87), ({"id": "c"}, 0.84)]
    lexical = [({"id": "b"}, 40.0), ({"id": "d"}, 21.0), ({"id": "e"}, 19.0)]
    got = Matches.union(dense, lexical, cap=10, dense_margin=0.04, lexical_ratio=0.5)
    assert [p["id"] for p in got.payloads] == ["a", "b", "d"] and got.dense_ids == {"a", "b"}
    assert got.payloads[1]["score"] == 0.87  # a product on both sides keeps its cosine
    everything = Matches.union(dense, lexical, cap=10)
    assert {p["id"] for p in everything.payloads} == {"a", "b", "c", "d", "e"}


@pytest.mark.parametrize("engine", ENGINES)
def test_the_engines_cut_each_side_where_the_union_would(stores, corpus, engine):
    """With thresholds the engine returns only what can match: the same set as cutting the full lists."""
    for vector, text, filters, window in cases(corpus):
        store = stores[engine]
        cut = store.matches(vector, query_vector(text), filters, window, 10_000, dense_margin=0.05, lexical_ratio=0.5)
        dense, lexical = store._match_query(vector, query_vector(text), filters, window, 10_000, None, None)
        want = Matches.union(dense, lexical, 10_000, dense_margin=0.05, lexical_ratio=0.5)
        assert {p["id"] for p in cut.payloads} == {p["id"] for p in want.payloads}
        assert cut.dense_ids == want.dense_ids
