"""The HTTP API over a small real index built with the real model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from core.settings import LANGUAGES
from tests.conftest import PER_LANGUAGE


def _search(client, **body):
    return client.post("/v1/search", json=body)


def test_health_and_readiness(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json()["ready"] is True and ready.json()["index_version"]


def test_info_counts_every_language(client, encoder):
    info = client.get("/v1/info").json()
    assert info["documents_per_language"] == dict.fromkeys(LANGUAGES, PER_LANGUAGE)
    assert info["documents"] == PER_LANGUAGE * len(LANGUAGES)
    assert info["dim"] == 384 and info["index_version"].startswith(info["model_fingerprint"][:8])
    assert info["query_encoding"] == (encoder.query_signature or "exact")  # what the settings trade for speed


def test_search_shape_and_k(client):
    r = _search(client, query="giày thể thao nam", k=5)
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["results"]) == 5
    assert body["took_ms"] > 0 and body["index_version"] and body["model"]
    first = body["results"][0]
    assert set(first) == {"id", "title", "language", "category", "brand", "price", "currency", "score"}
    scores = [x["score"] for x in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_exact_title_ranks_first(client, subset_catalogue):
    rows = [json.loads(line) for line in subset_catalogue.open(encoding="utf-8")]
    for lang in ("vi", "th", "ur"):
        product = next(p for p in rows if p["language"] == lang)
        results = _search(client, query=product["title"], k=3, languages=[lang]).json()["results"]
        assert product["id"] in [x["id"] for x in results], (lang, product["title"], results)


def test_filters(client):
    body = _search(client, query="mobile phone", k=50, languages=["th", "bn"]).json()
    assert body["results"] and {x["language"] for x in body["results"]} <= {"th", "bn"}

    any_result = _search(client, query="shoes", k=1).json()["results"][0]
    top = any_result["category"].split(" > ")[0]
    body = _search(client, query="shoes", k=50, category=top).json()
    assert body["results"] and all(x["category"].startswith(top) for x in body["results"])

    body = _search(client, query="rice cooker", k=50, languages=["en"], min_price=10, max_price=60).json()
    assert all(10 <= x["price"] <= 60 for x in body["results"])


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"query": "   "}, "must not be empty"),
        ({"query": "x" * 513}, "limit is 512"),
        ({"query": "ao", "languages": ["xx"]}, "valid codes: en, vi, th, id, ms, tl, ur, bn"),
        ({"query": "ao", "k": 0}, "k"),
        ({"query": "ao", "k": 101}, "k"),
        ({"query": "ao", "min_price": 50, "max_price": 10}, "must not exceed max_price"),
        ({"query": "ao", "category": "A >  > B"}, "no empty part"),
        ({"k": 3}, "query"),
    ],
)
def test_bad_search_requests_say_what_to_fix(client, body, fragment):
    r = _search(client, **body)
    assert r.status_code == 422
    problem = r.json()
    assert problem["error"] == "invalid_request" and fragment in problem["message"], problem


def test_malformed_json_is_4xx(client):
    r = client.post("/v1/search", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"


def test_encode(client):
    r = client.post("/v1/encode", json={"texts": ["áo thun nam", "เสื้อยืด"], "kind": "query"})
    assert r.status_code == 200, r.text
    body = r.json()
    vectors = np.asarray(body["vectors"], dtype=np.float32)
    assert vectors.shape == (2, body["dim"]) and body["dim"] == 384
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert client.post("/v1/encode", json={"texts": ["a"] * 65}).status_code == 422
    assert client.post("/v1/encode", json={"texts": []}).status_code == 422
    assert client.post("/v1/encode", json={"texts": ["a"], "kind": "document"}).status_code == 422


def test_openapi_docs(client):
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/v1/search", "/v1/encode", "/healthz", "/readyz", "/v1/info"} <= set(paths)


def test_a_product_is_read_back_by_id_as_the_catalogue_row(client, subset_catalogue):
    rows = [json.loads(line) for line in subset_catalogue.read_text(encoding="utf-8").splitlines()]
    for row in (rows[0], rows[len(rows) // 2], rows[-1]):
        r = client.get(f"/v1/products/{row['id']}")
        assert r.status_code == 200, r.text
        product = r.json()["product"]
        for field in ("id", "language", "title", "category", "brand", "currency"):
            assert product[field] == row.get(field, ""), field
        assert product["price"] == pytest.approx(row["price"])
        assert product["attributes"] == row.get("attributes", {})
        assert r.json()["index_version"]
    missing = client.get("/v1/products/no-such-product")
    assert missing.status_code == 404
    assert missing.json()["error"] == "product_not_found"
    assert client.get("/v1/products/" + "x" * 201).status_code == 422


def test_brand_filter_keeps_only_those_brands(client, subset_catalogue):
    rows = [json.loads(line) for line in subset_catalogue.read_text(encoding="utf-8").splitlines()]
    brands = sorted({r["brand"] for r in rows if r.get("brand")})[:2]
    r = _search(client, query="điện thoại", brands=brands, k=20)
    assert r.status_code == 200, r.text
    got = r.json()["results"]
    assert got and all(h["brand"] in brands for h in got)
    assert len(got) == min(20, sum(r.get("brand") in brands for r in rows))
    assert _search(client, query="x", brands=[""]).status_code == 422


def test_pages_are_disjoint_and_together_the_top_list(client):
    query = {"query": "giày thể thao", "languages": ["vi", "en"]}
    top = [h["id"] for h in _search(client, **query, k=30).json()["results"]]
    pages = [_search(client, **query, k=10, offset=o).json() for o in (0, 10, 20)]
    assert [p["offset"] for p in pages] == [0, 10, 20]
    ids = [h["id"] for p in pages for h in p["results"]]
    assert len(ids) == len(set(ids)) == 30 and ids == top
    deep = _search(client, query="giày", k=100, offset=1000).json()
    assert deep["results"] == []  # past the matches: an empty page, not an error
    assert _search(client, query="x", offset=1001).status_code == 422
    assert _search(client, query="x", offset=-1).status_code == 422


def test_sort_by_price_orders_the_matches(client):
    body = {"query": "tai nghe bluetooth", "languages": ["vi"], "k": 20}
    cheap = _search(client, **body, sort="price_asc").json()
    dear = _search(client, **body, sort="price_desc").json()
    assert cheap["sort"] == "price_asc" and cheap["total"] >= len(cheap["results"]) > 0
    prices = [h["price"] for h in cheap["results"]]
    assert prices == sorted(prices)
    assert [h["price"] for h in dear["results"]] == sorted((h["price"] for h in dear["results"]), reverse=True)
    assert dear["results"][0]["price"] >= cheap["results"][-1]["price"]
    # the cheapest page, continued, stays in price order across the page boundary
    nxt = _search(client, **body, sort="price_asc", offset=20).json()["results"]
    if nxt:
        assert nxt[0]["price"] >= prices[-1] and not {h["id"] for h in nxt} & {h["id"] for h in cheap["results"]}
    assert _search(client, query="x", sort="cheapest").status_code == 422


def test_facets_count_the_matches_and_a_facet_value_filters(client):
    r = _search(client, query="điện thoại", languages=["vi", "en"], facets=["category", "brand", "language", "price"])
    assert r.status_code == 200, r.text
    body = r.json()
    facets, total = body["facets"], body["total"]
    assert set(facets) == {"category", "brand", "language", "price"} and body["total_relation"] in ("eq", "gte")
    assert sum(f["count"] for f in facets["language"]) == total  # every match has one language
    assert {f["value"] for f in facets["language"]} <= {"vi", "en"}
    assert sum(b["count"] for b in facets["price"]) == total
    counts = [f["count"] for f in facets["category"]]
    assert counts == sorted(counts, reverse=True)
    # clicking a brand: the filtered search's matches are that brand's, as many as the facet said (the lexical
    # matches and the dense window are taken under the filter, so at least as many)
    brand = facets["brand"][0]
    narrowed = _search(client, query="điện thoại", languages=["vi", "en"], brands=[brand["value"]], facets=["brand"])
    assert [f["value"] for f in narrowed.json()["facets"]["brand"]] == [brand["value"]]
    assert narrowed.json()["total"] >= brand["count"]
    plain = _search(client, query="điện thoại").json()
    assert plain["facets"] is None and plain["total"] is None
    assert _search(client, query="x", facets=["colour"]).status_code == 422


def test_attribute_filters(client, subset_catalogue):
    rows = [json.loads(line) for line in subset_catalogue.read_text(encoding="utf-8").splitlines()]
    colour = next(r["attributes"]["colour"] for r in rows if r.get("attributes", {}).get("colour"))
    r = _search(client, query="áo", attributes={"colour": [colour]}, k=50)
    assert r.status_code == 200, r.text
    got = {h["id"] for h in r.json()["results"]}
    wanted = {row["id"] for row in rows if row.get("attributes", {}).get("colour") == colour}
    assert got and got <= wanted
    assert len(got) == min(50, len(wanted))
    for bad in ({"colour": []}, {"col.our": ["x"]}, {f"a{i}": ["x"] for i in range(11)}):
        assert _search(client, query="x", attributes=bad).status_code == 422, bad


def test_suggest_completes_prefixes_without_diacritics_and_in_the_market(client, searcher, subset_catalogue):
    from collections import Counter

    from core.text import fold

    searcher.vocabulary_ready.wait(60)
    rows = [json.loads(line) for line in subset_catalogue.read_text(encoding="utf-8").splitlines()]
    # the commonest first word of the Vietnamese titles that carries a diacritic ("máy"), typed without it
    first = Counter(r["title"].split()[0].lower() for r in rows if r["language"] == "vi")
    word = next(w for w, _ in first.most_common() if fold(w) != w)
    r = client.get("/v1/suggest", params={"q": fold(word), "languages": "vi"})
    assert r.status_code == 200, r.text
    got = r.json()["suggestions"]
    assert got and len(got) <= 10
    assert all(s["language"] in ("vi", None) for s in got)
    product = [s for s in got if s["kind"] == "product"]
    assert product and any(s["text"].startswith(word) for s in product), (word, got)
    assert all(fold(word) in fold(s["text"]) for s in got), got
    counts = [s["count"] for s in got]
    assert counts == sorted(counts, reverse=True)
    thai = client.get("/v1/suggest", params={"q": "หู", "languages": "th"}).json()["suggestions"]
    assert all(s["language"] in ("th", None) for s in thai)
    assert client.get("/v1/suggest", params={"q": "giay", "languages": "xx"}).status_code == 422
    assert client.get("/v1/suggest", params={"q": ""}).status_code == 422
    assert client.get("/v1/suggest", params={"q": "giay", "k": 11}).status_code == 422
    assert client.get("/v1/suggest", params={"q": "zzzzqqq"}).json()["suggestions"] == []
