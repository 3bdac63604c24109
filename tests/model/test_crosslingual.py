"""Cross-lingual lexical expansion: English product words → the market's lexicon terms, and market words → their
English spellings when the English listings are searched too."""

from __future__ import annotations

from app.query.expansion import QueryTranslator, default_translator

ENTRIES = [
    ("en", "running shoes", "running shoes"),
    ("en", "trainers", "running shoes"),
    ("en", "black", "black"),
    ("en", "shoes", "shoes"),
    ("en", "in", "inch"),  # an English stopword as a key: never matched on its own
    ("vi", "giày chạy bộ", "running shoes"),
    ("vi", "giay chay bo", "running shoes"),
    ("vi", "giày", "shoes"),
    ("vi", "đen", "black"),
    ("th", "รองเท้าวิ่ง", "running shoes"),
    ("id", "sepatu lari", "running shoes"),
]


def test_longest_english_phrase_wins_and_every_market_spelling_comes_along() -> None:
    tr = QueryTranslator(ENTRIES)
    assert tr.english_phrases("Black Running Shoes size 42") == ["black", "running shoes"]  # not "shoes" alone
    assert tr.english_phrases("trainers in black") == ["running shoes", "black"]  # synonyms; "in" is a stopword
    assert tr.translations("black running shoes", ["vi", "en"]) == ["đen", "giày chạy bộ", "giay chay bo"]
    assert tr.translations("trainers", ["th", "id"]) == ["รองเท้าวิ่ง", "sepatu lari"]


def test_no_market_or_no_english_words_add_nothing() -> None:
    tr = QueryTranslator(ENTRIES)
    assert tr.translations("black running shoes", None) == []
    assert tr.translations("black running shoes", ["en"]) == []
    assert tr.translations("giày chạy bộ", ["vi"]) == []  # already in the market's words
    assert tr.translations("black", ["ms"]) == []  # the lexicon has no Malay for it here


def test_the_product_lexicon_translates_shopper_english() -> None:
    tr = default_translator()
    vi = tr.translations("black vacuum cleaner", ["vi", "en"])
    assert "máy hút bụi" in vi and "đen" in vi
    assert any(t.startswith("বই") or "বই" in t for t in tr.translations("recipe book", ["bn"]))
    assert tr.translations("xiaomi", ["vi"]) == []  # brands are matched as typed


def test_romanised_spellings_bring_the_native_script_terms() -> None:
    entries = [
        *ENTRIES,
        ("th", "rong thao wing", "running shoes"),
        ("ur", "kala", "black"),
        ("ur", "کالا", "black"),
        ("th", "S", "S"),
    ]
    tr = QueryTranslator(entries)
    assert tr.translations("rong thao wing nike", ["th"]) == ["รองเท้าวิ่ง"]  # not what was typed again
    assert "کالا" in tr.translations("kala joota", ["ur"])
    assert tr.english_phrases("size s") == []  # one-letter spellings are never keys
    assert QueryTranslator(entries, romanised=False).translations("rong thao wing", ["th"]) == []


def test_romanised_words_typed_another_way_are_matched_by_their_consonants() -> None:
    entries = [
        ("th", "กาแฟ", "coffee"),
        ("th", "kafae", "coffee"),
        ("bn", "কফি", "coffee"),
        ("bn", "kaphi", "coffee"),
        ("ur", "kala", "black"),
        ("ur", "کالا", "black"),
        ("ur", "kila", "fort"),
        ("ur", "قلعہ", "fort"),
        ("th", "เสาวรส", "passion fruit"),
    ]
    tr = QueryTranslator(entries)
    assert "กาแฟ" in tr.translations("kaaef", ["th"])
    assert "কফি" in tr.translations("kphi", ["bn"])
    assert "เสาวรส" in tr.translations("esawrs", ["th"])  # no romanised spelling: the letters' consonants
    assert "کالا" in tr.translations("kla", ["ur"])  # "kala" and "kila" share their consonants: the nearer wins
    assert "کالا" in tr.translations("kala", ["ur"]) and "قلعہ" not in tr.translations("kala", ["ur"])
    # the dense side is pulled towards the listings' own script for a romanised word, never to a Latin spelling
    assert tr.market_names("kaaef", ["th"]) == ["กาแฟ"]
    assert tr.market_names("kaaef", ["vi"]) == [] and tr.translations("kaaef", ["vi"]) == []  # the script's markets
    assert tr.english_phrases("kaaef") == []  # without a market there is no script to read it in
    assert QueryTranslator(entries, romanised=False).translations("kaaef", ["th"]) == []


def test_market_words_bring_their_synonyms_and_corrections_are_looked_up() -> None:
    entries = [
        *ENTRIES,
        ("vi", "giày thể thao", "running shoes"),
        ("vi", "vàng", "yellow"),
        ("vi", "vàng", "gold"),
        ("en", "yellow", "yellow"),
        ("en", "gold", "gold"),
    ]
    tr = QueryTranslator(entries)
    # a market word adds the market's other words for the same thing (the titles may use either), not itself
    assert tr.translations("giày chạy bộ đen", ["vi"]) == ["giày thể thao"]
    assert tr.translations("giày chạy bộ", ["id"]) == ["sepatu lari"]  # another market's word, too
    assert tr.translations("giay chay bo", ["vi"]) == ["giày thể thao"]  # typed without diacritics
    assert tr.translations("vàng", ["vi"]) == []  # "vàng" is yellow and gold: no synonym is safe
    assert QueryTranslator(entries, synonyms=False).translations("giày chạy bộ", ["vi"]) == []
    # the corrected query is looked up too: a misspelt market word still brings its synonyms
    assert tr.translations("giày chạy bộo", ["vi"], {"bộo": "bộ"}) == ["giày thể thao"]
    assert tr.translations("giày chạy bộo", ["vi"]) == []


def test_spellings_are_every_term_of_the_lexicon() -> None:
    spellings = QueryTranslator(ENTRIES).spellings()
    assert {"running shoes", "trainers", "giày chạy bộ", "giay chay bo", "รองเท้าวิ่ง", "sepatu lari"} <= set(spellings)
    assert len(spellings) == len(set(spellings))


def test_the_dense_side_gets_the_market_names_of_english_words() -> None:
    import numpy as np

    from app.query.expansion import with_market_names

    entries = [*ENTRIES, ("vi", "giày thể thao", "running shoes")]
    tr = QueryTranslator(entries, listing_names={("running shoes", "vi"): "giày thể thao"})
    # the name listings print, one per phrase and market, for the English words only (not for synonyms)
    assert tr.market_names("nike running shoes đen", ["vi", "en"]) == ["giày thể thao"]
    assert tr.market_names("giày chạy bộ black", ["vi"]) == ["đen"]
    assert tr.market_names("black running shoes", ["vi", "th"]) == ["đen", "giày thể thao", "รองเท้าวิ่ง"]
    assert tr.market_names("giày thể thao black", ["vi"]) == ["đen"]  # already typed
    assert tr.market_names("black running shoes", ["en"]) == []
    assert tr.market_names("black running shoes", None) == []
    # the query vector is pulled towards the names' mean direction, by NAME_WEIGHT, and stays unit length
    q, a, b = np.eye(4, dtype=np.float32)[:3]
    v = with_market_names(q, [a, b], weight=0.5)
    np.testing.assert_allclose(
        v, (q + 0.5 * (a + b) / np.sqrt(2)) / np.linalg.norm(q + 0.5 * (a + b) / np.sqrt(2)), atol=1e-6
    )
    assert abs(float(np.linalg.norm(with_market_names(q, [a]))) - 1) < 1e-6
    np.testing.assert_allclose(with_market_names(q, []), q)  # no names: the query as it was


def test_market_words_bring_their_english_spellings_when_english_listings_are_searched() -> None:
    tr = QueryTranslator(ENTRIES)
    # "giày chạy bộ đen" in Vietnam with the English listings: their words for it join the lexical query
    assert tr.translations("giày chạy bộ đen", ["vi", "en"]) == ["running shoes", "trainers", "black"]
    assert tr.translations("giày chạy bộ đen", ["en"]) == ["running shoes", "trainers", "black"]
    # words typed in English are not repeated; a mixed query gains the English of its market words only
    assert tr.translations("giày chạy bộ black", ["vi", "en"]) == ["đen", "running shoes", "trainers"]
    assert tr.translations("black running shoes", ["en"]) == []
    assert tr.translations("giày chạy bộ", ["vi"]) == []  # no English listings searched: nothing in English
    assert tr.translations("giày chạy bộ", None) == []
    # the real lexicon: a Thai fan in Thailand also looks for the English listings' fans
    assert {"electric fan", "fan"} <= set(default_translator().translations("พัดลม light blue", ["th", "en"]))
