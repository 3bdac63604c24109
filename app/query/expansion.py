"""Cross-lingual lexical expansion: English (and romanised) product words in a query, looked up in the product
lexicon, add their market-language terms to the lexical side of the search; the market's words add their English
names when the search includes the English listings.

A shopper in Vietnam who types "black vacuum cleaner" (or mixes "metal" into a Vietnamese query) is looking at a
catalogue mostly written "máy hút bụi đen". The dense side bridges the languages through Arca; the lexical side
matched only the English listings and brand names. Looking the English phrases up in the same hand-written lexicon
that Arca's gloss view reads (the other way round: market words → English) gives the lexical side the market's own
words for them. The other way round, "พัดลม light blue" searched in Thailand with the English listings beside the
Thai ones matched English listings on "blue" alone (a blue steam iron) and missed the English fans: the English
names of its market words ("electric fan", "fan", "stand fan", …) join the lexical query too. Only the lexical
query grows: no extra encoder pass.

The lexicon covers the bundled catalogue's product types and attributes completely (the catalogue is generated
from it), so on that catalogue this is as good as the lexicon; a real catalogue needs a lexicon that covers its
own vocabulary (README, limitations).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np

from app.query.romanised import RomanisedIndex
from app.query.spelling import corrected_text
from core.text import ENGLISH_STOPWORDS, OWN_SCRIPT_LANGUAGES, fold, script_of, split_words

# bump when the expansion rules change (LaSR's cached training lists depend on them)
TRANSLATION_VERSION = "tr7"  # tr2: romanised Thai/Urdu/Bengali spellings are looked up too; tr3: market-language
# synonyms, the query's spelling corrections are looked up too; tr4: the dense side is pulled towards the market's
# names for the query's English words; tr5: market words add their English spellings when English listings are searched;
# tr6: the index's mined vocabulary (indexer.vocabulary), romanised words also matched by their consonants; tr7: by
# consonant keys of the romanised and the letter-by-letter spellings, within one edit (app.query.romanised)


class QueryTranslator:
    """Greedy longest match of English lexicon phrases (canonical names and English synonyms, folded) in a query;
    each match gives every spelling the lexicon has for it in the target languages."""

    def __init__(
        self,
        entries: Iterable[tuple[str, str, str]],
        romanised: bool = True,
        synonyms: bool = True,
        listing_names: Mapping[tuple[str, str], str] | None = None,
    ) -> None:
        """``entries``: (language, term, English) as ``lexicon_entries``
        (model.training.arca.data) gives them. ``romanised``:
        the Latin spellings of Thai, Urdu and Bengali terms (how people type them: "rong thao wing", Roman Urdu,
        Banglish) are looked up too, after the English ones, so a romanised query gains the native-script terms its
        market's titles are written in. ``synonyms``: every other spelling is looked up last, so a market word
        gains the market's other words for the same thing ("کاغذ" → "اے فور پیپر": a shopper's word need not be
        the one the titles use); a spelling that names two different things ("vàng": yellow, gold) is left out.
        ``listing_names``: (canonical English, folded; language) → the name a listing prints (``market_names``);
        without one, a language's first spelling."""
        self._english: dict[tuple[str, ...], str] = {}
        self._listing_names = dict(listing_names or {})
        self._terms: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        romanised_keys: list[tuple[str, str, str]] = []  # (language, Latin spelling, canonical)
        native_terms: list[tuple[str, str, str]] = []  # (language, own-script term, canonical)
        synonym_keys: dict[str, set[str]] = defaultdict(set)
        self._canonical_spellings: list[str] = []
        self._english_spellings: dict[str, list[str]] = defaultdict(list)  # canonical → its English spellings
        for lang, term, english in entries:
            canonical = fold(english)
            if not canonical:
                continue
            for phrase in (canonical, fold(term)) if lang == "en" else (canonical,):
                self._add(phrase, canonical)
            if lang == "en":
                self._canonical_spellings.append(term)
                if term not in self._english_spellings[canonical]:
                    self._english_spellings[canonical].append(term)
            if lang != "en":
                spellings = self._terms[canonical][lang]
                if term not in spellings:
                    spellings.append(term)
                if lang in OWN_SCRIPT_LANGUAGES and script_of(term) == "latin":
                    if romanised:
                        romanised_keys.append((lang, fold(term), canonical))
                    continue
                if lang in OWN_SCRIPT_LANGUAGES:
                    native_terms.append((lang, term, canonical))
                if synonyms:
                    synonym_keys[fold(term)].add(canonical)
        self._from_english = frozenset(self._english)  # the keys so far are English phrases
        for _, phrase, canonical in romanised_keys:  # English spellings win a clash
            self._add(phrase, canonical)
        # a romanised word typed another way ("kphi", "kfy", "esawrs") is looked up by its consonants
        self._romanised: dict[str, RomanisedIndex] = defaultdict(RomanisedIndex)
        if romanised:
            for lang, phrase, canonical in romanised_keys:
                self._romanised[lang].add(canonical, phrase)
            for lang, term, canonical in native_terms:
                self._romanised[lang].add_native(canonical, term)
        self._from_romanised = frozenset(self._english) - self._from_english
        for phrase, canonicals in synonym_keys.items():  # then romanised ones
            if len(canonicals) == 1:
                self._add(phrase, next(iter(canonicals)))
        self._longest = max(map(len, self._english), default=0)

    def spellings(self) -> list[str]:
        """Every spelling the lexicon has, English included (a speller's vocabulary beside the titles')."""
        out = dict.fromkeys(self._canonical_spellings)
        for by_language in self._terms.values():
            for terms in by_language.values():
                out.update(dict.fromkeys(terms))
        return list(out)

    def _add(self, phrase: str, canonical: str) -> None:
        key = tuple(split_words(phrase))
        if key and not (len(key) == 1 and (key[0] in ENGLISH_STOPWORDS or len(key[0]) < 2)):
            self._english.setdefault(key, canonical)

    def listing_names(self) -> list[str]:
        """Every name ``market_names`` can give (what a service encodes once, ahead of the searches)."""
        return list(
            dict.fromkeys(
                self._market_name(canonical, lang)
                for canonical, by_language in self._terms.items()
                for lang in by_language
            )
        )

    def _market_name(self, canonical: str, lang: str) -> str:
        """The name a listing in ``lang`` prints for ``canonical``: ``listing_names``, else the first spelling (in
        the language's own script for Thai, Urdu and Bengali, whose listings are written in it)."""
        named = self._listing_names.get((canonical, lang))
        if named:
            return named
        spellings = self._terms[canonical][lang]
        if lang in OWN_SCRIPT_LANGUAGES:
            return next((t for t in spellings if script_of(t) != "latin"), spellings[0])
        return spellings[0]

    def english_phrases(self, text: str, english_only: bool = False) -> list[str]:
        """The canonical English of the lexicon phrases in ``text``, longest match first, left to right
        (``english_only``: of the phrases written in English)."""
        return list(dict.fromkeys(c for c, how in self._matches(text) if how == "english" or not english_only))

    def _matches(self, text: str, languages: Sequence[str] | None = None) -> list[tuple[str, str]]:
        """(canonical English, how it was written: "english", "romanised" or "market") of every lexicon phrase in
        ``text``, longest match first, left to right; then the Latin words that matched nothing are looked up by
        their consonants among the Thai, Urdu or Bengali terms of ``languages`` (``app.query.romanised``), so a guess
        never takes a word that is spelt as listed."""
        tokens = split_words(fold(text))
        phonetic = [self._romanised[lang] for lang in languages or () if lang in self._romanised]
        found: dict[int, tuple[str, str]] = {}  # first token → match
        taken = [False] * len(tokens)

        def scan(lookup: Callable[[tuple[str, ...]], tuple[str, str] | None]) -> None:
            i = 0
            while i < len(tokens):
                for n in range(min(self._longest, len(tokens) - i), 0, -1):
                    if any(taken[i : i + n]) or (match := lookup(tuple(tokens[i : i + n]))) is None:
                        continue
                    found[i] = match
                    taken[i : i + n] = [True] * n
                    i += n
                    break
                else:
                    i += 1

        def exact(key: tuple[str, ...]) -> tuple[str, str] | None:
            canonical = self._english.get(key)
            if canonical is None:
                return None
            return canonical, (
                "english" if key in self._from_english else "romanised" if key in self._from_romanised else "market"
            )

        def by_consonants(key: tuple[str, ...]) -> tuple[str, str] | None:
            if not all(t.isascii() and t.isalpha() for t in key):
                return None
            canonical = next((c for index in phonetic if (c := index.match(" ".join(key)))), None)
            return (canonical, "romanised") if canonical is not None else None

        scan(exact)
        if phonetic:
            scan(by_consonants)
        return [found[i] for i in sorted(found)]

    def market_names(self, text: str, languages: Sequence[str] | None) -> list[str]:
        """The name a listing in each non-English ``languages`` prints for each English phrase in ``text`` (the
        words a code-mixed or English query leaves untranslated), and in Thai, Urdu or Bengali for each romanised
        phrase (the script the listings are written in), unless the query already has it."""
        typed = fold(text)
        out: list[str] = []
        for canonical, how in dict.fromkeys(m for m in self._matches(text, languages) if m[1] != "market"):
            for lang in languages or ():
                if lang == "en" or not self._terms.get(canonical, {}).get(lang):
                    continue
                if how == "romanised" and lang not in OWN_SCRIPT_LANGUAGES:
                    continue
                name = self._market_name(canonical, lang)
                if name not in out and fold(name) not in typed:
                    out.append(name)
        return out

    def translations(
        self, text: str, languages: Sequence[str] | None, corrections: Mapping[str, str] | None = None
    ) -> list[str]:
        """Every spelling, in the non-English ``languages``, of the lexicon phrases in ``text`` and in its
        spelling-corrected form (``corrections``: ``Speller.corrections`` of it) that the query does not already
        contain; with English among ``languages``, also every English spelling of the phrases typed in another
        language (the English listings' words for them). Nothing without ``languages``."""
        if not languages:
            return []
        targets = [lang for lang in languages if lang != "en"]
        typed = fold(text)
        matches = self._matches(text, languages)
        phrases = list(dict.fromkeys(canonical for canonical, _ in matches))
        if corrections:
            phrases += [p for p in self.english_phrases(corrected_text(text, corrections)) if p not in phrases]
        out: list[str] = []
        for canonical in phrases:
            for lang in targets:
                spellings = self._terms.get(canonical, {}).get(lang, ())
                out.extend(t for t in spellings if t not in out and fold(t) not in typed)
        if "en" in languages and phrases:
            in_english = {canonical for canonical, how in matches if how == "english"}
            for canonical in phrases:
                if canonical not in in_english:
                    out.extend(
                        t
                        for t in self._english_spellings.get(canonical, [canonical])
                        if t not in out and fold(t) not in typed
                    )
        return out


NAME_WEIGHT = 0.5  # chosen on dev hybrid+LaSR nDCG@10 among 0.3, 0.5, 0.7, 1.0 (model card)


def with_market_names(vector: np.ndarray, names: Sequence[np.ndarray], weight: float = NAME_WEIGHT) -> np.ndarray:
    """The dense query of a search filtered to a market whose query has English product words: its vector pulled
    towards the mean direction of the (query-encoded) names the market's listings print for them
    (``QueryTranslator.market_names``; "h&m socks phụ nữ" → "tất"), unit length. Arca places a mixed or English
    query less surely than one in the catalogue's words; the names are short, few (the lexicon's), and their vectors
    are reused from query to query, so this costs no encoder pass once they are known."""
    out = np.asarray(vector, dtype=np.float32)
    if len(names):
        pull = np.sum(np.asarray(names, dtype=np.float32), axis=0)
        out = out + weight * pull / max(float(np.linalg.norm(pull)), 1e-12)
    return out / max(float(np.linalg.norm(out)), 1e-12)


@lru_cache(maxsize=1)
def _lexicon() -> tuple[list[tuple[str, str, str]], dict[tuple[str, str], str]]:
    """The hand-written product lexicon's entries and listing names (``data.lexicon``, loaded only when used)."""
    from data.lexicon import LANGUAGE_FORMS, load_lexicon
    from model.training.arca.data import lexicon_entries

    lex = load_lexicon()
    names = [t.names for t in lex.types] + [term.names for term in lex.attribute_terms()]
    listing_names = {
        (fold(n.canonical("en")), lang): n.canonical(lang) for n in names for lang in LANGUAGE_FORMS if lang != "en"
    }
    return lexicon_entries(), listing_names


@lru_cache(maxsize=1)
def default_translator() -> QueryTranslator:
    """The hand-written product lexicon's translator."""
    entries, listing_names = _lexicon()
    return QueryTranslator(entries, listing_names=listing_names)


def build_translator(catalogue: Iterable[tuple[str, str, str]] = (), lexicon: bool = False) -> QueryTranslator:
    """The translator of one index version: the catalogue's own mined vocabulary (``indexer.vocabulary``;
    (language, term, English), surest first), with the hand-written lexicon's entries before them when
    ``lexicon`` (its spellings then win a clash)."""
    catalogue = list(catalogue)
    if not lexicon:
        return QueryTranslator(catalogue)
    entries, listing_names = _lexicon()
    return QueryTranslator([*entries, *catalogue], listing_names=listing_names)
