"""Cross-lingual lexical expansion: English (and romanised) product words in a query, looked up in the product
lexicon, add their market-language terms to the lexical side of the search.

A shopper in Vietnam who types "black vacuum cleaner" (or mixes "metal" into a Vietnamese query) is looking at a
catalogue mostly written "máy hút bụi đen". The dense side bridges the languages through Arca; the lexical side
matched only the English listings and brand names. Looking the English phrases up in the same hand-written lexicon
that Arca's gloss view reads (the other way round: market words → English) gives the lexical side the market's own
words for them. Only the lexical query grows: no extra encoder pass.

The lexicon covers the bundled catalogue's product types and attributes completely (the catalogue is generated
from it), so on that catalogue this is as good as the lexicon; a real catalogue needs a lexicon that covers its
own vocabulary (README, limitations).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from functools import lru_cache

from model.arca.views import ENGLISH_STOPWORDS, _tokens, fold, script_of
from model.lexical import OWN_SCRIPT_LANGUAGES

# bump when the expansion rules change (LaSR's cached training lists depend on them)
TRANSLATION_VERSION = "tr2"  # tr2: romanised Thai/Urdu/Bengali spellings are looked up too


class QueryTranslator:
    """Greedy longest match of English lexicon phrases (canonical names and English synonyms, folded) in a query;
    each match gives every spelling the lexicon has for it in the target languages."""

    def __init__(self, entries: Iterable[tuple[str, str, str]], romanised: bool = True) -> None:
        """``entries``: (language, term, English) as ``model.arca.data.lexicon_entries`` gives them. ``romanised``:
        the Latin spellings of Thai, Urdu and Bengali terms (how people type them: "rong thao wing", Roman Urdu,
        Banglish) are looked up too, after the English ones, so a romanised query gains the native-script terms its
        market's titles are written in."""
        self._english: dict[tuple[str, ...], str] = {}
        self._terms: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        romanised_keys: list[tuple[str, str]] = []
        for lang, term, english in entries:
            canonical = fold(english)
            if not canonical:
                continue
            for phrase in (canonical, fold(term)) if lang == "en" else (canonical,):
                self._add(phrase, canonical)
            if lang != "en":
                spellings = self._terms[canonical][lang]
                if term not in spellings:
                    spellings.append(term)
                if romanised and lang in OWN_SCRIPT_LANGUAGES and script_of(term) == "latin":
                    romanised_keys.append((fold(term), canonical))
        for phrase, canonical in romanised_keys:  # English spellings win a clash
            self._add(phrase, canonical)
        self._longest = max(map(len, self._english), default=0)

    def _add(self, phrase: str, canonical: str) -> None:
        key = tuple(_tokens(phrase))
        if key and not (len(key) == 1 and (key[0] in ENGLISH_STOPWORDS or len(key[0]) < 2)):
            self._english.setdefault(key, canonical)

    def english_phrases(self, text: str) -> list[str]:
        """The canonical English of the lexicon phrases in ``text``, longest match first, left to right."""
        tokens = _tokens(fold(text))
        found: list[str] = []
        i = 0
        while i < len(tokens):
            for n in range(min(self._longest, len(tokens) - i), 0, -1):
                canonical = self._english.get(tuple(tokens[i : i + n]))
                if canonical is not None:
                    if canonical not in found:
                        found.append(canonical)
                    i += n
                    break
            else:
                i += 1
        return found

    def translations(self, text: str, languages: Sequence[str] | None) -> list[str]:
        """Every spelling, in the non-English ``languages``, of the English lexicon phrases in ``text``; nothing
        without a market (``languages`` None or English only)."""
        targets = [lang for lang in languages or () if lang != "en"]
        if not targets:
            return []
        out: list[str] = []
        for canonical in self.english_phrases(text):
            for lang in targets:
                out.extend(t for t in self._terms.get(canonical, {}).get(lang, ()) if t not in out)
        return out


@lru_cache(maxsize=1)
def default_translator() -> QueryTranslator:
    from model.arca.data import lexicon_entries

    return QueryTranslator(lexicon_entries())
