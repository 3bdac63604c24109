"""Query language detection: script, Vietnamese letters, Lingua + the lexicon for Latin text, unknown when unsure."""

from __future__ import annotations

import pytest

from app.query.langid import LanguageDetector


@pytest.fixture(scope="module")
def detector() -> LanguageDetector:
    return LanguageDetector()


@pytest.mark.parametrize(
    ("text", "language", "method"),
    [
        ("รองเท้าวิ่ง", "th", "script"),
        ("জুতা ছেলেদের", "bn", "script"),
        ("جوتے مردانہ", "ur", "script"),
        ("giày thể thao nữ", "vi", "script"),
        ("giay the thao nu", "vi", "lingua+lexicon"),  # no diacritics: the lexicon knows the plain spelling
        ("joote mardana", "ur", "lingua+lexicon"),  # Roman Urdu, which Lingua does not know
        ("kasut sukan wanita", "ms", "lingua+lexicon"),
        ("sepatu lari pria", "id", "lingua+lexicon"),
        ("sapatos na pambabae", "tl", "lingua+lexicon"),
        ("running shoes for men", "en", "lingua+lexicon"),
    ],
)
def test_detects_the_language(detector, text, language, method) -> None:
    got = detector.detect(text)
    assert (got.language, got.method) == (language, method)
    assert 0 < got.confidence <= 1


def test_a_given_language_wins_and_unsure_is_unknown(detector) -> None:
    assert detector.detect("giày thể thao", given="en").language == "en"
    unsure = detector.detect("Samsung A54")  # a brand and a model number say nothing about the language
    assert unsure.language is None and unsure.method == "unknown"
