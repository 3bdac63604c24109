"""/v1/search's hybrid, rerank and explain switches, and the query language, over the real subset index."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from app.retrieval.hybrid import spelled_vector
from tests.conftest import app_client


def _search(client, **body):
    r = client.post("/v1/search", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_explain_reports_every_score(client) -> None:
    body = _search(client, query="tai nghe bluetooth", k=10, explain=True, rerank=False)
    assert body["hybrid"] is True and body["reranked"] is False
    for r in body["results"]:
        assert -1 <= r["dense_score"] <= 1 and r["fused_score"] == r["score"] > 0
        assert "rerank_score" not in r
    assert any("lexical_score" in r for r in body["results"])  # "bluetooth" is in some titles
    plain = _search(client, query="tai nghe bluetooth", k=10, rerank=False)
    assert [r["id"] for r in plain["results"]] == [r["id"] for r in body["results"]]
    assert not {"dense_score", "lexical_score", "fused_score", "rerank_score"} & set(plain["results"][0])


def test_dense_only_scores_are_cosines(client) -> None:
    body = _search(client, query="giày thể thao nữ", k=8, hybrid=False, rerank=False, explain=True)
    assert body["hybrid"] is False and body["reranked"] is False
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True) and all(-1 <= s <= 1 for s in scores)
    assert all(r["dense_score"] == r["score"] and "fused_score" not in r for r in body["results"])


@pytest.mark.parametrize(
    ("query", "brand", "model"),
    [
        ("JBL 720BT", "JBL", "720BT"),
        ("Trinx M136", "Trinx", "M136"),
        ("Epson L121", "Epson", "L121"),
    ],
)
def test_a_typed_model_number_finds_its_product_first(client, query, brand, model) -> None:
    body = _search(client, query=query, k=5)
    top = body["results"][0]
    assert model in top["title"] and top["brand"] == brand, [r["title"] for r in body["results"]]


def test_query_language_given_detected_or_rejected(client) -> None:
    given = _search(client, query="sepatu lari", query_language="id", rerank=False)
    assert (given["query_language"], given["query_language_source"]) == ("id", "given")
    thai = _search(client, query="รองเท้าวิ่ง", rerank=False)
    assert (thai["query_language"], thai["query_language_source"]) == ("th", "script")
    r = client.post("/v1/search", json={"query": "x", "query_language": "xx"})
    assert r.status_code == 422 and "valid codes" in r.text and "vi" in r.text


def test_rerank_flag_follows_the_loaded_reranker(client) -> None:
    info = client.get("/v1/info").json()
    body = _search(client, query="áo sơ mi nam", k=5, explain=True)
    assert body["reranked"] is (info["reranker"] is not None)
    if body["reranked"]:
        assert body["reranker"] == info["reranker"] and all("rerank_score" in r for r in body["results"])
    else:
        assert info["reranker_status"] != "ready"


def test_an_untrained_reranker_orders_the_fused_candidates_by_cosine(indexed_settings, encoder) -> None:
    """A LaSR head before training scores by cosine alone: reranking must then return the fused top-N sorted by
    dense score — which checks that the candidates, their vectors and the reordering are wired right."""
    from core.store import open_store
    from model.lasr.head import LaSR
    from model.lasr.reranker import Reranker

    store = open_store(indexed_settings, read_only=True)
    try:
        with app_client(indexed_settings, encoder, store) as client:
            searcher = client.app.state.searcher
            searcher.reranker = Reranker(LaSR(), hashlib.sha256(b"untrained").hexdigest(), encoder.fingerprint, 60, 50)
            fused = _search(client, query="nồi cơm điện", k=50, rerank=False, explain=True)["results"]
            body = _search(client, query="nồi cơm điện", k=10, rerank=True, explain=True)
            assert body["reranked"] is True and body["reranker"].startswith("lasr@")
            want = sorted(fused, key=lambda r: -r["dense_score"])[:10]
            assert [r["id"] for r in body["results"]] == [r["id"] for r in want]
            assert all(r["score"] == r["rerank_score"] for r in body["results"])
    finally:
        store.close()


def test_a_misspelt_word_is_reported_and_matched_lexically(client, searcher) -> None:
    assert searcher.vocabulary_ready.wait(60), "the spelling vocabulary is built in the background at start-up"
    assert client.get("/readyz").status_code == 200
    body = _search(client, query="tai nghe bluetoth", k=10, explain=True, rerank=False)
    assert body["spelling"] == {"bluetoth": "bluetooth"}
    assert any("lexical_score" in r and "bluetooth" in r["title"].lower() for r in body["results"])
    assert _search(client, query="tai nghe bluetooth", rerank=False)["spelling"] == {}  # nothing to correct
    # the dense side takes the correction too: the mean direction of the query as typed and as corrected
    # ("bluetoth" would not show it: Arca's gloss view already reads it as "bluetooth")
    query = "adiddas"
    dense = _search(client, query=query, hybrid=False, rerank=False, k=10)
    assert dense["spelling"] == {"adiddas": "adidas"}
    typed, fixed = searcher.encoder.encode([query, "adidas"], kind="query")
    expected = searcher.store.search(spelled_vector(typed, fixed), 10)
    assert [r["id"] for r in dense["results"]] == [h.id for h in expected]
    scores = np.array([r["score"] for r in dense["results"]])
    assert np.allclose(scores, [h.score for h in expected], atol=1e-5)
    assert not np.allclose(scores, [h.score for h in searcher.store.search(typed, 10)], atol=1e-3)  # not as typed


def test_english_words_search_the_market_in_its_own_words(client) -> None:
    """A shopper in the Vietnamese market types English: the lexicon's Vietnamese terms join the lexical query
    and are reported; Vietnamese listings match lexically."""
    body = _search(client, query="air fryer", languages=["vi"], k=5, explain=True, rerank=False)
    assert "nồi chiên không dầu" in body["translations"]
    top = body["results"][0]
    assert top["language"] == "vi" and "Nồi Chiên Không Dầu" in top["title"] and top["lexical_score"] > 0
    # no market, no translation; nor for words already in the market's language
    assert _search(client, query="air fryer", k=5)["translations"] == []
    assert _search(client, query="nồi chiên không dầu", languages=["vi"], k=5)["translations"] == []
