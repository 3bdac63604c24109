"""Cross-lingual lexical expansion: English product words → the market's lexicon terms."""

from __future__ import annotations

from model.crosslingual import QueryTranslator, default_translator

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
    assert tr.translations("giày chạy bộ", ["vi", "en"]) == []  # already in the market's words
    assert tr.translations("black", ["ms"]) == []  # the lexicon has no Malay for it here


def test_the_product_lexicon_translates_shopper_english() -> None:
    tr = default_translator()
    vi = tr.translations("black vacuum cleaner", ["vi", "en"])
    assert "máy hút bụi" in vi and "đen" in vi
    assert any(t.startswith("বই") or "বই" in t for t in tr.translations("recipe book", ["bn"]))
    assert tr.translations("xiaomi", ["vi"]) == []  # brands are matched as typed


def test_romanised_spellings_bring_the_native_script_terms() -> None:
    entries = [*ENTRIES, ("th", "rong thao wing", "running shoes"), ("ur", "kala", "black"), ("ur", "کالا", "black"),
               ("th", "S", "S")]
    tr = QueryTranslator(entries)
    assert tr.translations("rong thao wing nike", ["th", "en"]) == ["รองเท้าวิ่ง", "rong thao wing"]
    assert "کالا" in tr.translations("kala joota", ["ur"])
    assert tr.english_phrases("size s") == []  # one-letter spellings are never keys
    assert QueryTranslator(entries, romanised=False).translations("rong thao wing", ["th"]) == []
