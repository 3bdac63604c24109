"""The bundled catalogue, its queries and the lexicon they come from, checked on the committed files."""

from __future__ import annotations

import hashlib
import shutil
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from core.catalogue import Product, read_catalogue
from core.settings import LANGUAGES
from data.generate import (
    CURRENCIES,
    DEFAULT_OUT,
    DEFAULT_SEED,
    MARKETS,
    NOISES_BY_MARKET,
    Query,
    fold,
    generate,
    strip_diacritics,
)
from data.lexicon import LEXICON_DIR, NAME_FORMS, TYPED_FORMS, LexiconError, load_lexicon, term_pairs

FILES = ("products.jsonl", "queries.train.jsonl", "queries.dev.jsonl", "queries.test.jsonl")
MIN_QUERIES = {"train": 600, "dev": 100, "test": 300}
NATIVE_SCRIPTS = ((0x0E00, 0x0E7F), (0x0600, 0x06FF), (0x0980, 0x09FF))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _has_native_script(text: str) -> bool:
    return any(lo <= ord(c) <= hi for c in text for lo, hi in NATIVE_SCRIPTS)


@pytest.fixture(scope="module")
def lexicon():
    return load_lexicon()


@pytest.fixture(scope="module")
def products() -> dict[str, Product]:
    report = read_catalogue(DEFAULT_OUT / "products.jsonl")
    assert report.errors == [], report.errors[:5]
    return {p.id: p for p in report.products}


@pytest.fixture(scope="module")
def queries() -> dict[str, list[Query]]:
    out = {}
    for split in MIN_QUERIES:
        lines = (DEFAULT_OUT / f"queries.{split}.jsonl").read_text(encoding="utf-8").splitlines()
        out[split] = [Query.model_validate_json(line) for line in lines]
    return out


# ---------------------------------------------------------------- lexicon


def test_lexicon_covers_enough_types_and_top_categories(lexicon):
    assert len(lexicon.types) >= 150
    assert len({t.top for t in lexicon.types}) >= 15
    assert all(len(t.path.split(" > ")) == 3 for t in lexicon.types)


def test_every_type_is_named_in_every_language_and_typed_form(lexicon):
    for t in lexicon.types:
        for form in NAME_FORMS:
            assert t.names.form(form), f"{t.key} has no {form} name"
        for form in TYPED_FORMS.values():
            assert all(n.isascii() for n in t.names.form(form)), f"{t.key} {form} is not typeable"
        assert all(strip_diacritics(n) == n for n in t.names.vi_plain), t.key


def test_attributes_are_translated(lexicon):
    assert len(lexicon.colours) >= 10
    assert len(lexicon.materials) >= 8
    assert set(lexicon.audiences) == {"men", "women", "kids", "baby", "unisex"}
    assert {"S", "M", "L", "XL", "free_size", "queen"} <= set(lexicon.sizes)
    assert {"ml", "g", "kg", "inch", "GB"} <= set(lexicon.units)
    for term in lexicon.attribute_terms():
        assert all(term.names.form(form) for form in NAME_FORMS), term.key


def test_relations_are_symmetric_and_never_both(lexicon):
    for t in lexicon.types:
        complements, substitutes = lexicon.complements_of(t.key), lexicon.substitutes_of(t.key)
        assert not set(complements) & set(substitutes), t.key
        assert all(t.key in lexicon.complements_of(other) for other in complements)
        assert all(t.key in lexicon.substitutes_of(other) for other in substitutes)
    assert "phone_case" in lexicon.complements_of("smartphone")
    assert "smartphone" in lexicon.complements_of("phone_case")
    assert "running_shoes" in lexicon.substitutes_of("sneakers")


def test_term_pairs_include_native_and_typed_forms():
    assert ("giày thể thao", "sneakers") in term_pairs("vi")
    assert ("giay the thao", "sneakers") in term_pairs("vi")
    assert ("rong thao wing", "running shoes") in term_pairs("th")
    assert ("mobile ka cover", "phone case") in term_pairs("ur")
    assert ("joote", "sneakers") in term_pairs("ur")
    assert ("mobile er cover", "phone case") in term_pairs("bn")
    assert ("sepatu lari", "running shoes") in term_pairs("id")
    assert ("hitam", "black") in term_pairs("ms")
    assert ("สแตนเลส", "stainless steel") in term_pairs("th")
    assert ("স্যামসাং", "Samsung") in term_pairs("bn")
    assert ("smartphone", "smartphone") in term_pairs("en")
    pairs = term_pairs("tl")
    assert pairs == sorted(set(pairs))
    with pytest.raises(ValueError):
        term_pairs("fr")


def _broken_copy(tmp_path: Path, file: str, old: str, new: str) -> Path:
    directory = tmp_path / "lexicon"
    shutil.copytree(LEXICON_DIR, directory, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    path = directory / file
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return directory


@pytest.mark.parametrize(
    ("file", "old", "new"),
    [
        ("types/mobile.yaml", "    bn_latn: [smartphone, mobile phone, mobile]\n", ""),  # a form missing
        ("types/mobile.yaml", "    th_latn: [smartphone, thorasap", "    th_latn: [สมาร์ทโฟน, thorasap"),  # not typeable
        ("types/mobile.yaml", "substitutes: [feature_phone, tablet]", "substitutes: [feature_phone, tablett]"),
        ("types/mobile.yaml", "    brands: phones\n", "    brands: phones\n    brands: tv\n"),  # duplicate key
        ("brands.yaml", "  tablets:\n", "  tablets:\n    Apple: [iPad Pro]\n"),  # duplicate brand in a group
        ("phrases.yaml", '    - "{type} {audience} {brand} {colour} {material}"', '    - "{type} {brand}"'),
    ],
)
def test_lexicon_rejects_inconsistent_yaml(tmp_path, file, old, new):
    with pytest.raises(LexiconError):
        load_lexicon(_broken_copy(tmp_path, file, old, new))


# ---------------------------------------------------------------- products


def test_products_per_language_and_currency(products):
    counts = Counter(p.language for p in products.values())
    assert all(counts[lang] >= 1500 for lang in LANGUAGES), counts
    for p in products.values():
        assert p.id.startswith(f"{p.language}-")
        assert p.currency == CURRENCIES[p.language][0]
        assert p.price > 0


def test_products_use_lexicon_categories_and_stock_every_type_in_english(products, lexicon):
    paths = {t.path for t in lexicon.types}
    assert {p.category for p in products.values()} <= paths
    assert {p.category for p in products.values() if p.language == "en"} == paths


def test_products_file_stays_small():
    assert (DEFAULT_OUT / "products.jsonl").stat().st_size < 8 * 1024 * 1024


def test_non_latin_titles_are_in_their_script(products):
    for p in products.values():
        if p.language in ("th", "ur", "bn"):
            assert _has_native_script(p.title), p.title


# ---------------------------------------------------------------- queries


def test_query_counts_and_unique_ids(queries):
    ids = [q.id for rows in queries.values() for q in rows]
    assert len(ids) == len(set(ids))
    for split, rows in queries.items():
        counts = Counter(q.language for q in rows)
        assert all(counts[m] >= MIN_QUERIES[split] for m in MARKETS), (split, counts)


def test_relevant_products_exist_in_the_market_or_english(queries, products):
    for rows in queries.values():
        for q in rows:
            assert 3 in q.relevant.values(), q.text
            for pid in q.relevant:
                assert pid in products, pid
                assert products[pid].language in (q.language, "en"), (q.id, pid)


def test_exact_matches_share_one_product_type(queries, products):
    for q in queries["test"]:
        exact = {products[pid].category for pid, grade in q.relevant.items() if grade == 3}
        complements = {products[pid].category for pid, grade in q.relevant.items() if grade == 1}
        assert len(exact) == 1, q.text
        assert exact.isdisjoint(complements), q.text


def test_test_and_dev_texts_never_appear_in_train(queries):
    train = {fold(q.text) for q in queries["train"]}
    assert not train & {fold(q.text) for q in queries["test"]}
    assert not train & {fold(q.text) for q in queries["dev"]}


def test_some_test_types_are_unseen_in_train(queries, products):
    def types(split: str) -> set[str]:
        return {products[pid].category for q in queries[split] for pid, g in q.relevant.items() if g == 3}

    unseen = types("test") - types("train")
    assert len(unseen) >= 10, unseen


def test_noise_types_are_spread_over_the_test_split(queries):
    by_market: dict[str, Counter[str]] = defaultdict(Counter)
    for q in queries["test"]:
        by_market[q.language][q.noise] += 1
    for market in MARKETS:
        counts = by_market[market]
        assert set(counts) == set(NOISES_BY_MARKET[market]), (market, counts)
        total = sum(counts.values())
        assert min(counts.values()) >= 0.15 * total, (market, counts)


def test_noise_looks_like_its_name(queries, lexicon):
    english = {f" {name.casefold()} " for name, _ in term_pairs("en", lexicon) if len(name) > 2}
    for rows in queries.values():
        for q in rows:
            if q.noise in ("no_diacritics", "romanized"):
                assert q.text.isascii(), q.text
            if q.noise == "cross_lingual_en":
                assert not _has_native_script(q.text), q.text
            if q.noise == "clean" and q.language in ("th", "ur", "bn"):
                assert _has_native_script(q.text), q.text
            if q.noise == "code_mixed":
                assert any(name in f" {q.text} " for name in english), q.text


# ---------------------------------------------------------------- reproducibility


def test_generator_is_byte_for_byte_reproducible(tmp_path):
    generate(tmp_path, DEFAULT_SEED)
    for name in FILES:
        assert _sha256(tmp_path / name) == _sha256(DEFAULT_OUT / name), f"{name} differs: regenerate the catalogue"
