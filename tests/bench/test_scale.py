"""bench.scale's generated catalogue and its exact ground truth (the store runs themselves are the benchmark)."""

from __future__ import annotations

import numpy as np

from bench.scale import ExactTop, Points, Queries
from core.catalogue import Product


def _base(n: int) -> list[Product]:
    languages = ("en", "vi", "th")
    return [
        Product(
            id=f"p{i}",
            language=languages[i % 3],
            title=f"product {i} shoes",
            category="Shoes > Boots",
            price=10.0 + i,
            currency="USD",
            attributes={"colour": "black"},
        )
        for i in range(n)
    ]


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_points_are_distinct_products_near_their_row():
    base = _base(7)
    vectors = _unit(np.random.default_rng(123).normal(size=(7, 16)))
    points = Points(base, vectors, n=50, noise=0.3)
    chunks = list(points.chunks(8))
    products = [p for c in chunks for p in c[0]]
    vecs = np.concatenate([c[1] for c in chunks])
    sparse = [s for c in chunks for s in c[2]]
    assert len(products) == len(vecs) == len(sparse) == 50
    assert len({p.id for p in products}) == 50, "every variant is a product of its own"
    assert products[:7] == base, "variant 0 is the row itself"
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(vecs[:7], vectors)
    cos = np.sum(vecs[7:] * vectors[np.arange(7, 50) % 7], axis=1)
    assert np.all((cos > 0.9) & (cos < 0.999)), "a variant's vector is its row's, perturbed"
    variant = products[7 + 3]  # row 3, variant 1
    assert variant.id == "p3-v1" and variant.title.endswith(variant.attributes["model"])
    assert len(sparse[10]) > len(sparse[3]), "the variant's code is one of its lexical terms"
    again = [p for c in Points(base, vectors, n=50, noise=0.3).chunks(16) for p in c[0]]
    assert [p.price for p in again] == [p.price for p in products], "the same catalogue whatever the chunk size"


def test_exact_top_is_brute_force_over_all_chunks_and_per_market():
    base = _base(9)
    vectors = _unit(np.random.default_rng(1).normal(size=(9, 16)))
    points = Points(base, vectors, n=200, noise=0.5)
    queries = Queries(["a", "b", "c"], ["vi", "th", "en"], _unit(np.random.default_rng(2).normal(size=(3, 16))))
    exact = ExactTop(queries, k=5)
    products, vecs = [], []
    for chunk_products, chunk_vecs, _ in points.chunks(32, lexical=False):
        exact.add(chunk_products, chunk_vecs)
        products += chunk_products
        vecs.append(chunk_vecs)
    scores = queries.vectors @ np.concatenate(vecs).T
    languages = np.array([p.language for p in products])
    for qi, market in enumerate(queries.markets):
        top = [products[j].id for j in np.argsort(-scores[qi])[:5]]
        assert set(exact.ids["all"][qi]) == set(top)
        masked = np.where((languages == market) | (languages == "en"), scores[qi], -np.inf)
        assert set(exact.ids["market"][qi]) == {products[j].id for j in np.argsort(-masked)[:5]}
    assert exact.recall("all", exact.ids["all"]) == 1.0
    half = [ids[:2] + ["x", "y", "z"] for ids in exact.ids["all"]]
    assert exact.recall("all", half) == 0.4
