"""Merchant synonyms over HTTP: admin read and replace, durable file, and their effect on a real search."""

from __future__ import annotations

import json

import pytest

from app.query.synonyms import Synonyms

ADMIN_KEY = "admin-key-0123456789abcdef"
HEADERS = {"X-API-Key": ADMIN_KEY}
WORD = "quaffleburp"  # in no title, description or lexicon


@pytest.fixture()
def restore_synonyms(searcher):
    before = searcher.synonyms
    yield
    searcher.synonyms = before


def _ids(client, query: str, lang: str) -> tuple[list[str], list[str]]:
    r = client.post("/v1/search", json={"query": query, "k": 10, "languages": [lang]})
    assert r.status_code == 200, r.text
    return [x["id"] for x in r.json()["results"]], r.json()["synonyms"]


def test_synonyms_replace_read_persist_and_search(make_client, subset_catalogue, tmp_path, restore_synonyms):
    path = tmp_path / "synonyms.txt"
    client = make_client(admin_api_keys=[ADMIN_KEY], synonyms_path=path)
    product = next(p for p in map(json.loads, subset_catalogue.open(encoding="utf-8")) if p["language"] == "id")
    ids, added = _ids(client, WORD, "id")
    assert added == [] and product["id"] not in ids

    rules = f"[id]\n{WORD} => {product['title']}\n"
    r = client.put("/v1/admin/synonyms", json={"text": rules}, headers=HEADERS)
    assert r.status_code == 200, r.text
    assert r.json() == {"path": str(path), "rules": {"id": 1}, "text": rules}
    assert Synonyms.load(path).source == rules  # on disk before the answer
    assert client.get("/v1/admin/synonyms", headers=HEADERS).json()["rules"] == {"id": 1}
    assert client.get("/v1/info").json()["synonyms"] == {"id": 1}

    ids, added = _ids(client, WORD, "id")
    assert added == [product["title"]]
    assert product["id"] in ids[:3], ids  # the lexical side matched the title the rule added
    _, added_elsewhere = _ids(client, WORD, "th")
    assert added_elsewhere == []  # an [id] rule is not used in a Thai search


def test_bad_synonyms_change_nothing(make_client, tmp_path, restore_synonyms, searcher):
    path = tmp_path / "synonyms.txt"
    client = make_client(admin_api_keys=[ADMIN_KEY], synonyms_path=path)
    before = searcher.synonyms
    r = client.put("/v1/admin/synonyms", json={"text": "ok, fine\n[zz]\na, b\n"}, headers=HEADERS)
    assert r.status_code == 422
    assert r.json() == {
        "error": "bad_synonyms",
        "message": "line 2: unknown language 'zz'; expected one of en, vi, th, id, ms, tl, ur, bn, all",
    }
    assert searcher.synonyms is before and not path.exists()
    assert client.put("/v1/admin/synonyms", json={"text": "a, b"}).status_code == 401  # admin only


def test_put_without_a_path_is_refused(make_client, restore_synonyms):
    client = make_client(admin_api_keys=[ADMIN_KEY], synonyms_path=None)
    r = client.put("/v1/admin/synonyms", json={"text": "a, b"}, headers=HEADERS)
    assert r.status_code == 409 and r.json()["error"] == "synonyms_path_unset"
