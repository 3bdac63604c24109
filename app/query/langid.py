"""Query language detection, offline: the script first, then Lingua and the catalogue lexicon for Latin text.

* Thai, Bengali and Urdu (Arabic) script, and Vietnamese letters, give the language away (``guess_language``).
* Latin text is scored by Lingua (``lingua-language-detector``, a maintained offline detector; restricted to
  en/vi/id/ms/tl) plus a vote of the lexicon: the share of the query's words that are known spellings in a
  language, including the typed romanisations (Roman Urdu "joote", Banglish "juta", Thai in Latin letters) and
  diacritic-free Vietnamese, which Lingua does not know.
* Below ``min_confidence`` the answer is ``None`` (unknown): the reranker has an "unknown" language for that.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

from core.settings import LANGUAGES
from core.text import fold, guess_language, split_words
from model.arca.views import Glosser

LEXICON_WEIGHT = 2.0  # tuned on the dev queries (0.5-3): the lexicon knows product words Lingua does not
_LINGUA = {"en": "ENGLISH", "vi": "VIETNAMESE", "id": "INDONESIAN", "ms": "MALAY", "tl": "TAGALOG"}


@dataclass(frozen=True)
class Detection:
    language: str | None
    confidence: float
    method: str  # "given", "script", "lingua+lexicon" or "unknown"


class LanguageDetector:
    def __init__(self, glosser: Glosser | None = None, min_confidence: float = 0.4) -> None:
        self._glosser = glosser
        self.min_confidence = min_confidence
        self._lock = threading.Lock()

    @cached_property
    def glosser(self) -> Glosser:
        if self._glosser is None:
            from model.training.arca.data import lexicon_entries

            self._glosser = Glosser(lexicon_entries())
        return self._glosser

    @cached_property
    def lingua(self):
        from lingua import Language, LanguageDetectorBuilder

        langs = [getattr(Language, name) for name in _LINGUA.values()]
        return LanguageDetectorBuilder.from_languages(*langs).with_preloaded_language_models().build()

    def warm_up(self) -> None:
        self.detect("warm up the models")

    def lexicon_votes(self, text: str) -> dict[str, float]:
        """Per language, the share of the words that are spellings of that language in the lexicon."""
        words = [w for w in split_words(fold(text)) if w not in self.glosser.english_words]
        if not words:
            return {}
        votes: dict[str, float] = {}
        for w in words:
            options = self.glosser.plain.get(w) or self.glosser.plain.get(self.glosser.correct(w)) or {}
            for lang in options:
                votes[lang] = votes.get(lang, 0.0) + 1.0 / len(options)
        return {lang: v / len(words) for lang, v in votes.items()}

    def detect(self, text: str, given: str | None = None) -> Detection:
        if given:
            return Detection(given, 1.0, "given")
        by_script = guess_language(text)
        if by_script is not None:
            return Detection(by_script, 1.0, "script")
        with self._lock:  # Lingua's detector object is not documented as thread-safe
            values = self.lingua.compute_language_confidence_values(text)
        scores = {code: 0.0 for code in LANGUAGES}
        names = {v: k for k, v in _LINGUA.items()}
        for cv in values:
            scores[names[cv.language.name]] += cv.value
        english_share = self.glosser.english_share(text)
        scores["en"] = max(scores["en"], english_share)
        for lang, share in self.lexicon_votes(text).items():
            if lang in scores:
                scores[lang] += LEXICON_WEIGHT * share
        best = max(scores, key=lambda lang: scores[lang])
        total = sum(scores.values()) or 1.0
        confidence = scores[best] / total
        if scores[best] < self.min_confidence:
            return Detection(None, confidence, "unknown")
        return Detection(best, round(confidence, 3), "lingua+lexicon")


def main(argv: list[str] | None = None) -> None:
    """``python -m app.query.langid [--split dev]``: accuracy on the judged catalogue queries, per language and noise.
    The expected answer is the query's market language, except English for ``cross_lingual_en`` queries."""
    import argparse
    import json
    from collections import defaultdict

    from core.settings import get_settings

    parser = argparse.ArgumentParser(prog="python -m app.query.langid", description=main.__doc__)
    parser.add_argument("--split", choices=("train", "dev", "test"), default="dev")
    args = parser.parse_args(argv)
    path = get_settings().catalogue_path.parent / f"queries.{args.split}.jsonl"
    detector = LanguageDetector()
    right: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            q = json.loads(line)
            want = "en" if q["noise"] == "cross_lingual_en" else q["language"]
            ok = detector.detect(q["text"]).language == want
            for key in (q["language"], q["noise"], "all"):
                right[key][0] += ok
                right[key][1] += 1
    print(f"query language detection accuracy on {path.name}")
    for key, (hit, total) in right.items():
        print(f"  {key:<18} {100 * hit / total:5.1f} %  ({total} queries)")


if __name__ == "__main__":
    main()
