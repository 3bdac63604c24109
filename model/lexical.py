"""Lexical sparse vectors for hybrid search, the way Qdrant does BM25: the document side carries BM25's
saturated term frequency, the query side a 1 per distinct term, and the engine applies IDF (``Modifier.Idf``)
from its own collection statistics; dense and lexical candidates are fused there with reciprocal rank fusion.

Terms come from ``model.bm25.tokenize`` (Thai segmented by PyThaiNLP, combining marks kept) plus:

* a diacritic-folded twin of every token that has diacritics ("giày" → also "giay"), so a Vietnamese query
  typed without diacritics still matches, while one typed with them matches twice (exact form scores higher);
* a joined pair for each token next to a token with a digit ("galaxy a54" → "galaxy_a54", "iphone 15" →
  "iphone_15"), so a typed model number outranks its neighbours (A54 over A34/A55, iPhone 15 over 14).

On the query side only, a ``Speller`` built from the serving index's own words (and the product lexicon's) adds,
for a query word it has never seen (3+ letters, no digit), the most frequent known word of 4+ letters one edit
away (SymSpell, Damerau-OSA:
"trắgn" → "trắng", "tabllet" → "tablet"); the typed word stays too, so nothing is lost when it was right. A Thai
run between spaces is also looked up whole ("สเีทา" → "สีเทา"): a typo inside one breaks the segmentation.
The dense side uses the same corrections (``dense_correction``): the corrected query is encoded too and the two
directions averaged.

Term ids are CRC32 of the UTF-8 term (Qdrant sparse indices are u32): no vocabulary file to keep in sync
between the indexer and the API, and collisions among our ~40k terms are a handful at most.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

import numpy as np

from core.store.base import Sparse, VectorStore
from model.bm25 import tokenize

# bump when the terms or weights change: it is part of the index version's data hash (a new index is built)
LEXICAL_VERSION = "lex1"
K1 = 1.2
B = 0.75
AVG_LEN = 40.0  # terms per product passage (title + brand + description) on the bundled catalogue, rounded


def _fold(token: str) -> str:
    """Strip combining marks of Latin letters (Vietnamese, Malay/Tagalog loanword accents); đ → d."""
    if token.isascii():
        return token
    decomposed = unicodedata.normalize("NFD", token.replace("đ", "d"))
    folded = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    # only Latin-script tokens are folded: marks are letters' vowels in Thai, Bengali and Urdu
    return unicodedata.normalize("NFC", folded) if folded.isascii() else token


def terms(text: str) -> list[str]:
    """The lexical terms of ``text`` (with repeats: term frequency matters on the document side)."""
    tokens = tokenize(text)
    out: list[str] = []
    for tok in tokens:
        out.append(tok)
        folded = _fold(tok)
        if folded != tok:
            out.append(folded)
    for a, b in zip(tokens, tokens[1:], strict=False):
        if any(ch.isdigit() for ch in a + b):
            out.append(f"{_fold(a)}_{_fold(b)}")
    return out


def term_id(term: str) -> int:
    return zlib.crc32(term.encode("utf-8"))


def _sparse(weights: dict[int, float]) -> Sparse:
    idx = np.fromiter(sorted(weights), dtype=np.uint32, count=len(weights))
    return Sparse(idx, np.array([weights[int(i)] for i in idx], dtype=np.float32))


def document_vector(text: str) -> Sparse:
    """BM25 document weights: tf·(k1+1) / (tf + k1·(1 − b + b·len/avg_len)); IDF comes from the engine."""
    return document_vector_of_terms(terms(text))


def document_vector_of_terms(found: Sequence[str]) -> Sparse:
    """``document_vector`` of a text whose ``terms`` are already known."""
    counts = Counter(term_id(t) for t in found)
    norm = K1 * (1 - B + B * len(found) / AVG_LEN)
    return _sparse({i: tf * (K1 + 1) / (tf + norm) for i, tf in counts.items()})


def query_vector(text: str, corrections: Mapping[str, str] | None = None, expansions: Sequence[str] = ()) -> Sparse:
    """1 per distinct query term (the engine multiplies in IDF), plus the terms of the indexed words of
    ``corrections`` (``Speller.corrections`` of the same text) and of ``expansions``
    (``QueryTranslator.translations``); empty when the query has no terms."""
    found = terms(text)
    for extra in [*(corrections or {}).values(), *expansions]:
        found += terms(extra)
    return _sparse(dict.fromkeys((term_id(t) for t in found), 1.0))


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
        payloads = store.scan_payloads(TEXT_FIELDS)
        return cls.from_texts((" ".join(str(p.get(f) or "") for f in TEXT_FIELDS) for p in payloads), lexicon)

    def corrections(self, text: str) -> dict[str, str]:
        """``{typed word: indexed word}`` for the query's unknown words that have a correction."""
        from symspellpy import Verbosity

        from model.arca.views import script_of

        out: dict[str, str] = {}
        runs = thai_runs(text)
        for word in [*tokenize(text), *runs]:
            if word in out or word in self._known or _fold(word) in self._known:
                continue
            # PyThaiNLP's pieces of a misspelt run are fragments, not words: only whole runs go below 4 letters
            shortest = SPELL_MIN_LEN if word not in runs and script_of(word) == "thai" else SPELL_MIN_TYPED
            if not _correctable(word, shortest):
                continue
            for form in dict.fromkeys((word, _fold(word))):
                found = self._sym.lookup(form, Verbosity.TOP, max_edit_distance=SPELL_MAX_EDITS, transfer_casing=False)
                if found:
                    out[word] = found[0].term
                    break
        return out


def _vocabulary(text: str) -> set[str]:
    words = set(tokenize(text))
    return words | {_fold(w) for w in words} | set(thai_runs(text))


@lru_cache(maxsize=2)
def _lexicon_vocabulary(spellings: tuple[str, ...]) -> frozenset[str]:
    """``_vocabulary`` of a lexicon's spellings, once per process (it is the same for every index version's speller,
    and segmenting its Thai takes a second or so)."""
    return frozenset().union(*map(_vocabulary, spellings))


# markets whose catalogue is written in its own script: a Latin-script query in one of them is romanised, and its
# unknown words are transliterations, which the index's vocabulary "corrects" into unrelated English look-alikes
# (Thai "thao" → "that"): the dense side does not take those (dev figures in the model card)
OWN_SCRIPT_LANGUAGES = frozenset({"th", "ur", "bn"})


def corrected_text(text: str, corrections: Mapping[str, str]) -> str:
    """``text`` (NFC, as ``tokenize`` reads it) with each corrected word (as ``Speller.corrections`` found it, in
    lower case) replaced."""
    text = unicodedata.normalize("NFC", text)
    for typed, fixed in corrections.items():
        # a whole word where words are delimited; inside the run of letters for scripts without spaces (Thai)
        whole = re.compile(rf"(?<!\w){re.escape(typed)}(?!\w)", re.IGNORECASE)
        pattern = whole if whole.search(text) else re.compile(re.escape(typed), re.IGNORECASE)
        text = pattern.sub(lambda _, fixed=fixed: fixed, text)
    return text


def dense_correction(text: str, corrections: Mapping[str, str], language: str | None,
                     markets: Iterable[str] = ()) -> str | None:
    """The corrected query the dense side encodes beside the query as typed (the two vectors are averaged:
    ``model.lasr.candidates.spelled_vector``), or None: no corrections, or a romanised query (see
    ``OWN_SCRIPT_LANGUAGES``): Latin script, and detected as one of those languages or searched in one of those
    markets (``markets``: the request's language filter). Dev, hybrid+LaSR nDCG@10: see the model card."""
    from model.arca.views import script_of

    if not corrections:
        return None
    if script_of(text) == "latin" and ({language, *markets} & OWN_SCRIPT_LANGUAGES):
        return None
    fixed = corrected_text(text, corrections)
    return fixed if fixed != text else None


def thai_runs(text: str) -> list[str]:
    """The Thai-script runs of ``text`` between spaces (NFC, lower case, as ``tokenize`` sees them). Thai writes a
    phrase without spaces, so a typo inside one ("หุ่นยน์ดูดฝุ่น", "สีีดำ") breaks PyThaiNLP's segmentation into
    fragments no word-level correction can repair, while the whole run is one edit from a run in the titles."""
    from model.arca.views import script_of

    return [run for run in unicodedata.normalize("NFC", text).lower().split() if script_of(run) == "thai"]


def _correctable(word: str, shortest: int) -> bool:
    return len(word) >= shortest and not any(ch.isdigit() for ch in word)
