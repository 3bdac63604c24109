"""Query spelling against the serving index's own words: a ``Speller`` built from the index's vocabulary (and the
product lexicon's, when on) adds, for a query word it has never seen (3+ letters, no digit), the most frequent
known word of 4+ letters one edit away (SymSpell, Damerau-OSA: "trắgn" → "trắng", "tabllet" → "tablet"); the
typed word stays too, so nothing is lost when it was right. A Thai run between spaces is also looked up whole
("สเีทา" → "สีเทา"): a typo inside one breaks the segmentation. The dense side uses the same corrections
(``dense_correction``): the corrected query is encoded too and the two directions averaged.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

from core.store.base import VectorStore
from core.text import OWN_SCRIPT_LANGUAGES, fold_token, script_of, thai_runs, tokenize

# bump when the speller's rules change (LaSR's cached training lists depend on them)
SPELLER_VERSION = "sp5"  # sp2: the dense side also encodes the corrected query; sp3: romanised by market too;
# sp4: Thai runs between spaces are corrected whole, and a correction adds its terms (a Thai run is several);
# sp5: 3-letter words are looked up too, and the lexicon's words are known and can be corrected to
SPELL_MIN_LEN = 4  # shortest indexed word a correction may give: dev nDCG@10 of hybrid+LaSR 80.2 without any, 80.59
# from 5 letters, 80.68 from 4; as a target, 3 letters lost more (dev figures in the model card)
SPELL_MIN_TYPED = 3  # shortest typed word looked up (a 4-letter word with a letter dropped: "phôg", "ڈمل")
SPELL_MAX_EDITS = 1
TEXT_FIELDS = ("title", "brand", "description")  # what Product.passage_text() is made of


class Speller:
    """Query-side spelling correction against an index's vocabulary (see the module docstring)."""

    def __init__(self, document_frequency: Mapping[str, int]) -> None:
        from symspellpy import SymSpell

        self._known = frozenset(document_frequency)
        self._sym = SymSpell(max_dictionary_edit_distance=SPELL_MAX_EDITS, prefix_length=7)
        for word, df in document_frequency.items():
            if _correctable(word, SPELL_MIN_LEN):
                self._sym.create_dictionary_entry(word, df)
        self.words = len(document_frequency)

    @classmethod
    def from_texts(cls, texts: Iterable[str], lexicon: Iterable[str] = ()) -> Speller:
        """The vocabulary of ``texts``: document frequency of every token and of its diacritic-folded form, and of
        every Thai run between spaces (``thai_runs``); plus the words of the ``lexicon``'s spellings (its
        ``QueryTranslator.spellings``: the words shoppers use beside the titles' own) with a frequency of 1, below
        any indexed word's."""
        df: Counter[str] = Counter()
        for text in texts:
            df.update(_vocabulary(text))
        for word in _lexicon_vocabulary(tuple(lexicon)) - df.keys():
            df[word] = 1
        return cls(df)

    @classmethod
    def from_store(cls, store: VectorStore, lexicon: Iterable[str] = ()) -> Speller:
        """The vocabulary of the serving index: the words of every product's title, brand and description (the
        text its lexical vector was made from), and of the ``lexicon``."""
        return cls.from_payloads(store.scan_payloads(TEXT_FIELDS), lexicon)

    @classmethod
    def from_payloads(cls, payloads: Iterable[dict], lexicon: Iterable[str] = ()) -> Speller:
        """``from_texts`` of the stored payloads' TEXT_FIELDS (what ``from_store`` scans)."""
        return cls.from_texts((" ".join(str(p.get(f) or "") for f in TEXT_FIELDS) for p in payloads), lexicon)

    def corrections(self, text: str) -> dict[str, str]:
        """``{typed word: indexed word}`` for the query's unknown words that have a correction."""
        from symspellpy import Verbosity

        out: dict[str, str] = {}
        runs = thai_runs(text)
        for word in [*tokenize(text), *runs]:
            if word in out or word in self._known or fold_token(word) in self._known:
                continue
            # PyThaiNLP's pieces of a misspelt run are fragments, not words: only whole runs go below 4 letters
            shortest = SPELL_MIN_LEN if word not in runs and script_of(word) == "thai" else SPELL_MIN_TYPED
            if not _correctable(word, shortest):
                continue
            for form in dict.fromkeys((word, fold_token(word))):
                found = self._sym.lookup(form, Verbosity.TOP, max_edit_distance=SPELL_MAX_EDITS, transfer_casing=False)
                if found:
                    out[word] = found[0].term
                    break
        return out


def _vocabulary(text: str) -> set[str]:
    words = set(tokenize(text))
    return words | {fold_token(w) for w in words} | set(thai_runs(text))


@lru_cache(maxsize=2)
def _lexicon_vocabulary(spellings: tuple[str, ...]) -> frozenset[str]:
    """``_vocabulary`` of a lexicon's spellings, once per process (it is the same for every index version's speller,
    and segmenting its Thai takes a second or so)."""
    return frozenset().union(*map(_vocabulary, spellings))


def corrected_text(text: str, corrections: Mapping[str, str]) -> str:
    """``text`` (NFC, as ``tokenize`` reads it) with each corrected word (as ``Speller.corrections`` found it, in
    lower case) replaced."""
    text = unicodedata.normalize("NFC", text)
    for typed, fixed in corrections.items():
        # a whole word where words are delimited; inside the run of letters for scripts without spaces (Thai)
        whole = re.compile(rf"(?<!\w){re.escape(typed)}(?!\w)", re.IGNORECASE)
        pattern = whole if whole.search(text) else re.compile(re.escape(typed), re.IGNORECASE)
        text = pattern.sub(lambda _, fixed=fixed: str(fixed), text)  # type: ignore[misc]
    return text


def dense_correction(
    text: str, corrections: Mapping[str, str], language: str | None, markets: Iterable[str] = ()
) -> str | None:
    """The corrected query the dense side encodes beside the query as typed (the two vectors are averaged:
    ``app.retrieval.hybrid.spelled_vector``), or None: no corrections, or a romanised query (see
    ``OWN_SCRIPT_LANGUAGES``): Latin script, and detected as one of those languages or searched in one of those
    markets (``markets``: the request's language filter). Dev, hybrid+LaSR nDCG@10: see the model card."""
    if not corrections:
        return None
    if script_of(text) == "latin" and ({language, *markets} & OWN_SCRIPT_LANGUAGES):
        return None
    fixed = corrected_text(text, corrections)
    return fixed if fixed != text else None


def _correctable(word: str, shortest: int) -> bool:
    return len(word) >= shortest and not any(ch.isdigit() for ch in word)
