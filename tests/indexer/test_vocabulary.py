"""The catalogue's own vocabulary: mined by the real indexer with the real encoder, kept with the version, used to
translate and romanise queries."""

from __future__ import annotations

import json

import pytest

from app.query.expansion import build_translator
from core.catalogue import Product
from core.store.edge import EdgeStore
from core.text import romanise
from indexer.job import reindex
from indexer.vocabulary import CatalogueVocabulary, VocabularyPair, align, cooccurrence_pairs, serving_vocabulary
from tests.indexer.helpers import CountingEncoder

# (English, Vietnamese, Thai, category): everyday products, each in its own leaf category
NAMES = [
    ("coffee", "cà phê", "กาแฟ", "Food > Drinks > Coffee"),
    ("tea", "trà", "ชา", "Food > Drinks > Tea"),
    ("umbrella", "ô dù", "ร่ม", "Fashion > Accessories > Umbrellas"),
    ("running shoes", "giày chạy bộ", "รองเท้าวิ่ง", "Fashion > Shoes > Running Shoes"),
    ("rice cooker", "nồi cơm điện", "หม้อหุงข้าว", "Home > Kitchen > Rice Cookers"),
    ("backpack", "ba lô", "กระเป๋าเป้", "Fashion > Bags > Backpacks"),
]


def catalogue_rows() -> list[dict]:
    rows = []
    for i, (en, vi, th, category) in enumerate(NAMES):
        for lang, title, currency in (("en", en, "USD"), ("vi", vi, "VND"), ("th", th, "THB")):
            rows.append(
                {
                    "id": f"{lang}-{i}",
                    "language": lang,
                    "title": title,
                    "category": category,
                    "price": 1.0,
                    "currency": currency,
                }
            )
    return rows


@pytest.fixture(scope="module")
def mined(encoder, tmp_path_factory) -> CatalogueVocabulary:
    root = tmp_path_factory.mktemp("vocabulary")
    catalogue = root / "products.jsonl"
    catalogue.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in catalogue_rows()), encoding="utf-8")
    store = EdgeStore(root / "index", "products")
    try:
        summary = reindex(catalogue, encoder, store, progress=False)
        assert summary.vocabulary_pairs > 0
        version = store.current_version()
        assert version is not None
        vocab = serving_vocabulary(store, version)
    finally:
        store.close()
    assert vocab is not None, "the indexer keeps the vocabulary with the version it built"
    return vocab


def test_market_names_are_aligned_to_their_english_names(mined):
    aligned = {(p.language, p.term): p.english for p in mined.pairs if p.source == "aligned"}
    # right: the product's English title or a name on its category path ("ba lô" → "bags" or "backpacks")
    right = {
        term: {en, *(part.lower() for part in category.split(" > "))}
        for en, vi, th, category in NAMES
        for term in (vi, th)
    }
    wrong = {k: v for k, v in aligned.items() if v not in right[k[1]]}
    assert not wrong, f"pairs to the wrong product: {wrong}"
    assert len(aligned) >= 8, f"most of the 12 names should be paired: {aligned}"
    assert mined.terms["en"] >= len(NAMES)  # English titles and the category names


def test_thai_terms_get_their_romanised_spellings(mined):
    romanised = {p.term: p.english for p in mined.pairs if p.source == "romanised" and p.language == "th"}
    spelling = romanise("กาแฟ")
    assert spelling and romanised.get(spelling) in ("coffee", "กาแฟ")
    translator = build_translator(mined.entries())
    assert "กาแฟ" in translator.translations(spelling, ["th"])  # a romanised query gains the Thai title's word


def test_translator_from_the_vocabulary_bridges_languages(mined):
    translator = build_translator(mined.entries())
    pairs = {(p.language, p.term) for p in mined.pairs if p.source == "aligned"}
    if ("vi", "cà phê") not in pairs:
        pytest.fail(f"cà phê was not aligned: {sorted(pairs)}")
    assert "cà phê" in translator.translations("coffee", ["vi"])
    assert "coffee" in translator.translations("cà phê", ["vi", "en"])  # the English listings' word too


def test_vocabulary_json_round_trips(mined):
    again = CatalogueVocabulary.from_json(json.loads(json.dumps(mined.to_json())))
    assert again.terms == mined.terms
    assert [(p.language, p.term, p.english, p.source) for p in again.pairs] == [
        (p.language, p.term, p.english, p.source) for p in mined.pairs
    ]
    assert again.summary()["pairs"] == mined.summary()["pairs"]


def _product(i: int, lang: str, title: str, category: str, **attributes: str) -> Product:
    return Product(
        id=f"{lang}-{i}",
        language=lang,
        title=title,
        category=category,
        price=1.0,
        currency="USD",
        attributes=attributes,
    )


def test_cooccurrence_pairs_a_title_word_with_the_label_it_always_comes_with():
    products = [
        _product(i, "vi", f"áo thun {colour}", "Fashion > Tops > T-Shirts", colour=en)
        for i, (colour, en) in enumerate([("đen", "black")] * 4 + [("trắng", "white")] * 3 + [("đỏ", "red")])
    ]
    pairs = {(p.term, p.english) for p in cooccurrence_pairs(products)}
    assert ("đen", "black") in pairs and ("trắng", "white") in pairs
    assert ("áo thun", "t-shirts") in pairs  # on every listing of the category
    assert not any(term == "đỏ" for term, _ in pairs)  # one listing is no evidence
    assert not any(term == "áo thun" and en != "t-shirts" for term, en in pairs)  # with every colour: none of them


def test_align_keeps_mutual_nearest_neighbours_only():
    import numpy as np

    source = np.array([[1.0, 0.0], [0.9, 0.1]])  # both closest to target 0; only row 0 is its nearest
    target = np.array([[1.0, 0.0], [0.0, 1.0]])
    cats = [frozenset()] * 2
    assert [(i, j) for i, j, _ in align(source, target, cats, cats, k=1, bonus=0.0, min_score=-9)] == [(0, 0)]


def test_summary_counts_each_source():
    vocab = CatalogueVocabulary(
        [
            VocabularyPair("th", "กาแฟ", "coffee", 0.3, "aligned"),
            VocabularyPair("th", "kafae", "coffee", 0.3, "romanised"),
            VocabularyPair("vi", "đen", "black", 1.0, "cooccurrence"),
        ],
        {"th": 1, "vi": 1},
    )
    s = vocab.summary()
    assert (s["pairs"], s["romanised"], s["cooccurrence"]) == ({"th": 1}, {"th": 1}, {"vi": 1})
    assert ("th", "กาแฟ", "coffee") in vocab.entries() and ("en", "coffee", "coffee") in vocab.entries()


def test_a_reindex_encodes_only_the_terms_it_has_not_seen(encoder, tmp_path):
    rows = catalogue_rows()
    catalogue = tmp_path / "products.jsonl"
    catalogue.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cache = tmp_path / "terms.npz"
    counting = CountingEncoder(encoder, kind="query")
    store = EdgeStore(tmp_path / "index", "products")
    try:
        first = reindex(catalogue, counting, store, progress=False, term_cache=cache)
        assert counting.texts and cache.is_file()
        rows.append(
            {
                "id": "vi-9",
                "language": "vi",
                "title": "bình giữ nhiệt",
                "category": "Home > Kitchen > Flasks",
                "price": 1.0,
                "currency": "VND",
            }
        )
        catalogue.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
        counting.texts.clear()
        second = reindex(catalogue, counting, store, progress=False, term_cache=cache)
        assert "bình giữ nhiệt" in counting.texts and "cà phê" not in counting.texts  # only the new terms
        assert second.vocabulary_pairs >= first.vocabulary_pairs - 2
        version = store.current_version()
        assert version is not None
        again = serving_vocabulary(store, version)
        assert again is not None and again.terms["vi"] == first_terms(rows, "vi")
    finally:
        store.close()


def first_terms(rows: list[dict], language: str) -> int:
    from indexer.vocabulary import catalogue_terms

    return len(catalogue_terms([Product.model_validate(r) for r in rows])[language].texts)
