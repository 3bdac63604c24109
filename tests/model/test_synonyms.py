"""Merchant synonym rules: parsing (errors name the line), matching, saving."""

from __future__ import annotations

import pytest

from app.query.synonyms import Synonyms, SynonymsError

RULES = """
# a comment
tivi, ti vi, television          # multi-way, every language
[vi]
laptop => máy tính xách tay      # one-way
[th]
ตู้เย็น, refrigerator
"""


def test_multi_way_one_way_and_sections() -> None:
    syn = Synonyms.parse(RULES)
    assert syn.counts() == {"all": 1, "vi": 1, "th": 1}
    assert syn.expansions("TIVI samsung", ["vi"]) == ["ti vi", "television"]  # case-insensitive, the others
    assert syn.expansions("laptop dell", ["vi", "en"]) == ["máy tính xách tay"]
    assert syn.expansions("máy tính xách tay", ["vi"]) == []  # one-way: not the reverse
    assert syn.expansions("laptop", ["th"]) == []  # a [vi] rule is for searches over Vietnamese listings
    assert syn.expansions("laptop", None) == ["máy tính xách tay"]  # no language filter: every section
    assert syn.expansions("refrigerator", ["th"]) == ["ตู้เย็น"]


def test_longest_match_diacritics_and_terms_already_typed() -> None:
    syn = Synonyms.parse("[vi]\náo, shirt\náo khoác, jacket\n")
    assert syn.expansions("ao khoac nam", ["vi"]) == ["jacket"]  # the longer rule wins, typed without diacritics
    assert syn.expansions("áo shirt", ["vi"]) == []  # both sides already in the query
    assert Synonyms().expansions("anything", None) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a, b\n[xx]\nc, d", "line 2: unknown language 'xx'"),
        ("lonely", "line 1: a multi-way rule needs at least two"),
        ("a => ", "line 1: a one-way rule needs terms on both sides"),
        ("a => b => c", "line 1: more than one '=>'"),
        ("\n\n[vi\n", "line 3: a section header looks like"),
        ("a, !!!", "line 1: a term has no word in it"),
    ],
)
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(SynonymsError, match="^" + message.replace("(", r"\(").replace("[", r"\[")):
        Synonyms.parse(text)


def test_save_and_load_round_trip(tmp_path) -> None:
    path = tmp_path / "rules" / "synonyms.txt"
    Synonyms.parse(RULES).save(path)
    assert Synonyms.load(path).source == RULES
    assert [p.name for p in path.parent.iterdir()] == ["synonyms.txt"]  # no temporary file left behind
    assert Synonyms.load(None).rules == []
    path.write_text("a\n", encoding="utf-8")
    with pytest.raises(SynonymsError, match="synonyms.txt: line 1"):
        Synonyms.load(path)


def test_the_lexicon_exports_as_rules_the_service_reads() -> None:
    from data.lexicon.synonyms import synonyms_text

    entries = [
        ("en", "sneakers", "running shoes"),
        ("vi", "giày chạy bộ", "running shoes"),
        ("vi", "giay chay bo", "running shoes"),
        ("vi", "vàng", "yellow"),
        ("vi", "vàng", "gold"),
        ("vi", "màu vàng", "yellow"),
        ("th", "รองเท้าวิ่ง", "running shoes"),
    ]
    syn = Synonyms.parse(synonyms_text(entries))
    assert syn.counts() == {"vi": 2, "th": 1}
    # the spelling with diacritics is already typed, as far as the (folding) lexical side is concerned
    assert syn.expansions("giay chay bo nam", ["vi"]) == ["running shoes", "sneakers"]
    assert syn.expansions("running shoes", ["th", "en"]) == ["sneakers", "รองเท้าวิ่ง"]
    assert syn.expansions("vàng", ["vi"]) == []  # names two things: left out, as the translator leaves it out
    assert syn.expansions("màu vàng", ["vi"]) == ["yellow"]
