"""Completions from listings: opening title phrases, brands and categories; folded and romanised prefixes."""

from __future__ import annotations

from app.query.suggest import Suggester

TOPS = {
    "Fashion": "áo thun",
    "Electronics": "sạc dự phòng",
    "Home": "nồi cơm điện",
    "Beauty": "son môi",
    "Toys": "xe đồ chơi",
    "Food": "bánh quy",
}


def _rows():
    rows = [
        {"language": "vi", "title": "Giày chạy bộ nam Nike", "brand": "Nike", "category": "Fashion > Shoes > Running"},
        {
            "language": "vi",
            "title": "Giày chạy bộ nữ Adidas",
            "brand": "Adidas",
            "category": "Fashion > Shoes > Running",
        },
        {"language": "vi", "title": "Giày da nam", "brand": "", "category": "Fashion > Shoes > Formal"},
        {"language": "th", "title": "หูฟังบลูทูธ สีดำ", "brand": "Sony", "category": "Electronics > Audio > Earbuds"},
        {
            "language": "en",
            "title": "Wireless earbuds black",
            "brand": "Sony",
            "category": "Electronics > Audio > Earbuds",
        },
    ]
    # "chính hãng" (genuine) opens titles in every top-level category: boilerplate, not a product
    rows += [
        {"language": "vi", "title": f"Chính hãng {name}", "brand": "", "category": f"{top} > Misc"}
        for top, name in TOPS.items()
    ]
    return rows


def test_prefixes_match_folded_and_at_word_starts():
    s = Suggester.from_payloads(_rows())
    texts = [c.text for c in s.suggest("giay chay", ["vi"])]
    assert texts[0] == "giày chạy bộ"  # two listings (the typed "giày chạy" itself is no completion)
    assert "giày chạy bộ nam" in texts and "giày da" not in texts
    assert any(c.text == "giày chạy bộ" for c in s.suggest("chay bo", ["vi"]))  # a word inside the phrase
    assert [c.text for c in s.suggest("runn")] == ["Running"] and s.suggest("runn")[0].kind == "category"
    assert s.suggest("son")[0].text == "Sony" and s.suggest("son")[0].count == 2


def test_market_languages_and_romanised_thai():
    s = Suggester.from_payloads(_rows())
    assert all(c.language in ("th", None) for c in s.suggest("wire", ["th"]))
    assert [c.text for c in s.suggest("wire", ["en"])][:1] == ["wireless earbuds"]
    assert any(c.text.startswith("หูฟัง") for c in s.suggest("หูฟัง", ["th"]))
    assert any(c.text.startswith("หูฟัง") for c in s.suggest("ufang", ["th"]))  # royin romanisation typed


def test_boilerplate_openings_are_skipped():
    s = Suggester.from_payloads(_rows())
    assert not s.suggest("chinh hang", ["vi"])  # dropped from the start of titles …
    assert [c.text for c in s.suggest("noi com", ["vi"])] == ["nồi cơm điện"]  # … what follows stays
    assert s.suggest("giày chạy", ["vi"])[0].text != "giày chạy"  # the typed text itself is no completion
